"""Reason codes: every part of a score and every decision says why, with a stable code and readable text.

Codes are part of Well's contract (filters in the review queue, dashboards, tests): add new ones, never rename.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Part(StrEnum):
    COMPLETENESS = "field_completeness"
    STRENGTH = "counterparty_strength"
    POLICY = "policy_fit"
    HARD_RULE = "hard_rule"
    DECISION = "decision"


class Reason(NamedTuple):
    """Why: a stable code, the part of the score it belongs to, and text a person reads."""

    code: str
    part: Part
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "part": self.part.value, "text": self.text}


class Code(StrEnum):
    # counterparty strength
    IBAN_MATCH = "IBAN_MATCH"
    VAT_MATCH = "VAT_MATCH"
    VAT_MISMATCH = "VAT_MISMATCH"
    EMAIL_DOMAIN_MATCH = "EMAIL_DOMAIN_MATCH"
    NAME_EXACT = "NAME_EXACT"
    NAME_SIMILAR = "NAME_SIMILAR"
    NAME_WEAK = "NAME_WEAK"
    NAME_MISSING = "NAME_MISSING"
    NAME_LEGAL_FORM_ONLY = "NAME_LEGAL_FORM_ONLY"
    KNOWN_NAME = "KNOWN_NAME"
    KNOWN_IBAN = "KNOWN_IBAN"
    USUAL_IBAN = "USUAL_IBAN"
    LEGAL_FORM_DIFFERS = "LEGAL_FORM_DIFFERS"
    RUNNER_UP_CLOSE = "RUNNER_UP_CLOSE"
    NO_CANDIDATE = "NO_CANDIDATE"
    IBAN_INVALID = "IBAN_INVALID"
    IBAN_NOT_VERIFIED = "IBAN_NOT_VERIFIED"
    IBAN_NOT_ON_FILE = "IBAN_NOT_ON_FILE"          # an IBAN nobody has verified for the vendor yet
    NAME_ONLY_MATCH = "NAME_ONLY_MATCH"            # nothing but the name links the invoice to the vendor
    NAME_CONTAINED = "NAME_CONTAINED"              # a trade name contained in the vendor's legal name
    KNOWN_SUPPLIER_ID = "KNOWN_SUPPLIER_ID"        # Qonto's supplier id, confirmed for this vendor before
    # completeness
    MISSING_SUPPLIER_NAME = "MISSING_SUPPLIER_NAME"
    MISSING_AMOUNT = "MISSING_AMOUNT"
    MISSING_CURRENCY = "MISSING_CURRENCY"
    MISSING_DUE_DATE = "MISSING_DUE_DATE"
    MISSING_INVOICE_NUMBER = "MISSING_INVOICE_NUMBER"
    NO_DOCUMENT = "NO_DOCUMENT"
    DOCUMENT_TYPE_NOT_ACCEPTED = "DOCUMENT_TYPE_NOT_ACCEPTED"
    DOCUMENT_TOO_LARGE = "DOCUMENT_TOO_LARGE"
    # policy
    STATUS_NOT_ELIGIBLE = "STATUS_NOT_ELIGIBLE"
    STATUS_NEEDS_REVIEW = "STATUS_NEEDS_REVIEW"
    CURRENCY_NOT_ALLOWED = "CURRENCY_NOT_ALLOWED"
    AMOUNT_OVER_AUTO_LIMIT = "AMOUNT_OVER_AUTO_LIMIT"
    CREDIT_NOTE = "CREDIT_NOTE"
    NON_FINANCIAL_DOCUMENT = "NON_FINANCIAL_DOCUMENT"
    QONTO_DUPLICATE_FLAG = "QONTO_DUPLICATE_FLAG"
    DUPLICATE_INVOICE = "DUPLICATE_INVOICE"
    BLOCKED_VENDOR = "BLOCKED_VENDOR"
    ALREADY_PAID_IN_QONTO = "ALREADY_PAID_IN_QONTO"  # settled in Qonto: sending it risks a second payment
    PAYMENT_IN_QONTO = "PAYMENT_IN_QONTO"            # Qonto is paying it (scheduled, pending, a transfer request)
    VENDOR_DIRECTORY_CONFLICT = "VENDOR_DIRECTORY_CONFLICT"  # the Melio export disagrees with itself on the vendor
    # hard rules and decisions
    BANK_DETAILS_CHANGED = "BANK_DETAILS_CHANGED"
    AMBIGUOUS_VENDOR = "AMBIGUOUS_VENDOR"
    UNKNOWN_VENDOR = "UNKNOWN_VENDOR"
    IN_MELIO_LEDGER = "IN_MELIO_LEDGER"
    AUTO_LINK = "AUTO_LINK"
    REVIEW = "REVIEW"
    REFUSED = "REFUSED"
    MANUAL_APPROVED = "MANUAL_APPROVED"
    MANUAL_PINNED = "MANUAL_PINNED"
    MANUAL_REFUSED = "MANUAL_REFUSED"
