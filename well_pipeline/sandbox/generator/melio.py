"""The Melio side of the sandbox: the vendor directory and the bill ledger, as CSV files.

Melio documents no export format (reference melio-and-peers.md §A.4), so these columns are our own contract
(docs/CONTRACTS.md "Dataset directory"): `vendors.csv` is what the matcher scores against, `bills.csv` is
the ledger a backfill checks so it does not create a bill Melio already has. Dates are ISO `YYYY-MM-DD`,
amounts plain decimals with two places, empty string for a missing optional value.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable
from dataclasses import astuple, dataclass
from datetime import date, timedelta
from pathlib import Path

from .amounts import draw_amounts
from .vendors import Vendor

VENDOR_COLUMNS = ("company_name", "vendor_id", "email", "iban", "vat_number")
BILL_COLUMNS = ("bill_id", "company_name", "invoice_number", "invoice_date", "due_date", "amount", "currency", "status")
# Melio's bill states as shown in its UI; the exact export spelling is UNCONFIRMED.
BILL_STATUSES = ("unpaid", "scheduled", "paid")


@dataclass(frozen=True)
class MelioBill:
    """One row of `melio/bills.csv`."""

    bill_id: str
    company_name: str
    invoice_number: str
    invoice_date: str
    due_date: str
    amount: str
    currency: str
    status: str


def bill_id(sequence: int) -> str:
    """Melio-side bill identifier (our own format: the real one is opaque)."""
    return f"MB-{sequence:07d}"


def write_vendors_csv(path: Path, vendors: Iterable[Vendor]) -> int:
    """Write the directory (only vendors Melio knows), sorted by name as a UI export would be; returns rows."""
    rows = sorted(
        ((v.melio_name, v.vendor_id, v.melio_email, v.melio_iban, v.melio_vat) for v in vendors if v.in_melio),
        key=lambda r: (r[0].casefold(), r[1]),
    )
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(VENDOR_COLUMNS)
        writer.writerows(rows)
    return len(rows)


def write_bills_csv(path: Path, bills: Iterable[MelioBill]) -> int:
    """Write the ledger in bill_id order; returns rows."""
    ordered = sorted(bills, key=lambda b: b.bill_id)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(BILL_COLUMNS)
        writer.writerows(astuple(b) for b in ordered)
    return len(ordered)


def build_old_bills(
    rng: random.Random, vendors: list[Vendor], cum_weights: list[float], window_start: date, count: int
) -> list[MelioBill]:
    """Bills entered in Melio before the generated Qonto window: unrelated to any Qonto invoice.

    Must run before any Qonto invoice number is issued. Old bills take numbers from each vendor's sequence
    *below* the first Qonto number (the vendor's sequence is moved up when it has more old bills than room),
    so they never collide with a generated invoice: a false "already in ledger" would poison the truth file.
    Bill ids follow invoice dates, as if entered chronologically.
    """
    known = [v for v in vendors if v.in_melio]
    if not known or count <= 0:
        return []
    drafts: list[tuple[date, Vendor]] = []
    for _ in range(count):
        vendor = rng.choices(vendors, cum_weights=cum_weights)[0]
        if not vendor.in_melio:
            vendor = rng.choice(known)
        drafts.append((window_start - timedelta(days=rng.randint(1, 540)), vendor))
    per_vendor: dict[str, int] = {}
    for _, vendor in drafts:
        per_vendor[vendor.vendor_id] = per_vendor.get(vendor.vendor_id, 0) + 1
    for vendor in known:
        needed = per_vendor.get(vendor.vendor_id, 0)
        if needed >= vendor.first_seq:
            vendor.first_seq = vendor.next_seq = needed + rng.randint(2, 200)
    # Newest first, so the most recent old bill gets the number just below the first Qonto invoice.
    drafts.sort(key=lambda d: (d[0], d[1].vendor_id), reverse=True)
    rows: list[tuple[date, str, str, MelioBill]] = []
    for issue, vendor in drafts:
        number = vendor.old_number(issue.year, issue.month)
        amounts = draw_amounts(rng, vendor)
        due = issue + timedelta(days=vendor.terms_days)
        status = "paid" if rng.random() < 0.93 else rng.choice(("unpaid", "scheduled"))
        bill = MelioBill("", vendor.melio_name, number, issue.isoformat(), due.isoformat(), f"{amounts.total:.2f}",
                         amounts.currency, status)
        rows.append((issue, vendor.vendor_id, number, bill))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return [MelioBill(bill_id(i + 1), *astuple(r[3])[1:]) for i, r in enumerate(rows)]
