"""The Melio vendor directory, indexed for resolution: exact identifier maps plus arrays for fuzzy names.

Built once per scoring run (10,000 vendors take milliseconds); what people taught Well (pins and approvals)
is folded in as known names and known IBANs per vendor.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from well_pipeline.core.matching.normalize import (
    NameKey,
    email_domain,
    iban_is_valid,
    normalize_iban,
    normalize_name,
    normalize_vat,
)


@dataclass(frozen=True)
class VendorProfile:
    """A Melio vendor as the matcher sees it (from `melio/vendors.csv`)."""

    vendor_id: str
    company_name: str
    iban: str | None = None
    vat_number: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class LearnedLink:
    """This supplier name and/or IBAN belongs to `vendor_id`.

    `confirmed` links come from a person (a pin or an approval) and count as strong evidence; unconfirmed ones
    come from invoices already linked to the vendor and only make an IBAN "usual" for it (a different IBAN
    then reads as a bank-detail change).
    """

    vendor_id: str
    supplier_name: str | None = None
    iban: str | None = None
    confirmed: bool = True


@dataclass(frozen=True)
class IndexedVendor:
    position: int
    profile: VendorProfile
    name: NameKey
    iban: str | None
    vat: str | None
    domain: str | None


@dataclass
class VendorIndex:
    vendors: list[IndexedVendor]
    by_iban: dict[str, list[int]] = field(default_factory=dict)
    by_vat: dict[str, list[int]] = field(default_factory=dict)
    by_domain: dict[str, list[int]] = field(default_factory=dict)
    by_name: dict[str, list[int]] = field(default_factory=dict)
    learned_names: dict[str, set[int]] = field(default_factory=dict)
    learned_ibans: dict[str, set[int]] = field(default_factory=dict)
    by_id: dict[str, int] = field(default_factory=dict)
    # IBANs a person confirmed for a vendor (pins, approvals): as strong as the directory's own IBAN.
    known_ibans: dict[int, set[str]] = field(default_factory=dict)
    # IBANs seen on the vendor's earlier or concurrent invoices: weak evidence, but any other IBAN is a change.
    observed_ibans: dict[int, set[str]] = field(default_factory=dict)

    def ibans_of(self, position: int) -> set[str]:
        """Every IBAN the vendor is known to use (directory, confirmed, observed)."""
        vendor = self.vendors[position]
        known = set(self.known_ibans.get(position, ())) | set(self.observed_ibans.get(position, ()))
        if vendor.iban:
            known.add(vendor.iban)
        return known

    def has_any_iban(self, position: int) -> bool:
        return bool(self.vendors[position].iban or self.known_ibans.get(position) or self.observed_ibans.get(position))

    def observe_iban(self, position: int, iban: str) -> bool:
        """Record an IBAN seen on the vendor's invoices; True when it was new."""
        observed = self.observed_ibans.setdefault(position, set())
        if iban in observed:
            return False
        observed.add(iban)
        return True

    @property
    def name_keys(self) -> list[str]:
        return [v.name.key for v in self.vendors]

    @property
    def sorted_name_keys(self) -> list[str]:
        return [v.name.sorted_key for v in self.vendors]

    def __len__(self) -> int:
        return len(self.vendors)

    @classmethod
    def build(cls, vendors: Iterable[VendorProfile], learned: Iterable[LearnedLink] = ()) -> VendorIndex:
        indexed: list[IndexedVendor] = []
        by_iban: dict[str, list[int]] = defaultdict(list)
        by_vat: dict[str, list[int]] = defaultdict(list)
        by_domain: dict[str, list[int]] = defaultdict(list)
        by_name: dict[str, list[int]] = defaultdict(list)
        by_id: dict[str, int] = {}
        for profile in vendors:
            if profile.vendor_id in by_id:
                continue  # the reader reports duplicate ids; the first one wins here too
            position = len(indexed)
            iban = normalize_iban(profile.iban)
            iban = iban if iban_is_valid(iban) else None
            entry = IndexedVendor(position, profile, normalize_name(profile.company_name), iban,
                                  normalize_vat(profile.vat_number), email_domain(profile.email))
            indexed.append(entry)
            by_id[profile.vendor_id] = position
            if entry.iban:
                by_iban[entry.iban].append(position)
            if entry.vat:
                by_vat[entry.vat].append(position)
            if entry.domain:
                by_domain[entry.domain].append(position)
            if entry.name.key:
                by_name[entry.name.key].append(position)
                if entry.name.sorted_key != entry.name.key:
                    by_name[entry.name.sorted_key].append(position)
        learned_names: dict[str, set[int]] = defaultdict(set)
        learned_ibans: dict[str, set[int]] = defaultdict(set)
        known_ibans: dict[int, set[str]] = defaultdict(set)
        observed_ibans: dict[int, set[str]] = defaultdict(set)
        for link in learned:
            position = by_id.get(link.vendor_id)
            if position is None:
                continue
            key = normalize_name(link.supplier_name).key
            if key and link.confirmed:
                learned_names[key].add(position)
            iban = normalize_iban(link.iban)
            if iban and iban_is_valid(iban):
                if link.confirmed:
                    learned_ibans[iban].add(position)
                    known_ibans[position].add(iban)
                else:
                    observed_ibans[position].add(iban)
        return cls(indexed, dict(by_iban), dict(by_vat), dict(by_domain), dict(by_name), dict(learned_names),
                   dict(learned_ibans), by_id, dict(known_ibans), dict(observed_ibans))

    def positions_for_ids(self, vendor_ids: Sequence[str]) -> list[int]:
        return [self.by_id[v] for v in vendor_ids if v in self.by_id]
