"""The scoring policy: thresholds and rules a finance team sets (validated, documented defaults).

The defaults here are the settings' defaults too: `well_pipeline/settings.py` declares each scoring setting's type,
validation and help text and takes its default from this module, so a test of the pure core and a deployment
without settings score alike. The core never reads the settings; `ScoringSettings.policy()` builds a policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

ACCEPTED_DOCUMENT_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png", "image/gif"})
MELIO_MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
# Qonto's lifecycle order (as the settings show them); the policy itself holds sets.
ELIGIBLE_STATUSES = ("to_review", "to_approve", "awaiting_payment", "pending", "scheduled", "paid", "archived")
ALLOWED_CURRENCIES = ("EUR", "USD", "GBP")


class PolicyError(ValueError):
    """A policy value that cannot work; the message names it."""


@dataclass(frozen=True)
class ScoringPolicy:
    auto_link_threshold: float = 0.85
    review_threshold: float = 0.55
    # Qonto statuses that are not refused outright. `to_review` is Qonto's initial status for every new
    # invoice, so excluding it would stop the 15-minute flow; incomplete OCR is caught by field completeness.
    # `rejected` and `discarded` are refused. Statuses in neither set are refused.
    eligible_statuses: frozenset[str] = frozenset(ELIGIBLE_STATUSES)
    review_statuses: frozenset[str] = frozenset()
    # Invoices Qonto already paid (settled statuses, or a matched transaction / transfer on the record) and
    # invoices Qonto is paying (scheduled, pending, a transfer request) never auto-link: an accounts-payable inbox
    # would offer to pay them a second time. They go to review (ALREADY_PAID_IN_QONTO / PAYMENT_IN_QONTO) and are
    # matched to the Melio ledger as usual. `auto_link_paid_in_qonto` is the explicit opt-in for sending settled
    # history, for teams that reconcile every Melio draft by hand before paying.
    settled_statuses: frozenset[str] = frozenset({"paid", "archived"})
    payment_statuses: frozenset[str] = frozenset({"scheduled", "pending"})
    auto_link_paid_in_qonto: bool = False
    allowed_currencies: frozenset[str] = frozenset(ALLOWED_CURRENCIES)
    max_auto_link_amount: Decimal | None = Decimal("25000")
    blocked_vendor_ids: frozenset[str] = field(default_factory=frozenset)
    accepted_document_types: frozenset[str] = ACCEPTED_DOCUMENT_TYPES
    max_document_bytes: int = MELIO_MAX_DOCUMENT_BYTES

    def __post_init__(self) -> None:
        if not (0.0 <= self.review_threshold <= self.auto_link_threshold <= 1.0):
            raise PolicyError(
                f"thresholds must satisfy 0 <= review ({self.review_threshold}) <= auto-link "
                f"({self.auto_link_threshold}) <= 1"
            )
        if self.max_auto_link_amount is not None and self.max_auto_link_amount <= 0:
            raise PolicyError("max_auto_link_amount must be positive (or unset)")

    @property
    def below_auto_link(self) -> float:
        """The cap a hard rule applies: just under the auto-link threshold (never below zero)."""
        return max(0.0, self.auto_link_threshold - 0.0001)

    @property
    def below_review(self) -> float:
        return max(0.0, self.review_threshold - 0.0001)
