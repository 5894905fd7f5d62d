"""The Melio vendor directory, indexed for resolution: exact identifier maps plus arrays for fuzzy names.

Built once per scoring run (10,000 vendors take milliseconds). What Well learned from confirmed records
(approved, pinned or delivered) is folded in as known names, IBANs and Qonto supplier ids per vendor, each with
the records it came from, so that a record is never its own evidence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
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
    conflict: str | None = None   # the export disagrees with itself on this vendor's identifiers


@dataclass(frozen=True)
class LearnedLink:
    """What an earlier Qonto record (`source_id`) taught about `vendor_id`: its supplier name, IBAN, Qonto supplier id.

    `confirmed` links come from records a person approved or pinned, or that Well delivered: positive evidence
    (KNOWN_NAME, KNOWN_IBAN, KNOWN_SUPPLIER_ID). Unconfirmed links come from other records merely resolved to
    the vendor: they never add weight, they only reveal a *different* IBAN (a possible bank-detail change).
    A fact is only evidence for records *other* than its sources, so an invoice never corroborates itself.
    """

    vendor_id: str
    supplier_name: str | None = None
    iban: str | None = None
    confirmed: bool = True
    supplier_id: str | None = None
    source_id: str | None = None    # the Qonto record it was learned from (None: a source outside Qonto)


# A learned fact: which vendor positions it points at, and the Qonto records it was learned from.
Sources = dict[int, set[str]]
_OUTSIDE = ""   # a source that is no Qonto record (always counts)


def count_other(sources: set[str] | None, exclude: str | None) -> int:
    """How many sources remain once the record under scoring is left out."""
    if not sources:
        return 0
    return len(sources) - (1 if exclude is not None and exclude in sources else 0)


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
    by_id: dict[str, int] = field(default_factory=dict)
    # Name tokens -> vendors whose name holds them: finds "Orange Business Services" for the trade name "Orange".
    by_token: dict[str, list[int]] = field(default_factory=dict)
    # Confirmed facts (approvals, pins, deliveries): key -> vendor position -> source record ids.
    learned_names: dict[str, Sources] = field(default_factory=dict)
    learned_ibans: dict[str, Sources] = field(default_factory=dict)
    learned_supplier_ids: dict[str, Sources] = field(default_factory=dict)
    # Per vendor: confirmed IBANs (with their sources), and IBANs merely seen on its other records (count).
    known_ibans: dict[int, dict[str, set[str]]] = field(default_factory=dict)
    observed_ibans: dict[int, dict[str, int]] = field(default_factory=dict)
    # Every record some confirmed fact was learned from (their own scoring must leave those facts out).
    source_ids: set[str] = field(default_factory=set)

    def verified_ibans(self, position: int, exclude: str | None = None) -> set[str]:
        """IBANs a person or a delivery verified for the vendor, plus Melio's own, leaving `exclude` out."""
        verified = {iban for iban, sources in self.known_ibans.get(position, {}).items()
                    if count_other(sources, exclude)}
        if self.vendors[position].iban:
            verified.add(self.vendors[position].iban)
        return verified

    def has_verified_iban(self, position: int, exclude: str | None = None) -> bool:
        if self.vendors[position].iban:
            return True
        known = self.known_ibans.get(position)
        return bool(known) and any(count_other(sources, exclude) for sources in known.values())

    def has_any_iban(self, position: int) -> bool:
        return bool(self.vendors[position].iban or self.known_ibans.get(position) or self.observed_ibans.get(position))

    def observe_iban(self, position: int, iban: str, count: int = 1) -> None:
        """Record `count` other records of the vendor carrying `iban` (negative evidence only)."""
        seen = self.observed_ibans.setdefault(position, {})
        seen[iban] = seen.get(iban, 0) + count

    @property
    def name_keys(self) -> list[str]:
        return [v.name.key for v in self.vendors]

    @property
    def sorted_name_keys(self) -> list[str]:
        return [v.name.sorted_key for v in self.vendors]

    def __len__(self) -> int:
        return len(self.vendors)

    @classmethod
    def build(cls, vendors: Iterable[VendorProfile], learned: Iterable[LearnedLink] = (),
              observed: Iterable[tuple[str, str, int]] = ()) -> VendorIndex:
        """`learned`: confirmed facts; `observed`: (vendor_id, IBAN, count) seen on other records of the vendor."""
        indexed: list[IndexedVendor] = []
        by_iban: dict[str, list[int]] = defaultdict(list)
        by_vat: dict[str, list[int]] = defaultdict(list)
        by_domain: dict[str, list[int]] = defaultdict(list)
        by_name: dict[str, list[int]] = defaultdict(list)
        by_token: dict[str, list[int]] = defaultdict(list)
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
                for token in dict.fromkeys(entry.name.tokens):
                    by_token[token].append(position)
        index = cls(indexed, dict(by_iban), dict(by_vat), dict(by_domain), dict(by_name), by_id, dict(by_token))
        for link in learned:
            index.learn(link)
        for vendor_id, iban, count in observed:
            position = by_id.get(vendor_id)
            value = normalize_iban(iban)
            if position is not None and value and iban_is_valid(value):
                index.observe_iban(position, value, count)
        return index

    def learn(self, link: LearnedLink) -> None:
        position = self.by_id.get(link.vendor_id)
        if position is None:
            return
        source = link.source_id or _OUTSIDE
        iban = normalize_iban(link.iban)
        iban = iban if iban and iban_is_valid(iban) else None
        if not link.confirmed:
            if iban:
                self.observe_iban(position, iban)
            return
        if link.source_id:
            self.source_ids.add(link.source_id)
        key = normalize_name(link.supplier_name).key
        if key:
            self.learned_names.setdefault(key, {}).setdefault(position, set()).add(source)
        if iban:
            self.learned_ibans.setdefault(iban, {}).setdefault(position, set()).add(source)
            self.known_ibans.setdefault(position, {}).setdefault(iban, set()).add(source)
        supplier_id = (link.supplier_id or "").strip()
        if supplier_id:
            self.learned_supplier_ids.setdefault(supplier_id, {}).setdefault(position, set()).add(source)
