"""Build one Qonto supplier-invoice record, its document and its ground truth.

The record has exactly the fields of `well_pipeline_tests/support/qonto_records.make_invoice` (the shape the
client and sandbox are written against), with Qonto's conventions: decimal-string amounts, `YYYY-MM-DD`
business dates, RFC 3339 timestamps in either the `+01:00/+02:00` or the `...123Z` spelling, OCR fields that
are null more often while an invoice is still `to_review`.

The *document* always shows the true values (the paper invoice is right; OCR is what fails), so a capture
sandbox reading the attachment and the truth file agree even when the Qonto record has nulls.

Qonto's additional fields (supplier_id, issuer_name, payment evidence, e-invoicing events, available
actions) are filled here from the record's own status and data; their shapes live in qonto_fields.py.
"""

from __future__ import annotations

import bisect
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from . import identifiers as ids
from . import qonto_fields
from .amounts import Amounts, draw_amounts, money
from .documents.spec import DocumentSpec, Line
from .melio import MelioBill, bill_id
from .organization import Organization
from .plan import RECENT_DAYS, Special
from .timefmt import MS_PER_DAY, MS_PER_HOUR, MS_PER_MIN, MS_PER_S, format_paris, format_z, paris_date
from .translit import slug
from .truth import InvoiceFacts
from .variants import make_variant
from .vendors import Vendor

_STATUS_RECENT = (("to_review", 45), ("to_approve", 14), ("awaiting_payment", 18), ("pending", 5),
                  ("scheduled", 9), ("paid", 6), ("rejected", 1.5), ("discarded", 1.5))
_STATUS_OLD = (("paid", 62), ("archived", 14), ("to_review", 5), ("to_approve", 2), ("awaiting_payment", 4),
               ("pending", 1), ("scheduled", 2), ("rejected", 5), ("discarded", 5))
# Probability that OCR leaves a field null, by review state (to_review documents are often half-read).
_NULLS_TO_REVIEW = {"supplier_name": 0.06, "invoice_number": 0.08, "total_amount": 0.05, "due_date": 0.15,
                    "iban": 0.10, "vat_number": 0.35}
_NULLS_OTHER = {"supplier_name": 0.01, "invoice_number": 0.015, "total_amount": 0.005, "due_date": 0.05,
                "iban": 0.03, "vat_number": 0.30}
_SOURCES = ((("email", "email_forward"), 45), (("direct_upload", "generic_upload"), 25),
            (("direct_upload", "supplier_invoices"), 10), (("direct_upload", "transaction_attachment"), 8),
            (("direct_upload", "integration"), 4), (("direct_upload", "pay_by_invoice"), 3),
            (("e_invoicing", "e_invoicing"), 5))
_DECLINED_NOTES = ("Wrong amount", "Already paid by card", "Not our order", "Duplicate of an earlier invoice",
                   "Please reissue with our VAT number", "Service cancelled")
_ITEMS = ("Consulting services", "Maintenance contract", "Office supplies", "Software subscription",
          "Transport and delivery", "Printing", "Cleaning services", "Installation work", "Hardware",
          "Travel expenses", "Training session", "Hosting", "Spare parts", "Catering", "Legal advice")
_TITLES = {"FR": "FACTURE", "DE": "RECHNUNG", "ES": "FACTURA", "IT": "FATTURA", "NL": "FACTUUR", "PT": "FATURA",
           "BE": "FACTURE / FACTUUR"}
_NON_FINANCIAL = (("DELIVERY NOTE", "Delivery note", "DN"), ("TERMS AND CONDITIONS", "Terms and conditions", "TC"),
                  ("PRICE LIST", "Price list", "PL"), ("LETTER", "Letter", "LT"))
_HISTORY = 3000
_RECENT_HISTORY = 300
_VENDOR_RECENT = 5  # a credit note credits one of the vendor's last few invoices
# Probability that Qonto linked the record to its supplier record (`supplier_id`): structured e-invoices
# almost always, documents still in review less often than processed ones. ~65% of records overall.
_SUPPLIER_ID_EINVOICE = 0.97
_SUPPLIER_ID_TO_REVIEW = 0.45
_SUPPLIER_ID_OTHER = 0.67
_SECOND_SUPPLIER_ID = 0.4  # share of a duplicated supplier's records linked to the duplicate
_ODD_DETAILS = frozenset({"oversized", "heic", "txt"})


@dataclass
class BuiltInvoice:
    """Everything the dataset writer needs for one invoice."""

    record: dict[str, Any]
    facts: InvoiceFacts
    vendor: Vendor
    variant_ops: tuple[str, ...]
    document: DocumentSpec
    doc_format: str  # pdf | jpg | png | heic | txt
    pad_bytes: int
    ledger_bill: MelioBill | None
    melio_bill_id: str
    document_truth: dict[str, str] = field(default_factory=dict)


# What a later credit note needs of an invoice: (qonto_id, printed number, attachment_id, file_name, net, taxes,
# total, currency). A plain tuple of strings and Decimals on purpose: one is kept for each of the last invoices
# of every vendor (50,000 at 10,000 vendors), and the garbage collector untracks such tuples, while objects
# would be scanned by its passes (measured: ~20% slower record building at 100,000 invoices).
_Credited = tuple[str, str, str, str, Decimal, tuple[tuple[str, Decimal, Decimal], ...], Decimal, str]


def _credited(qonto_id: str, number: str, attachment_id: str, file_name: str, amounts: Amounts) -> _Credited:
    return (qonto_id, number, attachment_id, file_name, amounts.net, amounts.taxes, amounts.total,
            amounts.currency)


def _credited_amounts(credited: _Credited) -> Amounts:
    return Amounts(credited[4], credited[5], credited[6], credited[7])


def _related_entry(credited: _Credited) -> dict[str, Any]:
    """The `related_invoices` entry of a credit note pointing at the invoice it credits."""
    return {"id": credited[0], "invoice_number": credited[1], "total_amount": money(credited[6], credited[7]),
            "attachment_id": credited[2], "file_name": credited[3]}


@dataclass(frozen=True)
class _Issued:
    """An invoice already generated, kept so later duplicates can copy it."""

    vendor: Vendor
    qonto_id: str
    number: str
    issue: date
    due: date | None
    amounts: Amounts
    iban: str | None
    document: DocumentSpec
    doc_format: str
    in_ledger: bool
    melio_bill_id: str


_DISTRIBUTIONS: dict[tuple[tuple[Any, float], ...], tuple[list[Any], list[float]]] = {}


def _weighted(rng: random.Random, pairs: tuple[tuple[Any, float], ...]) -> Any:
    """Weighted choice over (value, weight) pairs; cumulative weights are computed once per table."""
    dist = _DISTRIBUTIONS.get(pairs)
    if dist is None:
        cum: list[float] = []
        total = 0.0
        for _, weight in pairs:
            total += weight
            cum.append(total)
        dist = _DISTRIBUTIONS[pairs] = ([p[0] for p in pairs], cum)
    return rng.choices(dist[0], cum_weights=dist[1])[0]


def _pct(rate: str) -> str:
    return f"{(Decimal(rate) * 100).normalize():f}"


def _same(a: str | None, b: str | None) -> bool:
    """Identifiers compare with spaces removed, in upper case (empty never matches)."""
    if not a or not b:
        return False
    return a == b or a.replace(" ", "").upper() == b.replace(" ", "").upper()


def identified_by(vendor: Vendor, iban: str | None, vat: str | None) -> tuple[str, ...]:
    """Which record identifiers equal the vendor's Melio directory values ("iban", "vat")."""
    if not vendor.in_melio:
        return ()
    return tuple(name for name, value, on_file in (("iban", iban, vendor.melio_iban), ("vat", vat, vendor.melio_vat))
                 if _same(value, on_file))


class InvoiceFactory:
    """Turns (index, creation instant, planned special case) into a BuiltInvoice, advancing vendor state."""

    def __init__(
        self, rng: random.Random, vendors: list[Vendor], organization: Organization, now_ms: int,
        first_bill_sequence: int,
    ) -> None:
        self.rng = rng
        self.vendors = vendors
        self.org = organization
        self.now_ms = now_ms
        self.cum_weights: list[float] = []
        total = 0.0
        for v in vendors:
            total += v.popularity
            self.cum_weights.append(total)
        self._known = [v for v in vendors if v.in_melio]
        self._known_with_iban = [v for v in vendors if v.in_melio and v.melio_iban and v.iban]
        # Bank-detail changes of vendors whose IBAN Melio lacks: visible only against their own history.
        self._known_iban_unfiled = [v for v in vendors if v.in_melio and not v.melio_iban and v.iban]
        self._unknown_homonyms = [v for v in vendors if v.kind == "unknown_homonym" and not v.in_melio]
        pools = (self._known, self._known_with_iban, self._known_iban_unfiled, self._unknown_homonyms)
        self._pool_ids = {id(pool): {v.vendor_id for v in pool} for pool in pools}
        self._history: deque[_Issued] = deque(maxlen=_HISTORY)
        self._recent_by_vendor: dict[str, tuple[_Credited, ...]] = {}
        # Trade names shared by at least two directory vendors, by folded spelling.
        holders: dict[str, list[Vendor]] = {}
        for v in self._known:
            if v.trade_name:
                holders.setdefault(v.trade_name.casefold(), []).append(v)
        self._trade_names = {key: group[0].trade_name for key, group in holders.items() if len(group) >= 2}
        self._next_bill = first_bill_sequence
        # Homonyms: the same directory name held by more than one vendor.
        seen: dict[str, int] = {}
        for v in self._known:
            key = v.melio_name.casefold()
            seen[key] = seen.get(key, 0) + 1
        self._ambiguous = {v.vendor_id for v in self._known if seen[v.melio_name.casefold()] > 1}

    # -- vendor choice --------------------------------------------------------------------------------------
    def _pick_vendor(self, pool: list[Vendor] | None = None) -> Vendor:
        """Popularity-weighted draw, optionally restricted to `pool` (rejection sampling, then uniform)."""
        rng = self.rng
        if pool is None:
            return self.vendors[bisect.bisect_left(self.cum_weights, rng.random() * self.cum_weights[-1])]
        allowed = self._pool_ids[id(pool)]
        for _ in range(20):
            v = self.vendors[bisect.bisect_left(self.cum_weights, rng.random() * self.cum_weights[-1])]
            if v.vendor_id in allowed:
                return v
        return rng.choice(pool)

    def _pick_with_history(self, pool: list[Vendor]) -> Vendor:
        """Like `_pick_vendor(pool)`, preferring a vendor that already has invoices in the dataset."""
        for _ in range(30):
            v = self._pick_vendor(pool)
            if v.vendor_id in self._recent_by_vendor:
                return v
        with_history = [v for v in pool if v.vendor_id in self._recent_by_vendor]
        return self.rng.choice(with_history) if with_history else self._pick_vendor(pool)

    # -- statuses and times ---------------------------------------------------------------------------------
    def _status(self, created_ms: int, special: str) -> str:
        rng = self.rng
        recent = self.now_ms - created_ms < RECENT_DAYS * MS_PER_DAY
        if special == "non_financial":
            return _weighted(rng, (("to_review", 55), ("archived", 25), ("discarded", 20)))
        if special in ("all_ocr_null", "heic", "txt"):
            return _weighted(rng, (("to_review", 80), ("discarded", 20)))
        if special == "credit_note":
            if recent:
                return _weighted(rng, (("to_review", 70), ("archived", 30)))
            return _weighted(rng, (("archived", 60), ("paid", 25), ("to_review", 15)))
        return _weighted(rng, _STATUS_RECENT if recent else _STATUS_OLD)

    def _updated_ms(self, status: str, analyzed_ms: int) -> tuple[int, int, bool]:
        """(updated_at, the moment of the last status change, whether it was touched much later)."""
        rng = self.rng
        span = {
            "to_review": (0, 10 * MS_PER_MIN),
            "to_approve": (5 * MS_PER_MIN, 2 * MS_PER_DAY),
            "awaiting_payment": (MS_PER_HOUR, 10 * MS_PER_DAY),
            "pending": (MS_PER_HOUR, 10 * MS_PER_DAY),
            "scheduled": (MS_PER_HOUR, 7 * MS_PER_DAY),
            "paid": (MS_PER_DAY, 45 * MS_PER_DAY),
            "archived": (10 * MS_PER_DAY, 150 * MS_PER_DAY),
            "rejected": (10 * MS_PER_MIN, 10 * MS_PER_DAY),
            "discarded": (10 * MS_PER_MIN, 10 * MS_PER_DAY),
        }[status]
        changed = min(analyzed_ms + rng.randint(*span), self.now_ms)
        touched_later = rng.random() < 0.04
        updated = changed
        if touched_later:  # e.g. exported to accounting months later: only updated_at moves
            updated = min(changed + rng.randint(30, 400) * MS_PER_DAY, self.now_ms)
        return updated, changed, touched_later

    # -- documents ------------------------------------------------------------------------------------------
    def _items(self, net: Decimal, currency: str) -> tuple[Line, ...]:
        rng = self.rng
        count = 1 if net < 50 else rng.choice((1, 1, 2, 3))
        amounts: list[Decimal] = []
        rest = net
        for _ in range(count - 1):
            part = (rest * Decimal(rng.randint(20, 60)) / 100).quantize(Decimal("0.01"))
            amounts.append(part)
            rest -= part
        amounts.append(rest)
        lines = [Line("item", cells=("Description", "Qty", "Unit price", f"Amount ({currency})"))]
        for amount in amounts:
            qty = rng.choice((1, 1, 1, 2, 4, 5, 10))
            if (amount * 100) % qty:
                qty = 1
            unit = amount / qty
            lines.append(Line("item", cells=(rng.choice(_ITEMS), str(qty), f"{unit:.2f}", f"{amount:.2f}")))
        return tuple(lines)

    def _supplier_block(self, v: Vendor) -> list[Line]:
        lines = [Line("bold", f"Supplier: {v.printed_name}"), Line("text", v.street),
                 Line("text", f"{v.city_line}, {v.country_name}")]
        if v.vat_number:
            lines.append(Line("text", f"VAT: {v.vat_number}"))
        if v.tin:
            lines.append(Line("text", f"Tax ID: {v.tin}"))
        lines.append(Line("text", f"Email: {v.email}"))
        return lines

    def _customer_block(self) -> list[Line]:
        street, city = self.org.address
        return [Line("heading", f"Customer: {self.org.legal_name}"), Line("text", street),
                Line("text", f"{city}, France")]

    def _invoice_document(
        self, v: Vendor, *, number: str, issue: date, due: date | None, amounts: Amounts, iban: str | None,
        credit_of: str | None, new_bank_details: bool,
    ) -> DocumentSpec:
        title = "CREDIT NOTE" if credit_of is not None else _TITLES.get(v.country, "INVOICE")
        cur = amounts.currency
        lines = self._supplier_block(v)
        lines.append(Line("gap"))
        lines.append(Line("bold", f"Invoice number: {number}"))
        if credit_of is not None:
            lines.append(Line("text", "Document type: Credit note"))
            if credit_of:
                lines.append(Line("text", f"Credited invoice: {credit_of}"))
        lines.append(Line("text", f"Issue date: {issue.isoformat()}"))
        if due is not None:
            lines.append(Line("text", f"Due date: {due.isoformat()}"))
        lines.append(Line("gap"))
        lines.extend(self._customer_block())
        lines.append(Line("gap"))
        lines.extend(self._items(amounts.net, cur))
        lines.append(Line("gap"))
        lines.append(Line("text", f"Subtotal: {amounts.net:.2f} {cur}"))
        for rate, _base, tax in amounts.taxes:
            lines.append(Line("text", f"VAT {_pct(rate)}%: {tax:.2f} {cur}"))
        if not amounts.taxes:
            if v.country in ("US", "JP"):
                lines.append(Line("text", f"Tax: 0.00 {cur}"))
            else:
                lines.append(Line("text", "VAT: reverse charge, Article 196 Directive 2006/112/EC"))
        lines.append(Line("bold", f"Total: {amounts.total:.2f} {cur}"))
        lines.append(Line("gap"))
        if iban:
            if new_bank_details:
                lines.append(Line("bold", "Please note our NEW bank details below."))
            lines.append(Line("text", f"IBAN: {ids.format_iban(iban)}"))
            lines.append(Line("text", f"BIC: {v.bic if not new_bank_details else ids.make_bic(iban[:2], self.rng)}"))
        elif v.country == "US":
            lines.append(Line("text", f"ACH routing: {self.rng.randint(10**8, 10**9 - 1)}"))
        lines.append(Line("small", f"Payment terms: {v.terms_days} days" if v.terms_days else "Payable on receipt"))
        return DocumentSpec(title, tuple(lines), issue.strftime("%Y%m%d"), self.rng.getrandbits(32))

    def _non_financial_document(self, v: Vendor, issue: date) -> DocumentSpec:
        title, label, prefix = self.rng.choice(_NON_FINANCIAL)
        lines = self._supplier_block(v)
        lines += [Line("gap"), Line("text", f"Document type: {label}"),
                  Line("text", f"Reference: {prefix}-{self.rng.randint(10000, 99999)}"),
                  Line("text", f"Date: {issue.isoformat()}"), Line("gap")]
        lines += self._customer_block()
        lines += [Line("gap"), Line("text", "This document is not an invoice and requests no payment."),
                  Line("small", "Kept for your records.")]
        return DocumentSpec(title, tuple(lines), issue.strftime("%Y%m%d"), self.rng.getrandbits(32))

    def _file_name(self, v: Vendor, number: str | None, issue: date, created_ms: int, ext: str, kind: str) -> str:
        rng = self.rng
        if kind == "non_financial":
            return rng.choice(("bon_de_livraison", "delivery-note", "CGV", "conditions_generales", "scan")) + \
                f"_{rng.randint(100, 9999)}.{ext}"
        if ext in ("jpg", "heic"):
            if rng.random() < 0.6:
                return f"IMG_{rng.randint(1000, 9999)}.{ext}"
        stamp = paris_date(created_ms).strftime("%Y%m%d")
        safe = (number or "document").replace("/", "-").replace(" ", "_")
        roll = rng.random()
        if roll < 0.40:
            return f"{v.file_prefix}_{safe}.{ext}"
        if roll < 0.55:
            return f"{v.file_prefix.lower()}-{safe}.{ext}"
        if roll < 0.70:
            return f"{safe}.{ext}"
        if roll < 0.80:
            return f"scan_{stamp}_{rng.randint(0, 2359):04d}.{ext}"
        if roll < 0.90:
            return f"{slug(v.match_name)[:24]}_{issue:%Y-%m}.{ext}"
        if roll < 0.95:
            return f"document ({rng.randint(1, 12)}).{ext}"
        return f"invoice.{ext}"

    # -- Qonto's additional fields ------------------------------------------------------------------------
    def _qonto_extras(
        self, vendor: Vendor, *, status: str, credit_note: bool, non_financial: bool, ocr_fail_all: bool,
        supplier_name: str | None, has_iban: bool, missing_data: bool, is_einvoice: bool, created_ms: int,
        updated_ms: int, fmt_ts: Callable[[int], str], credited: _Credited | None,
    ) -> dict[str, Any]:
        """The seven fields that follow `e_invoice_type`, in the order of the shared spec (issue 7)."""
        rng = self.rng
        events: list[dict[str, Any]] | None = (
            qonto_fields.lifecycle_events(rng, status, created_ms, updated_ms, fmt_ts) if is_einvoice else [])
        if rng.random() < 0.02:
            events = None
        supplier_id: str | None = None
        if not ocr_fail_all and (supplier_name is not None or is_einvoice):
            share = (_SUPPLIER_ID_EINVOICE if is_einvoice
                     else _SUPPLIER_ID_TO_REVIEW if status == "to_review" else _SUPPLIER_ID_OTHER)
            if rng.random() < share:
                known = vendor.qonto_supplier_ids
                supplier_id = known[1] if len(known) > 1 and rng.random() < _SECOND_SUPPLIER_ID else known[0]
        self_invoice_id = (ids.uuid4_from(rng) if not (non_financial or credit_note) and rng.random() < 0.002
                           else None)
        related: list[dict[str, Any]] | None = [_related_entry(credited)] if credited is not None else []
        if rng.random() < 0.02:
            related = None
        actions = None if rng.random() < 0.01 else qonto_fields.available_actions(
            status, has_iban=has_iban, missing_data=missing_data, credit_note=credit_note,
            self_invoice=self_invoice_id is not None)
        return {
            "einvoicing_lifecycle_events": events,
            "supplier_id": supplier_id,
            "issuer_name": vendor.printed_name if is_einvoice else None,
            "self_invoice_id": self_invoice_id,
            "related_invoices": related,
            "request_transfer": qonto_fields.request_transfer(rng, status, self.org.member_ids),
            "available_actions": actions,
        }

    # -- the record -----------------------------------------------------------------------------------------
    def _supplier_name(self, v: Vendor) -> tuple[str, str, tuple[str, ...]]:
        rng = self.rng
        if v.latin_alias:
            roll = rng.random()
            if roll < 0.4:
                return v.canonical_name, "native_script", ()
            if roll < 0.8:
                return v.latin_alias, "latin_alias", ()
            variant, ops = make_variant(rng, v.core, v.suffix)
            return variant, "variant", ops
        if v.trade_name:
            # The brand on the letterhead is what OCR reads half the time ("Orange", sometimes "ORANGE").
            roll = rng.random()
            if roll < 0.5:
                return (v.trade_name.upper() if rng.random() < 0.15 else v.trade_name), "trade_name", ()
            if roll < 0.75:
                return v.canonical_name, "exact", ()
            variant, ops = make_variant(rng, v.core, v.suffix)
            return variant, "variant", ops
        if rng.random() < 0.5:
            return v.canonical_name, "exact", ()
        variant, ops = make_variant(rng, v.core, v.suffix)
        return variant, "variant", ops

    def build(self, index: int, created_ms: int, special: Special | None) -> BuiltInvoice:
        """Build invoice number `index` created at `created_ms` (epoch ms)."""
        rng = self.rng
        case = special.case if special else ""
        detail = special.detail if special else ""
        odd = detail if detail in _ODD_DETAILS else ""
        copy_of: _Issued | None = None
        if case in ("duplicate_invoice", "qonto_duplicate_flag") and self._history:
            if case == "duplicate_invoice" or rng.random() < 0.7:
                recent = list(self._history)[-_RECENT_HISTORY:]
                copy_of = rng.choice(recent)
        if case == "duplicate_invoice" and copy_of is None:
            case = ""  # no earlier invoice to duplicate (tiny datasets): fall back to a regular invoice
        # Half the bank-detail changes come from vendors whose IBAN Melio lacks ("unfiled").
        change_pool = self._known_with_iban
        if case == "bank_detail_change" and detail == "unfiled" and self._known_iban_unfiled:
            change_pool = self._known_iban_unfiled
        if (case == "bank_detail_change" and not change_pool) or (
                case == "already_in_ledger" and not self._known) or (
                case == "unknown_homonym" and not self._unknown_homonyms):
            case = ""  # tiny populations may have no suitable vendor

        if copy_of is not None:
            vendor = copy_of.vendor
        elif case == "bank_detail_change" and change_pool is self._known_iban_unfiled:
            vendor = self._pick_with_history(change_pool)
        elif case == "bank_detail_change":
            vendor = self._pick_vendor(change_pool)
        elif case == "already_in_ledger":
            vendor = self._pick_vendor(self._known)
        elif case == "unknown_homonym":
            vendor = self._pick_vendor(self._unknown_homonyms)
        else:
            vendor = self._pick_vendor()

        status = self._status(created_ms, odd or case)
        analyzed_ms = min(created_ms + rng.randint(3 * MS_PER_S, 240 * MS_PER_S), self.now_ms)
        updated_ms, changed_ms, touched_later = self._updated_ms(status, analyzed_ms)
        fmt_ts = format_paris if rng.random() < 0.7 else format_z
        created_day = paris_date(created_ms)

        # Business values: copied from the earlier invoice for duplicates, else drawn fresh.
        credit_of: str | None = None
        credited: _Credited | None = None
        if copy_of is not None:
            number, issue, due, amounts = copy_of.number, copy_of.issue, copy_of.due, copy_of.amounts
        else:
            lag = _weighted(rng, (((0, 0), 25), ((1, 3), 35), ((4, 20), 35), ((21, 60), 5)))
            issue = created_day - timedelta(days=rng.randint(*lag))
            amounts = draw_amounts(rng, vendor)
            if case == "credit_note":
                number = vendor.issue_credit_number(issue.year, issue.month)
                recent = self._recent_by_vendor.get(vendor.vendor_id)
                if recent and rng.random() < 0.8:  # credits one of the vendor's recent invoices in the dataset
                    credited = rng.choice(recent)
                    credit_of = credited[1]
                    if rng.random() < 0.5:
                        amounts = _credited_amounts(credited)  # a full credit
                elif vendor.first_seq > 1 and rng.random() < 0.6:  # an invoice from before the dataset
                    credit_of = vendor.format_number(vendor.invoice_format, issue.year, issue.month,
                                                     max(1, vendor.first_seq - rng.randint(1, 3)))
                else:
                    credit_of = ""
                due = issue + timedelta(days=vendor.terms_days) if rng.random() < 0.3 else None
            else:
                number = vendor.issue_number(issue.year, issue.month)
                due = issue + timedelta(days=min(60, vendor.terms_days + rng.choice((0, 0, 0, 1, 2, 3))))

        document_iban = vendor.iban
        iban_mismatch = False
        if case == "bank_detail_change":
            while document_iban == vendor.iban:
                country = rng.choice(("LT", "MT")) if rng.random() < 0.5 else (vendor.iban or "FR")[:2]
                document_iban = ids.make_iban(rng, country)
            iban_mismatch = True
        elif copy_of is not None:
            document_iban = copy_of.iban

        # Document and its format.
        non_financial = case == "non_financial"
        if non_financial:
            document = self._non_financial_document(vendor, issue)
        elif copy_of is not None:
            document = copy_of.document
        else:
            document = self._invoice_document(
                vendor, number=number, issue=issue, due=due, amounts=amounts, iban=document_iban,
                credit_of=credit_of, new_bank_details=iban_mismatch,
            )
        pad_bytes = 0
        if odd == "oversized":
            doc_format, pad_bytes = "pdf", 10 * 1024 * 1024 + rng.randint(100_000, 900_000)
        elif odd in ("heic", "txt"):
            doc_format = odd
        elif copy_of is not None and rng.random() < 0.7:
            doc_format = copy_of.doc_format
        else:
            image_share = 0.5 if case == "all_ocr_null" else 0.08
            roll = rng.random()
            doc_format = "pdf" if roll >= image_share else ("jpg" if roll < image_share * 0.62 else "png")

        # OCR view of the document: null fields.
        ocr_fail_all = case == "all_ocr_null" or odd in ("heic", "txt")
        rates = _NULLS_TO_REVIEW if status == "to_review" else _NULLS_OTHER
        complete = case in ("bank_detail_change", "already_in_ledger", "credit_note", "qonto_duplicate_flag",
                            "duplicate_invoice") or odd == "oversized"

        def ocr(field_name: str, value: Any) -> Any:
            if value is None or ocr_fail_all:
                return None
            if complete and field_name != "vat_number":
                return value
            return None if rng.random() < rates[field_name] else value

        supplier_name, name_kind, variant_ops = self._supplier_name(vendor)
        if non_financial:
            supplier_name = supplier_name if rng.random() < 0.6 else None
            rec_number = rec_due = rec_iban = rec_vat = None
            rec_issue: date | None = issue if rng.random() < 0.5 else None
            rec_amounts: Amounts | None = None
        else:
            supplier_name = ocr("supplier_name", supplier_name)
            rec_number = ocr("invoice_number", number)
            rec_amounts = amounts if ocr("total_amount", True) else None
            rec_due = ocr("due_date", due)
            rec_iban = ocr("iban", document_iban)
            rec_vat = ocr("vat_number", vendor.vat_number)
            rec_issue = None if ocr_fail_all else issue
        if supplier_name is None:
            name_kind, variant_ops = "null", ()
        rec_tin = None if ocr_fail_all or non_financial or not vendor.tin or rng.random() < 0.5 else vendor.tin

        # Missing = printed on the document but null in the record (an OCR miss). A credit note without a due
        # date or a vendor without an IBAN is not missing anything; a non-financial document has no fields.
        missing: list[str] = []
        if not non_financial:
            for field_name, printed, value in (("supplier_name", True, supplier_name),
                                               ("invoice_number", True, rec_number),
                                               ("total_amount", True, rec_amounts),
                                               ("due_date", due is not None, rec_due),
                                               ("iban", bool(document_iban), rec_iban)):
                if printed and value is None:
                    missing.append(field_name)

        qonto_id = ids.uuid4_from(rng)
        attachment_id = ids.uuid4_from(rng)
        source_type, source = _weighted(rng, _SOURCES)
        is_einvoice = source == "e_invoicing" and vendor.country in ("FR", "DE") and doc_format == "pdf" \
            and not non_financial
        if source == "e_invoicing" and not is_einvoice:
            source_type, source = "email", "email_forward"
        kind = "non_financial" if non_financial else "invoice"
        file_name = self._file_name(vendor, number, issue, created_ms, doc_format, kind)

        paid = status == "paid"
        payment_date = paris_date(changed_ms) if paid else None
        if payment_date is not None and payment_date < issue:
            payment_date = issue
        scheduled_date = None
        if status == "scheduled":
            scheduled_date = max(due or issue, paris_date(changed_ms) + timedelta(days=1))

        in_ledger = case == "already_in_ledger" or (copy_of is not None and copy_of.in_ledger)
        ledger_bill: MelioBill | None = None
        melio_bill = copy_of.melio_bill_id if copy_of is not None else ""
        if case == "already_in_ledger":
            melio_bill = bill_id(self._next_bill)
            self._next_bill += 1
            bill_status = "paid" if status in ("paid", "archived") else _weighted(
                rng, (("unpaid", 70), ("scheduled", 30)))
            ledger_bill = MelioBill(
                melio_bill, vendor.melio_name, number, issue.isoformat(), (due or issue).isoformat(),
                f"{amounts.total:.2f}", amounts.currency, bill_status,
            )

        extras = self._qonto_extras(
            vendor, status=status, credit_note=case == "credit_note", non_financial=non_financial,
            ocr_fail_all=ocr_fail_all, supplier_name=supplier_name, has_iban=rec_iban is not None,
            missing_data=supplier_name is None or rec_number is None or rec_amounts is None,
            is_einvoice=is_einvoice, created_ms=created_ms, updated_ms=updated_ms, fmt_ts=fmt_ts, credited=credited,
        )
        cur = amounts.currency
        record: dict[str, Any] = {
            "id": qonto_id,
            "organization_id": self.org.id,
            "status": status,
            "source_type": source_type,
            "source": source,
            "attachment_id": attachment_id,
            "display_attachment_id": attachment_id,
            "file_name": file_name,
            "invoice_number": rec_number,
            "supplier_name": supplier_name,
            "vat_number": rec_vat,
            "tin": rec_tin,
            "iban": rec_iban,
            "description": (f"{rng.choice(_ITEMS)} {issue:%m/%Y}" if rng.random() < 0.2 and not ocr_fail_all
                            else None),
            "total_amount": money(rec_amounts.total, cur) if rec_amounts else None,
            "total_amount_excluding_taxes": money(rec_amounts.net, cur) if rec_amounts else None,
            "total_tax_amount": money(rec_amounts.tax_total, cur) if rec_amounts else None,
            "payable_amount": money(rec_amounts.total, cur) if rec_amounts else None,
            "total_amount_credit_notes": None,
            "taxes": ([{"tax_amount": money(t[2], cur), "tax_rate": t[0]} for t in rec_amounts.taxes]
                      if rec_amounts else []),
            "issue_date": rec_issue.isoformat() if rec_issue else None,
            "due_date": rec_due.isoformat() if rec_due else None,
            "payment_date": payment_date.isoformat() if payment_date else None,
            "scheduled_date": scheduled_date.isoformat() if scheduled_date else None,
            "created_at": fmt_ts(created_ms),
            "updated_at": fmt_ts(updated_ms),
            "analyzed_at": fmt_ts(analyzed_ms),
            "initiator_id": rng.choice(self.org.member_ids),
            "declined_note": rng.choice(_DECLINED_NOTES) if status == "rejected" else "",
            "has_discrepancies": False,
            "has_duplicates": case == "qonto_duplicate_flag",
            "is_credit_note": case == "credit_note",
            "has_suggested_credit_notes": False,
            "is_attachment_invoice": not non_financial and odd not in ("heic", "txt"),
            "is_attachment_non_financial": non_financial,
            "attachment_category": "OTHER_NON_FINANCIAL_DOCUMENT" if non_financial else "INVOICE",
            "matched_transactions": [ids.uuid4_from(rng)] if paid and rng.random() < 0.85 else [],
            "transfer_ids": [ids.uuid4_from(rng)] if paid and rng.random() < 0.6 else [],
            "is_einvoice": is_einvoice,
            "e_invoice_type": (rng.choice(("zugferd", "xrechnung")) if vendor.country == "DE" else "zugferd")
            if is_einvoice else None,
            **extras,
            "meta": {
                "integration_type": None,
                "connector": None,
                "accounting_recorded_at": fmt_ts(updated_ms) if touched_later else None,
                "accounting_recorded_source": "accounting_export" if touched_later else None,
            },
        }

        facts = InvoiceFacts(
            vendor_in_directory=vendor.in_melio,
            status=status,
            name_kind=name_kind,
            missing_fields=tuple(missing),
            iban_mismatch=iban_mismatch,
            credit_note=case == "credit_note",
            non_financial=non_financial,
            qonto_duplicate_flag=case == "qonto_duplicate_flag",
            duplicate_of=copy_of.qonto_id if copy_of is not None else "",
            in_ledger=in_ledger,
            all_ocr_null=case == "all_ocr_null",
            odd_attachment={"oversized": "oversized", "heic": "unsupported_type", "txt": "unsupported_type"}.get(
                odd, ""),
            ambiguous_name=vendor.vendor_id in self._ambiguous and rec_iban is None and rec_vat is None
            and rec_tin is None,
            payment_links=qonto_fields.payment_links(record),
            identified_by=identified_by(vendor, rec_iban, rec_vat),
            unverified_iban=rec_iban is not None and not (vendor.in_melio and _same(rec_iban, vendor.melio_iban)),
            trade_name=self._trade_names.get(supplier_name.strip().casefold(), "") if supplier_name else "",
            unknown_homonym=vendor.kind == "unknown_homonym",
            supplier_id=extras["supplier_id"] or "",
            vendor_iban_on_file=vendor.in_melio and bool(vendor.melio_iban),
        )
        document_truth = {"format": doc_format, "supplier": vendor.printed_name}
        if not non_financial:
            document_truth.update({
                "invoice_number": number, "issue_date": issue.isoformat(),
                "due_date": due.isoformat() if due else "", "total": f"{amounts.total:.2f}", "currency": cur,
                "iban": document_iban or "",
            })
        if copy_of is None and not non_financial and case != "credit_note":
            kept = self._recent_by_vendor.get(vendor.vendor_id, ())[1 - _VENDOR_RECENT:]
            self._recent_by_vendor[vendor.vendor_id] = (*kept, _credited(qonto_id, number, attachment_id, file_name,
                                                                        amounts))
        if copy_of is None and not non_financial and case not in ("credit_note", "all_ocr_null") \
                and not odd:
            self._history.append(_Issued(vendor, qonto_id, number, issue, due, amounts, document_iban, document,
                                         doc_format, in_ledger, melio_bill))
        return BuiltInvoice(record, facts, vendor, variant_ops, document, doc_format, pad_bytes, ledger_bill,
                            melio_bill, document_truth)
