"""The Melio ledger, indexed by (vendor, invoice number): an invoice already there is never sent again.

Ledger rows carry a company name, not a vendor id, so each bill is attached to the vendor whose normalised name
matches exactly and uniquely; bills that match no single vendor stay reachable by their normalised name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from well_pipeline.core.matching.normalize import normalize_invoice_number, normalize_name
from well_pipeline.core.matching.vendor_index import VendorIndex
from well_pipeline.core.scoring.model import LedgerBill


@dataclass
class LedgerIndex:
    by_vendor: dict[tuple[str, str], str] = field(default_factory=dict)
    by_name: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def build(cls, bills: Iterable[LedgerBill], vendors: VendorIndex) -> LedgerIndex:
        index = cls()
        for bill in bills:
            number = normalize_invoice_number(bill.invoice_number)
            if not number:
                continue
            name = normalize_name(bill.company_name)
            vendor_id = bill.vendor_id
            if vendor_id is None and name.key:
                positions = set(vendors.by_name.get(name.key, ()))
                if len(positions) == 1:
                    vendor_id = vendors.vendors[positions.pop()].profile.vendor_id
            if vendor_id:
                index.by_vendor.setdefault((vendor_id, number), bill.bill_id)
            if name.key:
                index.by_name.setdefault((name.key, number), bill.bill_id)
        return index

    def find(self, vendor_id: str | None, vendor_name: str | None, supplier_name: str | None,
             invoice_number: str | None) -> str | None:
        """The Melio bill this invoice already is, if any (same vendor, or same name, and same number)."""
        number = normalize_invoice_number(invoice_number)
        if not number:
            return None
        if vendor_id and (vendor_id, number) in self.by_vendor:
            return self.by_vendor[(vendor_id, number)]
        for name in (vendor_name, supplier_name):
            key = normalize_name(name).key
            if key and (key, number) in self.by_name:
                return self.by_name[(key, number)]
        return None
