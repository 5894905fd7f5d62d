"""Values that cross the scoring boundary: what Well knows about an invoice, and what it decided."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from well_pipeline.core.scoring.reasons import Reason


class Decision(StrEnum):
    AUTO_LINK = "auto_link"          # safe to send to Melio without a person
    REVIEW = "review"                # a person decides, ranked alternatives attached
    REFUSED = "refused"              # not sendable as is; candidates kept so a person can pin the vendor
    IN_MELIO = "already_in_melio"    # the Melio ledger already has this bill: linked to it, never sent again
    MANUAL_LINK = "manual_link"      # a person approved or pinned it: flows on to delivery


@dataclass(frozen=True)
class DocumentFacts:
    content_type: str | None
    size_bytes: int | None
    file_name: str | None = None


@dataclass(frozen=True)
class InvoiceFacts:
    """The fields of a Qonto supplier invoice that matter for resolution and scoring."""

    qonto_id: str
    supplier_name: str | None
    iban: str | None
    vat_number: str | None
    invoice_number: str | None
    amount: Decimal | None
    currency: str | None
    due_date: date | None
    status: str | None
    is_credit_note: bool = False
    is_non_financial: bool = False
    has_duplicates: bool = False
    document: DocumentFacts | None = None
    supplier_email: str | None = None
    duplicate_of: str | None = None  # an earlier Qonto record with the same invoice number and amount
    created_at: datetime | None = None
    supplier_id: str | None = None   # Qonto's own supplier record (optional field; stable counterparty key)
    issuer_name: str | None = None   # the issuer's name Qonto read from an e-invoice (optional field)
    # Qonto fields proving the invoice is paid or being paid there ("request_transfer", "transfer_ids",
    # "matched_transactions"): sending it to Melio as well risks a second payment.
    payment_links: tuple[str, ...] = ()


class Candidate(NamedTuple):
    """A ranked alternative (a NamedTuple: hundreds of thousands are built per large batch)."""

    vendor_id: str
    company_name: str
    probability: float              # how likely this vendor is the supplier, from the evidence alone
    name_similarity: float          # 0–100 on normalised names
    evidence: tuple[str, ...]       # reason codes that moved this candidate's weight
    log_odds: float = 0.0           # the evidence on the log-odds scale, where candidates are compared

    def as_dict(self) -> dict:
        return {"vendor_id": self.vendor_id, "company_name": self.company_name,
                "probability": round(self.probability, 4), "name_similarity": round(self.name_similarity, 1),
                "evidence": list(self.evidence), "log_odds": round(self.log_odds, 2)}


@dataclass(frozen=True)
class LedgerBill:
    bill_id: str
    vendor_id: str | None
    company_name: str
    invoice_number: str | None


class ScoredMatch(NamedTuple):
    """The decision on one invoice, with the three parts, the reasons and the ranked candidates."""

    qonto_id: str
    decision: Decision
    score: float
    completeness: float
    strength: float
    policy_fit: float
    vendor_id: str | None
    vendor_name: str | None
    reasons: tuple[Reason, ...]
    candidates: tuple[Candidate, ...]
    hard_rules: tuple[str, ...] = ()
    melio_bill_id: str | None = None
    raw_score: float = 0.0          # before hard-rule caps

    @property
    def score_percent(self) -> str:
        return f"{self.score * 100:.1f}%"

    def reason_codes(self) -> list[str]:
        return [r.code for r in self.reasons]


@dataclass
class ReviewOverride:
    """A person's decision on one record; it survives re-materialisation and wins over the score."""

    qonto_id: str
    action: str                     # "approve" | "pin" | "refuse"
    vendor_id: str | None = None
    reason: str | None = None
    author: str = ""
    decided_at: str = ""
    extra: dict = field(default_factory=dict)
