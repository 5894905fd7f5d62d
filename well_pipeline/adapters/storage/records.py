"""Values that cross the storage boundary, shared by services and every storage implementation.

Why a module of its own: the protocols (`ports.py`) and each implementation (`duckdb/`, `postgres/`) must
agree on these types without importing each other, and services must not depend on one implementation. Types
the pure core already defines (`QueuePage`, `ReviewOverride`, `LearnedLink`...) stay in core.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from well_pipeline.core.matching.vendor_index import LearnedLink
from well_pipeline.core.record_versions import ChangeSet
from well_pipeline.core.scoring.display import QueueEntry
from well_pipeline.core.scoring.model import ReviewOverride, ScoredMatch

# ---- matches and review decisions (MatchStore) ------------------------------------------------------------------
# The decisions the review queue lists: records waiting for a person, and refused ones.
QUEUE_DECISIONS = ("review", "refused")


@dataclass(frozen=True)
class ScoredRow:
    """One scored record to store, with the Qonto day and version it was computed from."""

    match: ScoredMatch
    created_date: date
    record_version: int


class StaleRecordError(ValueError):
    """A person tried to decide on a record whose newest version has not been scored yet."""


@dataclass(frozen=True)
class ScoringInputs:
    """What scoring reads about the Qonto side and people's decisions, read together (`MatchStore.scoring_inputs`).

    `invoices` are the stored invoices created on the requested days, oldest first: each a mapping of the
    invoice's stored fields (`id`, `supplier_name`, `total_amount`, `created_date`, `version`, `raw_json`...,
    as `services/scoring_inputs.invoice_facts_from_row` reads them) plus its document's `document_type`,
    `document_size`, `document_name` and `has_document`. `duplicate_keys` covers every stored invoice:
    `(id, created_at, invoice_number, total_amount, currency, supplier_name, iban)`. `decisions_seen` is the
    latest review decision id at the time of reading (see `MatchStore.replace_days`).
    """

    invoices: list[dict[str, Any]]
    duplicate_keys: list[tuple]
    decisions_seen: int
    overrides: dict[str, ReviewOverride]
    learned: list[LearnedLink]
    observed_ibans: list[tuple[str, str, int]]


@dataclass(frozen=True)
class MatchDetails:
    """One scored record as `well review show` prints it: the queue's view plus the score's parts."""

    entry: QueueEntry
    completeness: float
    strength: float
    policy_fit: float
    due_date: date | None


@dataclass(frozen=True)
class ScoredDay:
    """One creation day's scored rows, as its `scored_matches` partition describes them: how many, by decision,
    and how many a hard rule capped."""

    rows: int
    decisions: dict[str, int]
    capped: int


@dataclass(frozen=True)
class DecisionRecord:
    """One decision a person made on a record (the history is append-only, oldest first)."""

    action: str
    vendor_id: str | None
    reason: str | None
    author: str
    decided_at: datetime


@dataclass(frozen=True)
class RowCoverage:
    """Whether `scored_matches` holds exactly one row per stored invoice of every scored day."""

    invoices_without_row: int
    rows_without_invoice: int


# ---- delivery to Melio (OutboxStore) -----------------------------------------------------------------------------
# Outcomes in the delivery audit of an e-mail the relay took (or may have taken): what a sending quota counts.
HANDED_OVER_OUTCOMES = ("sent", "unconfirmed")
# Outcome of a claim given back without any hand-over (quota answer, configuration error): audit only.
DEFERRED = "deferred"
# Audit outcome of `well delivery dismiss`: a person applied Qonto's change in Melio by hand; nothing was sent.
CHANGE_APPLIED = "change_applied_by_person"


@dataclass(frozen=True)
class DeliveryRow:
    """A record released by scoring, with everything the e-mail needs (document bytes are read separately)."""

    qonto_id: str
    record_version: int
    decision: str
    vendor_id: str | None
    vendor_name: str | None
    supplier_name: str | None
    invoice_number: str | None
    amount: str | None
    currency: str | None
    file_name: str | None
    content_type: str | None
    size_bytes: int | None
    sha256: str | None
    blob_path: str | None


class Unchecked(Enum):
    """`OutboxStore.mark_sending(expected=ANY_ROW)`: claim whatever row is there (unless it is `sending`)."""

    ANY_ROW = "any row"


ANY_ROW = Unchecked.ANY_ROW


class DatabaseUnavailableError(RuntimeError):
    """The database server cannot be reached or refuses the connection (PostgreSQL: down, wrong host, no access).
    The message names the server (a DSN with any password masked) and the driver's first line, never a secret."""


class ClaimConflictError(RuntimeError):
    """The record is already claimed (`sending`) by a delivery in progress: claiming it again could send it twice."""

    def __init__(self, qonto_id: str) -> None:
        self.qonto_id = qonto_id
        super().__init__(f"{qonto_id} is already being sent by another delivery (outbox state `sending`); "
                         "not claimed again")


@dataclass(frozen=True)
class Claim:
    """What `OutboxStore.mark_sending` replaced, so `release` can put it back: the previous outbox row (None:
    there was none; its keys are the implementation's own) and when a re-send approval was used by this claim
    (None: none was)."""

    previous: dict[str, Any] | None
    approval_used_at: datetime | None


@dataclass(frozen=True)
class HeldRecord:
    """A record delivery holds back for a person (`well delivery held`). `changed_fields`: for a record changed
    after delivery, `{"delivered_version", "current_version", "fields": {name: {"before", "after"}}}`."""

    qonto_id: str
    code: str
    reason: str
    related_qonto_id: str | None
    changed_fields: dict[str, Any] | None


@dataclass(frozen=True)
class OutboxStatus:
    """`well delivery status`: outbox rows by state (by state name) and holds by reason (most frequent first)."""

    states: list[tuple[str, int]]
    holds: list[tuple[str, int]]


@dataclass(frozen=True)
class DeliveryDay:
    """One creation day as its `delivered_bills` partition describes it. `released`: records scoring released
    (auto_link, manual_link); `recorded`: records delivery wrote something for (an outbox row or a hold), the
    partition's rows; `states`/`holds`: those rows by outbox state and by hold code; `waiting`: records the next
    delivery run would try (see `AwaitingDelivery`)."""

    released: int
    recorded: int
    states: dict[str, int]
    holds: dict[str, int]
    waiting: int


@dataclass(frozen=True)
class AwaitingDelivery:
    """A released record the next delivery run would try, whatever its day: never sent and not held (a new
    approval or pin, a record a quota pause carried over, a hold older than a person's latest decision), failed
    temporarily, or approved for a re-send. `reason` says which, in words."""

    qonto_id: str
    record_version: int
    created_date: date
    reason: str


@dataclass(frozen=True)
class SendAudit:
    """What the `no_record_sent_twice` check reads: records sent, and records handed over twice or more without a
    re-send a person approved (their Qonto ids)."""

    records_sent: int
    sent_twice: list[str]


# ---- Qonto invoices, their documents, rejects (InvoiceStore) ----------------------------------------------------
@dataclass
class UpsertCounts:
    """A running tally of the `ChangeSet`s `InvoiceStore.upsert_invoices` returns, page after page."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    stale: int = 0

    def add(self, changes: ChangeSet) -> None:
        self.new += len(changes.new)
        self.changed += len(changes.changed)
        self.unchanged += len(changes.unchanged)
        self.stale += len(changes.stale)

    @property
    def seen(self) -> int:
        return self.new + self.changed + self.unchanged + self.stale


@dataclass(frozen=True)
class AttachmentNeed:
    """A document not stored yet, and one invoice that points at it (for the failure record)."""

    attachment_id: str
    invoice_id: str


@dataclass(frozen=True)
class StoredAttachment:
    """A downloaded document: its file is in the `AttachmentStore` at `blob_path` (relative), named by `sha256`."""

    attachment_id: str
    sha256: str
    size_bytes: int
    content_type: str | None
    file_name: str | None
    blob_path: str


@dataclass(frozen=True)
class FailedAttachment:
    """A document that could not be fetched this time (retried on the next run; attempts accumulate)."""

    attachment_id: str
    invoice_id: str | None
    reason: str


@dataclass(frozen=True)
class RangeSummary:
    """Invoices created in a range of days: how many, with their document, still missing it, with OCR gaps."""

    rows: int
    with_attachment: int
    attachment_missing: int
    incomplete_ocr: int  # supplier name, invoice number, amount or due date missing


@dataclass(frozen=True)
class InvoicePreview:
    """One stored invoice as the ingest asset's preview table shows it (`created_at` in naive UTC, as stored)."""

    id: str
    created_at: datetime
    status: str | None
    supplier_name: str | None
    invoice_number: str | None
    total_amount: Decimal | None
    currency: str | None
    due_date: date | None
    version: int


@dataclass(frozen=True)
class AttachmentDigest:
    """A stored document as recorded: what its file must hash to and weigh."""

    attachment_id: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class MissingDocument:
    """An invoice whose document is not stored; `reason` is the last download failure (None: not tried yet)."""

    invoice_id: str
    reason: str | None


@dataclass(frozen=True)
class UnparsedRecord:
    """A record Qonto sent that Well could not parse: its id (or content key when it had none) and why."""

    key: str
    reason: str
