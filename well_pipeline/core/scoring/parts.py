"""Field completeness and policy fit: the two parts of the score that do not depend on who the vendor is.

Every field Melio needs to draft a bill (supplier, amount, currency, due date, invoice number, a document of an
accepted type) lowers the score when missing *and* holds the record for a person: Melio's capture would
otherwise fill the gap silently (a missing due date becomes "today").
"""

from __future__ import annotations

from functools import lru_cache

from well_pipeline.core.scoring.model import InvoiceFacts
from well_pipeline.core.scoring.policy import ScoringPolicy
from well_pipeline.core.scoring.reasons import Code, Part, Reason


class PartResult:
    """One part of the score with its reasons and the hard rules it triggered (a plain class: built 200,000
    times per 100,000 invoices, so no dataclass machinery)."""

    __slots__ = ("hold", "reasons", "refuse", "value")

    def __init__(self) -> None:
        self.value = 1.0
        self.reasons: list[Reason] = []
        self.hold: list[str] = []     # hard rules: never auto-link
        self.refuse: list[str] = []   # hard rules: not sendable at all

    def penalise(self, factor: float, code: Code, part: Part, text: str) -> None:
        self.value *= factor
        self.reasons.append(Reason(code, part, text))


def field_completeness(invoice: InvoiceFacts, policy: ScoringPolicy) -> PartResult:
    """What Melio needs to draft the bill: supplier, amount, currency, due date, number, an accepted document."""
    part = PartResult()
    p = Part.COMPLETENESS
    if not (invoice.supplier_name or "").strip():
        part.penalise(0.9, Code.MISSING_SUPPLIER_NAME, p, "Qonto's OCR found no supplier name")
        part.hold.append(Code.MISSING_SUPPLIER_NAME)
    if invoice.amount is None:
        part.penalise(0.5, Code.MISSING_AMOUNT, p, "no total amount: Melio's capture would have to guess it")
        part.hold.append(Code.MISSING_AMOUNT)
    elif not invoice.currency:
        part.penalise(0.8, Code.MISSING_CURRENCY, p, "amount without a currency")
        part.hold.append(Code.MISSING_CURRENCY)
    if invoice.due_date is None:
        part.penalise(0.9, Code.MISSING_DUE_DATE, p, "no due date: Melio would default it to today")
        part.hold.append(Code.MISSING_DUE_DATE)
    if not (invoice.invoice_number or "").strip():
        part.penalise(0.8, Code.MISSING_INVOICE_NUMBER, p,
                      "no invoice number: a duplicate in Melio could not be ruled out")
        part.hold.append(Code.MISSING_INVOICE_NUMBER)
    document = invoice.document
    if document is None:
        part.penalise(0.0, Code.NO_DOCUMENT, p, "no stored document to send to Melio")
        part.refuse.append(Code.NO_DOCUMENT)
    else:
        content_type = (document.content_type or "").split(";")[0].strip().lower()
        if content_type not in policy.accepted_document_types:
            part.penalise(0.0, Code.DOCUMENT_TYPE_NOT_ACCEPTED, p,
                          f"document type {content_type or 'unknown'} is not one Melio accepts (PDF, JPEG, PNG, GIF)")
            part.refuse.append(Code.DOCUMENT_TYPE_NOT_ACCEPTED)
        if document.size_bytes == 0:
            part.penalise(0.0, Code.NO_DOCUMENT, p, "the stored document is empty")
            part.refuse.append(Code.NO_DOCUMENT)
        if document.size_bytes is not None and document.size_bytes > policy.max_document_bytes:
            part.penalise(0.0, Code.DOCUMENT_TOO_LARGE, p,
                          f"document is {document.size_bytes / 1_048_576:.1f} MB, over Melio's "
                          f"{policy.max_document_bytes / 1_048_576:.0f} MB limit")
            part.refuse.append(Code.DOCUMENT_TOO_LARGE)
    return part


def policy_fit(invoice: InvoiceFacts, vendor_id: str | None, policy: ScoringPolicy) -> PartResult:
    """The finance team's rules: status, currency, amount ceiling, document kind, duplicates, blocked vendors."""
    part = PartResult()
    p = Part.POLICY
    status = (invoice.status or "").lower()
    if status in policy.eligible_statuses:
        pass
    elif status in policy.review_statuses or not status:
        part.penalise(0.95, Code.STATUS_NEEDS_REVIEW, p,
                      f"Qonto status {status or 'missing'}: not yet a confirmed invoice")
        part.hold.append(Code.STATUS_NEEDS_REVIEW)
    else:
        part.penalise(0.0, Code.STATUS_NOT_ELIGIBLE, p, f"Qonto status {status} is not eligible for Melio")
        part.refuse.append(Code.STATUS_NOT_ELIGIBLE)
    if not policy.auto_link_paid_in_qonto:
        _paid_in_qonto(invoice, status, policy, part)
    if invoice.is_credit_note:
        part.penalise(0.0, Code.CREDIT_NOTE, p, "a credit note is not a bill to pay")
        part.refuse.append(Code.CREDIT_NOTE)
    if invoice.is_non_financial:
        part.penalise(0.0, Code.NON_FINANCIAL_DOCUMENT, p, "Qonto classified the document as non-financial")
        part.refuse.append(Code.NON_FINANCIAL_DOCUMENT)
    currency = (invoice.currency or "").upper()
    if currency and currency not in policy.allowed_currencies:
        part.penalise(0.0, Code.CURRENCY_NOT_ALLOWED, p, f"currency {currency} is not in the allowed list")
        part.refuse.append(Code.CURRENCY_NOT_ALLOWED)
    if (policy.max_auto_link_amount is not None and invoice.amount is not None
            and invoice.amount > policy.max_auto_link_amount):
        part.penalise(0.9, Code.AMOUNT_OVER_AUTO_LIMIT, p,
                      f"amount {invoice.amount} is above the auto-link limit {policy.max_auto_link_amount}")
        part.hold.append(Code.AMOUNT_OVER_AUTO_LIMIT)
    if invoice.has_duplicates:
        part.penalise(0.8, Code.QONTO_DUPLICATE_FLAG, p, "Qonto flags this document as a possible duplicate")
        part.hold.append(Code.QONTO_DUPLICATE_FLAG)
    if invoice.duplicate_of:
        part.penalise(0.8, Code.DUPLICATE_INVOICE, p,
                      f"same invoice number as Qonto record {invoice.duplicate_of} (same amount or same supplier): "
                      "a second copy of one invoice")
        part.hold.append(Code.DUPLICATE_INVOICE)
    if vendor_id is not None and vendor_id in policy.blocked_vendor_ids:
        part.penalise(0.0, Code.BLOCKED_VENDOR, p, f"vendor {vendor_id} is blocked by policy")
        part.refuse.append(Code.BLOCKED_VENDOR)
    return part


_PAID_LINKS = ("transfer_ids", "matched_transactions")


def _paid_in_qonto(invoice: InvoiceFacts, status: str, policy: ScoringPolicy, part: PartResult) -> None:
    """Hold what Qonto paid or is paying: Melio would offer to pay it a second time."""
    found = _paid_reason(status, invoice.payment_links, policy.settled_statuses, policy.payment_statuses)
    if found is not None:
        part.value *= 0.95
        part.reasons.append(found)
        part.hold.append(found.code)


@lru_cache(maxsize=1024)
def _paid_reason(status: str, links: tuple[str, ...], settled: frozenset[str],
                 paying: frozenset[str]) -> Reason | None:
    # Cached: a backfill holds tens of thousands of settled invoices sharing a handful of (status, links) pairs.
    paid_links = [link for link in links if link in _PAID_LINKS]
    if status in settled or paid_links:
        why = f"Qonto status {status}" if status in settled else "a payment on the record"
        if paid_links:
            why += f" ({', '.join(paid_links)})"
        return Reason(Code.ALREADY_PAID_IN_QONTO, Part.POLICY,
                      f"already paid in Qonto ({why}): sending it to Melio risks paying it twice; a person "
                      "decides (setting auto_link_paid_in_qonto sends settled history on purpose)")
    if status in paying or "request_transfer" in links:
        why = f"Qonto status {status}" if status in paying else "a transfer request in Qonto"
        return Reason(Code.PAYMENT_IN_QONTO, Part.POLICY,
                      f"being paid in Qonto ({why}): sending it to Melio risks paying it twice; a person decides")
    return None
