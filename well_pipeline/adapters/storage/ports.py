"""What Well needs from its storage, one protocol per aggregate; each implementation owns its connections.

Why protocols: services, the Dagster layer and the CLI must not know which database holds the data (DuckDB on one
machine, PostgreSQL for multi-node deployments). They call these methods; every method opens, uses and
closes its own connection, and a write is one short transaction that never spans network work (Qonto, SMTP), so
readers (the CLI) are never locked out for long.

The aggregates:
- `InvoiceStore`: Qonto supplier invoices, their versions and documents' metadata, rejected records, and the
  named sync markers (they move with the invoices they describe);
- `MelioStore`: the Melio vendor directory and ledger, replaced as a whole from each export;
- `MatchStore`: scored matches and people's review decisions;
- `OutboxStore`: delivery to Melio: the outbox, attempts, holds and re-send approvals.

`Storage` bundles one of each plus the content-addressed document files. Implementations live in one folder each
(`adapters/storage/duckdb/`, `adapters/storage/postgres/`; `choice.py` picks one from the settings);
`well_pipeline_tests/adapters/storage/contract/` runs the same tests against every one of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Protocol

from well_pipeline.adapters.melio import CsvLoad, MelioBill, MelioVendor
from well_pipeline.adapters.qonto.records import RejectedRecord, SupplierInvoice
from well_pipeline.adapters.storage.attachment_store import AttachmentStore
from well_pipeline.adapters.storage.records import (
    ANY_ROW,
    QUEUE_DECISIONS,
    AttachmentDigest,
    AttachmentNeed,
    AwaitingDelivery,
    Claim,
    DecisionRecord,
    DeliveryDay,
    DeliveryRow,
    FailedAttachment,
    HeldRecord,
    InvoicePreview,
    MatchDetails,
    MissingDocument,
    OutboxStatus,
    RangeSummary,
    RowCoverage,
    ScoredDay,
    ScoredRow,
    ScoringInputs,
    SendAudit,
    StoredAttachment,
    Unchecked,
    UnparsedRecord,
)
from well_pipeline.core.delivery.plan import OutboxEntry, OutboxState, Planned
from well_pipeline.core.record_versions import ChangeSet
from well_pipeline.core.scoring.display import QueuePage
from well_pipeline.core.scoring.model import ReviewOverride


class InvoiceStore(Protocol):
    """Qonto supplier invoices, document metadata, rejected records and sync markers.

    Rows are keyed on the Qonto id: storing the same record again changes nothing, a changed record becomes a new
    version (the previous one is kept), and a copy older than the stored one (by `updated_at`) never overwrites it.
    """

    def upsert_invoices(self, invoices: Sequence[SupplierInvoice], rejects: Sequence[RejectedRecord] = ()
                        ) -> ChangeSet:
        """Store one listed page at once: the invoices (new, changed, unchanged or stale, as returned), the records
        that could not be parsed (kept with their reason, counted when seen again) and, since they parse now, no
        reject left for the ids of `invoices`."""
        ...

    def attachments_needed(self, start: date, end: date) -> list[AttachmentNeed]:
        """Documents of invoices created in [start, end) that are not stored yet (failed ones included: retried),
        by attachment id."""
        ...

    def record_attachments(self, stored: Sequence[StoredAttachment], failed: Sequence[FailedAttachment] = ()
                           ) -> None:
        """One batch of download outcomes: stored documents (their failures forgotten; a document already stored
        stays as it was) and failures (attempts accumulate)."""
        ...

    def get_marker(self, name: str) -> str | None:
        """The value of the named marker (the Qonto sync marker among them), None when never set."""
        ...

    def set_marker(self, name: str, value: str) -> None: ...

    def range_summary(self, start: date, end: date) -> RangeSummary:
        """Counts over the invoices created in [start, end)."""
        ...

    def preview(self, start: date, end: date, limit: int = 10) -> list[InvoicePreview]:
        """The newest `limit` invoices created in [start, end) (by creation time, then id)."""
        ...

    def count(self) -> int:
        """Invoices stored (one per Qonto id)."""
        ...

    def day_summaries(self, days: Sequence[date]) -> dict[date, RangeSummary]:
        """The counts of `range_summary` for each of `days` that holds invoices (a day without any is absent)."""
        ...

    def days_changed_since(self, moment: datetime) -> list[date]:
        """Creation days (ascending) of invoices stored or changed at or after `moment` (naive UTC), or whose
        document was stored then: the days an ingest run starting at `moment` rewrote."""
        ...

    def attachment_digests(self) -> list[AttachmentDigest]:
        """Every stored document's recorded digest and size, by attachment id."""
        ...

    def missing_documents(self) -> list[MissingDocument]:
        """Invoices pointing at a document that is not stored, by invoice id, with the last failure's reason."""
        ...

    def count_without_attachment(self) -> int:
        """Invoices Qonto holds no document for (no attachment id)."""
        ...

    def unparsed_records(self) -> list[UnparsedRecord]:
        """Records kept as rejects, most recently seen first."""
        ...


class MelioStore(Protocol):
    """The Melio vendor directory and bill ledger."""

    def replace_vendors(self, load: CsvLoad[MelioVendor]) -> None:
        """The whole directory becomes `load.rows` (its row errors, warnings and notes are kept beside), at once."""
        ...

    def replace_bills(self, load: CsvLoad[MelioBill]) -> None:
        """The whole ledger becomes `load.rows` (its row errors, warnings and notes are kept beside), at once."""
        ...

    def vendors(self) -> list[MelioVendor]:
        """Every vendor, in the export's order (line, then id)."""
        ...

    def bills(self) -> list[MelioBill]:
        """Every ledger bill, in the export's order (line, then id)."""
        ...

    def vendor_exists(self, vendor_id: str) -> bool: ...

    def latest_load_time(self) -> datetime | None:
        """When the directory or the ledger was last replaced (None: never): scores older than this are stale."""
        ...


class MatchStore(Protocol):
    """Scored matches and review decisions.

    Scored rows are derived data (each scoring run replaces its days); decisions are what people decided,
    append-only, the latest per record wins, and only for the record version it was made on.
    """

    def scoring_inputs(self, days: Sequence[date]) -> ScoringInputs:
        """The invoices created on `days` with their documents, every invoice's duplicate key, and the people's
        decisions and confirmed links scoring applies, read together."""
        ...

    def replace_days(self, days: Sequence[date], rows: Sequence[ScoredRow], decisions_seen: int | None = None
                     ) -> None:
        """The scored rows of `days` become `rows` (a row whose record moved to another day leaves it) in one
        transaction; decisions recorded after `decisions_seen` (while scoring computed) are applied on top."""
        ...

    def stale_dates(self, melio_loaded_at: datetime | None) -> list[date]:
        """Days (ascending) holding an invoice never scored, changed since, whose document arrived after its
        scoring, or scored at or before `melio_loaded_at`."""
        ...

    def record_decision(self, *, qonto_id: str, action: str, author: str, vendor_id: str | None = None,
                        reason: str | None = None, expected_decision: str | None = None) -> ReviewOverride:
        """Store a decision (`approve`, `pin`, `refuse`) and apply it to the scored row, in one transaction.

        `approve` without `vendor_id` takes the scored vendor. Raises `KeyError` for an unknown record and
        `StaleRecordError` when the record changed in Qonto since it was scored (or was never scored), or when
        `expected_decision` (the decision the person was shown, e.g. `review`) is given and the scored row's
        decision is no longer it: someone decided meanwhile, so of two people deciding at once one wins.
        """
        ...

    def decision_history(self, qonto_id: str) -> list[DecisionRecord]:
        """Every decision made on the record, oldest first."""
        ...

    def queue(self, limit: int | None = None, decisions: Sequence[str] = QUEUE_DECISIONS,
              days: Sequence[date] | None = None) -> QueuePage:
        """Records whose decision is one of `decisions` (optionally created on `days`) in reading order, at most
        `limit` per section (None: all), with every section's true total."""
        ...

    def details(self, qonto_id: str) -> MatchDetails | None:
        """One scored record joined with its invoice (None when it has no scored row)."""
        ...

    def row_coverage(self) -> RowCoverage:
        """Stored invoices of scored days without a scored row, and scored rows without an invoice."""
        ...

    def scores_out_of_range(self) -> int:
        """Scored rows whose score or a part of it lies outside [0, 1]."""
        ...

    def auto_links_with_hard_rules(self) -> list[tuple[str, tuple[str, ...]]]:
        """(qonto_id, hard rules) of every auto_link that breaks a hard rule, by id (there should be none)."""
        ...

    def day_decisions(self, days: Sequence[date]) -> dict[date, ScoredDay]:
        """Each of `days` holding scored rows: how many, by decision, and how many a hard rule capped."""
        ...


class OutboxStore(Protocol):
    """The delivery outbox, its attempts, holds and re-send approvals.

    Exactly once: a record's outbox row is claimed (`mark_sending`, committed) before its e-mail leaves and
    completed (`complete`) or given back (`release`) after, each its own short transaction, never held across the
    SMTP exchange. A row left `sending` by a dead run becomes `unconfirmed` (`expire_interrupted`), never pending:
    only a person (`confirm_delivered`, `approve_resend`) lets it go further. The delivery service claims with
    `expected=` (the row it planned from), so delivery processes sending at once claim each record once;
    `expire_interrupted` still takes any `sending` row for a dead run's, so only one run per workspace should be
    starting at a time. Times are naive UTC, whole seconds.
    """

    # -- planning a run -------------------------------------------------------------------------------------------
    def expire_interrupted(self) -> int:
        """Rows a dead run left `sending` become `unconfirmed` (their outcome is unknown), each audited; how many."""
        ...

    def candidates(self, days: Sequence[date]) -> list[DeliveryRow]:
        """Records scoring released (auto_link, manual_link) on `days`, in the very version it scored, with their
        document's metadata; oldest first."""
        ...

    def entries(self) -> dict[str, OutboxEntry]:
        """Every outbox row, by Qonto id."""
        ...

    def delivered_keys(self) -> dict[tuple[str, str], str]:
        """(vendor, number) → Qonto id of the first record handed to Melio (sent, sending or unconfirmed)."""
        ...

    def approved_resends(self) -> list[tuple[str, int]]:
        """(Qonto id, version) of every re-send approval not used yet."""
        ...

    def handed_over_since(self, since: datetime) -> list[datetime]:
        """When each e-mail the relay took (or may have taken) since `since` was recorded, each counted one second
        late (stored times are rounded down): a sending quota's history."""
        ...

    def record_versions(self, wanted: Mapping[str, Sequence[int]]) -> dict[str, dict[int, dict]]:
        """The stored Qonto payloads of these versions of these records: {qonto_id: {version: payload}} (a
        version not stored is absent)."""
        ...

    def replace_holds(self, qonto_ids: Sequence[str], holds: Sequence[Planned],
                      changes: Mapping[str, dict] | None = None) -> None:
        """The holds of `qonto_ids` become `holds` (with `changes[qonto_id]` as the changed fields), at once."""
        ...

    def lift_unreleased_holds(self) -> int:
        """Lift, at once, the hold of every record scoring no longer releases (its scored decision is not
        auto_link or manual_link, or it has no scored row: refused in review, or a new version scoring refused or
        sent to review); how many. A hold only exists for a record delivery would otherwise send, so `held` and
        `status` count what a person still has to act on. The outbox row and its audit stay as they are."""
        ...

    def pending_days(self) -> list[date]:
        """Days holding a released record not delivered in its current version, failed temporarily, or approved
        for a re-send (a record a quota pause carried over has no outbox row yet: included); ascending."""
        ...

    # -- one e-mail -----------------------------------------------------------------------------------------------
    def mark_sending(self, row: DeliveryRow, *, message_id: str, to_address: str, dedup: tuple[str, str] | None,
                     resend: bool, expected: OutboxEntry | None | Unchecked = ANY_ROW) -> Claim:
        """Claim the record (state `sending`), committed before the e-mail leaves; a re-send uses up its approval
        here. Returns what `release` needs to undo the claim. A claim is exclusive: raises ClaimConflictError
        (nothing changed) when the record is already `sending`.

        `expected`: the outbox row the caller planned from (`entries()`; None: no row). When given, the claim
        also conflicts when the row is no longer that one (another process claimed, completed or released it
        since the plan was read): with several delivery processes, a record is then claimed once, not once per
        plan. A re-send then also needs its approval unused."""
        ...

    def release(self, row: DeliveryRow, claim: Claim, *, message_id: str, reason: str) -> None:
        """Undo a claim whose e-mail was never handed over: the row as it was (none if there was none), the
        approval usable again, a `deferred` audit line with `reason`."""
        ...

    def complete(self, row: DeliveryRow, *, message_id: str, state: OutboxState, code: int | None, reply: str,
                 attempts: int, resend: bool, hold: Planned | None = None) -> None:
        """The server's answer (or its absence): the row's new state, an audit line, and `hold` (if any) replacing
        the record's hold, in one transaction."""
        ...

    # -- people's decisions ---------------------------------------------------------------------------------------
    def approve_resend(self, qonto_id: str, author: str) -> int | None:
        """Approve one (re-)send of the record's current version; that version, or None when there is no such
        record. Approving the same version twice keeps the first approval."""
        ...

    def confirm_delivered(self, qonto_id: str, author: str) -> bool:
        """A person found the message in Melio: an unconfirmed (or `sending`) row becomes sent, audited, its hold
        lifted, at once. False (nothing changed) when the record has no such row."""
        ...

    def dismiss_change(self, qonto_id: str, version: int, author: str, reason: str) -> bool:
        """A person applied in Melio, by hand, the change Qonto made to a delivered record: when the record is
        held `CHANGED_AFTER_DELIVERY` and its outbox row is `sent` in an older version than `version` (the
        hold's `current_version`), the row takes `version` as the one Melio's bill holds (its Message-ID stays
        the e-mail's), an audit line (`change_applied_by_person`, with `reason` and `author`) is added and the
        hold lifted, at once; nothing is sent. The next run then finds `version` delivered, and holds the record
        again only for a later version. False (nothing changed) otherwise."""
        ...

    # -- what people and checks read ------------------------------------------------------------------------------
    def status(self) -> OutboxStatus:
        """Outbox rows by state, holds by reason."""
        ...

    def held(self, limit: int) -> list[HeldRecord]:
        """At most `limit` holds, the most recent first."""
        ...

    def hold(self, qonto_id: str) -> HeldRecord | None:
        """The record's hold, None when it is not held."""
        ...

    def send_audit(self) -> SendAudit:
        """Records sent, and records handed over twice without an approved re-send (Qonto ids, sorted)."""
        ...

    def day_deliveries(self, days: Sequence[date]) -> dict[date, DeliveryDay]:
        """Each of `days` holding a released record or a delivery row, as its `delivered_bills` partition shows it."""
        ...

    def awaiting_delivery(self) -> list[AwaitingDelivery]:
        """Every released record the next delivery run would try, whatever its day (oldest first): the
        "deliver approved now" job and the sync sensor read it. Only reads, so a read-only open serves it."""
        ...


class Storage(Protocol):
    """One workspace's data: the four aggregates and the document files."""

    invoices: InvoiceStore
    melio: MelioStore
    matches: MatchStore
    outbox: OutboxStore
    documents: AttachmentStore

    @property
    def location(self) -> str:
        """Where the data lives, for logs and metadata (a path or a DSN without its password)."""
        ...
