"""Ground truth per invoice: what a careful pipeline should conclude (`truth/invoices.csv`).

Production code never reads this file; tests and benchmarks do, to score the matcher. Each invoice gets one
primary `case` (the most important thing about it, by the priority in `CASE_PRIORITY`), a
`must_not_auto_link` verdict with every reason that applies, `safe_known` (no reason at all: linking it to the
true vendor is safe) and `clean_known`: the safe invoices a careful system can auto-link *from the record
alone*, because an identifier on the record (IBAN or VAT) equals the vendor's directory value and the record
shows no IBAN nobody has on file. A matching name alone never makes an invoice clean: trade names and
homonyms share names. The verdicts are derived from the generated facts in one place so the CSV cannot
disagree with itself.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from .vendors import Vendor

# Highest priority first: the primary case of an invoice is the first that applies.
CASE_PRIORITY: tuple[str, ...] = (
    "odd_attachment",
    "bank_detail_change",
    "all_ocr_null",
    "non_financial",
    "credit_note",
    "qonto_duplicate_flag",
    "duplicate_invoice",
    "already_in_ledger",
    "settled",
    "unknown_homonym",
    "unknown_vendor",
    "missing_fields",
    "trade_name",
    "name_variant",
    "clean",
)
# The generator's assumption, not product policy: rejected/discarded invoices were refused by the customer.
INELIGIBLE_STATUSES = frozenset({"rejected", "discarded"})
# Paid or archived in Qonto: sending the invoice to Melio as well risks a second payment.
SETTLED_STATUSES = frozenset({"paid", "archived"})
# Qonto is paying it right now.
IN_PAYMENT_STATUSES = frozenset({"scheduled", "pending"})
# Fields without which a bill cannot be created safely. `iban` counts only when the vendor has one.
REQUIRED_FIELDS = ("supplier_name", "invoice_number", "total_amount", "due_date")

TRUTH_COLUMNS: tuple[str, ...] = (
    "qonto_id", "attachment_id", "case", "true_vendor_id", "generator_vendor_id", "vendor_in_directory",
    "must_not_auto_link", "reason", "clean_known", "status", "supplier_name_kind", "variant_ops",
    "missing_fields", "in_melio_ledger", "melio_bill_id", "duplicate_of", "document_format",
    "document_supplier", "document_invoice_number", "document_issue_date", "document_due_date",
    "document_total", "document_currency", "document_iban", "identified_by", "supplier_id", "trade_name",
    "vendor_iban_on_file", "safe_known",
)


@dataclass(frozen=True)
class InvoiceFacts:
    """What the generator did to one invoice, in the vocabulary of the truth file."""

    vendor_in_directory: bool
    status: str
    name_kind: str  # exact | variant | native_script | latin_alias | trade_name | null
    missing_fields: tuple[str, ...]
    iban_mismatch: bool = False
    credit_note: bool = False
    non_financial: bool = False
    qonto_duplicate_flag: bool = False
    duplicate_of: str = ""
    in_ledger: bool = False
    all_ocr_null: bool = False
    odd_attachment: str = ""  # "" | oversized | unsupported_type
    ambiguous_name: bool = False
    payment_links: tuple[str, ...] = ()  # non-empty request_transfer / transfer_ids / matched_transactions
    identified_by: tuple[str, ...] = ()  # "iban", "vat": record identifiers equal to the directory's values
    unverified_iban: bool = False  # the record shows an IBAN the directory does not hold for the vendor
    trade_name: str = ""  # the trade name the record prints as supplier_name (shared by >= 2 directory vendors)
    unknown_homonym: bool = False  # a supplier Melio does not know, named like a directory entry
    supplier_id: str = ""
    vendor_iban_on_file: bool = False

    @property
    def settled(self) -> bool:
        return self.status in SETTLED_STATUSES

    @property
    def payment_in_qonto(self) -> bool:
        return self.status in IN_PAYMENT_STATUSES or bool(self.payment_links)

    @property
    def ambiguous_trade_name(self) -> bool:
        return bool(self.trade_name) and not self.identified_by


def primary_case(f: InvoiceFacts) -> str:
    """The single most important case of the invoice (see CASE_PRIORITY)."""
    applies = {
        "odd_attachment": bool(f.odd_attachment),
        "bank_detail_change": f.iban_mismatch,
        "all_ocr_null": f.all_ocr_null,
        "non_financial": f.non_financial,
        "credit_note": f.credit_note,
        "qonto_duplicate_flag": f.qonto_duplicate_flag,
        "duplicate_invoice": bool(f.duplicate_of),
        "already_in_ledger": f.in_ledger,
        "settled": f.settled or f.payment_in_qonto,
        "unknown_homonym": f.unknown_homonym and not f.vendor_in_directory,
        "unknown_vendor": not f.vendor_in_directory,
        "missing_fields": bool(f.missing_fields),
        "trade_name": bool(f.trade_name),
        "name_variant": f.name_kind != "exact",
        "clean": True,
    }
    return next(case for case in CASE_PRIORITY if applies[case])


def reasons(f: InvoiceFacts) -> list[str]:
    """Every reason the invoice must not be auto-linked (empty list: linking is safe)."""
    out: list[str] = []
    if f.odd_attachment == "oversized":
        out.append("attachment_too_large")
    elif f.odd_attachment:
        out.append("attachment_unsupported_type")
    if f.iban_mismatch:
        out.append("iban_mismatch")
    if f.non_financial:
        out.append("non_financial_document")
    if f.credit_note:
        out.append("credit_note")
    if f.qonto_duplicate_flag:
        out.append("qonto_duplicate_flag")
    if f.duplicate_of:
        out.append("duplicate_invoice")
    if f.in_ledger:
        out.append("already_in_melio")
    if not f.vendor_in_directory:
        out.append("vendor_not_in_directory")
    if f.missing_fields or f.all_ocr_null:
        out.append("missing_fields")
    if f.ambiguous_name:
        out.append("ambiguous_vendor_name")
    if f.ambiguous_trade_name:
        out.append("ambiguous_trade_name")
    if f.status in INELIGIBLE_STATUSES:
        out.append(f"status_{f.status}")
    if f.settled:
        out.append("status_settled")
    if f.payment_in_qonto:
        out.append("payment_in_qonto")
    return out


def verdicts(f: InvoiceFacts) -> tuple[list[str], bool, bool]:
    """(reasons, safe_known, clean_known) of one invoice.

    safe_known: nothing forbids linking it to its true directory vendor. clean_known: safe *and* decidable
    from the record alone: an IBAN or VAT on the record equals the vendor's directory value, and the record
    carries no IBAN the directory lacks (an IBAN nobody has on file must be verified by a person once).
    """
    why = reasons(f)
    safe = not why
    return why, safe, safe and bool(f.identified_by) and not f.unverified_iban


def _b(value: bool) -> str:
    return "true" if value else "false"


class TruthWriter:
    """Streams `truth/invoices.csv` rows as invoices are generated."""

    def __init__(self, fh: IO[str]) -> None:
        self._writer = csv.writer(fh, lineterminator="\n")
        self._writer.writerow(TRUTH_COLUMNS)

    def write(
        self,
        *,
        qonto_id: str,
        attachment_id: str,
        facts: InvoiceFacts,
        true_vendor_id: str,
        generator_vendor_id: str,
        variant_ops: tuple[str, ...],
        melio_bill_id: str,
        document: dict[str, str],
    ) -> tuple[str, bool, bool]:
        """Write one row; returns (primary case, safe_known, clean_known)."""
        case = primary_case(facts)
        why, safe, clean = verdicts(facts)
        self._writer.writerow((
            qonto_id, attachment_id, case, true_vendor_id if facts.vendor_in_directory else "",
            generator_vendor_id, _b(facts.vendor_in_directory), _b(bool(why)), ";".join(why), _b(clean),
            facts.status, facts.name_kind, "+".join(variant_ops), ";".join(facts.missing_fields),
            _b(facts.in_ledger), melio_bill_id, facts.duplicate_of, document.get("format", ""),
            document.get("supplier", ""), document.get("invoice_number", ""), document.get("issue_date", ""),
            document.get("due_date", ""), document.get("total", ""), document.get("currency", ""),
            document.get("iban", ""), ";".join(facts.identified_by), facts.supplier_id, facts.trade_name,
            _b(facts.vendor_iban_on_file), _b(safe),
        ))
        return case, safe, clean


VENDOR_TRUTH_COLUMNS: tuple[str, ...] = (
    "vendor_id", "canonical_name", "latin_alias", "printed_name", "kind", "related_vendor_id", "country",
    "currency", "iban", "bic", "vat_number", "tin", "email", "in_melio", "melio_company_name", "invoice_format",
    "trade_name", "qonto_supplier_ids",
)


def write_vendor_truth(fh: IO[str], vendors: list[Vendor]) -> None:
    """`truth/vendors.csv`: the full population, including vendors Melio does not know."""
    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(VENDOR_TRUTH_COLUMNS)
    for v in vendors:
        writer.writerow((
            v.vendor_id, v.canonical_name, v.latin_alias, v.printed_name, v.kind, v.related_vendor_id, v.country,
            v.currency, v.iban or "", v.bic or "", v.vat_number or "", v.tin or "", v.email, _b(v.in_melio),
            v.melio_name if v.in_melio else "", v.invoice_format, v.trade_name, ";".join(v.qonto_supplier_ids),
        ))
