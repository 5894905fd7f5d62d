"""Steps 1 and 2 of a delivery run: expire interrupted sends, lift the holds of records no longer released, plan
every released record, write the holds.

The decisions are core's (`core/delivery/plan.py`); this module gathers what they need from the stores, checks
each document (readable, what its type says: `core/delivery/document_type.py`) and records why a record is held.
Storage is only touched in short store calls; the thinking and the document reads happen in between.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from well_pipeline.adapters.melio import MelioBill, MelioVendor
from well_pipeline.adapters.storage import AttachmentStore, MelioStore, OutboxStore
from well_pipeline.adapters.storage.records import DeliveryRow
from well_pipeline.core.delivery.changes import changed_fields
from well_pipeline.core.delivery.document_type import SNIFF_BYTES, content_mismatch
from well_pipeline.core.delivery.plan import (
    Action,
    DeliveryCandidate,
    HoldCode,
    OutboxEntry,
    Planned,
    plan_deliveries,
)
from well_pipeline.core.matching.ledger_index import LedgerIndex
from well_pipeline.core.matching.vendor_index import VendorIndex
from well_pipeline.core.scoring.policy import ACCEPTED_DOCUMENT_TYPES, MELIO_MAX_DOCUMENT_BYTES
from well_pipeline.services.delivery.report import DeliveryReport, DocumentStoreUnavailableError, Log
from well_pipeline.services.scoring_inputs import ledger_bills, vendor_profiles


@dataclass
class Batch:
    """The records this run sends, in order, with their rows; `entries`: the outbox rows the plan was made from
    (each claim names its own, so a row another delivery process moved on since is not claimed again);
    `handed_over`: send times of the last 24 h."""

    rows: dict[str, DeliveryRow]
    to_send: list[Planned]
    handed_over: list[datetime]
    entries: dict[str, OutboxEntry]


def plan_batch(outbox: OutboxStore, melio: MelioStore, documents: AttachmentStore, days: Sequence[date],
               report: DeliveryReport, log: Log, *, since: datetime) -> Batch:
    """Read, decide, write the holds (see the module docstring); fills the report's planning counts."""
    report.interrupted_found = outbox.expire_interrupted()
    # Before planning: a record refused in review (or by scoring, for a new version) since it was held is never
    # planned again, so only this lifts its hold; every run does it, whatever its days.
    report.holds_lifted = outbox.lift_unreleased_holds()
    rows = outbox.candidates(days)
    entries = outbox.entries()
    delivered, approvals = outbox.delivered_keys(), outbox.approved_resends()
    ledger = _ledger_keys(melio.vendors(), melio.bills())
    handed_over = outbox.handed_over_since(since)
    if report.interrupted_found:
        log(f"{report.interrupted_found} deliveries were interrupted by an earlier crash: held as unconfirmed")
    if report.holds_lifted:
        log(f"{report.holds_lifted} holds lifted: their records are no longer released (refused, or back in review)")
    report.candidates = len(rows)
    by_id = {r.qonto_id: r for r in rows}
    try:
        problems = {r.qonto_id: document_problem(r, documents) for r in rows}
    except OSError as exc:
        raise DocumentStoreUnavailableError(documents.location, exc, len(rows)) from None
    candidates = [DeliveryCandidate(r.qonto_id, r.record_version, r.vendor_id, r.supplier_name, r.invoice_number,
                                    problems[r.qonto_id] is None, problems[r.qonto_id]) for r in rows]
    plans = plan_deliveries(candidates, entries, delivered, ledger, approvals)
    holds = [p for p in plans if p.action is Action.HOLD]
    outbox.replace_holds([r.qonto_id for r in rows], holds, _changes(outbox, holds, by_id, entries))
    report.already_delivered = sum(p.action is Action.ALREADY_DELIVERED for p in plans)
    report.held.update(str(p.code) for p in holds)
    to_send = [p for p in plans if p.action is Action.SEND]
    log(f"{len(rows)} released records: {len(to_send)} to send, {report.already_delivered} already delivered, "
        f"{len(holds)} held")
    return Batch(by_id, to_send, handed_over, entries)


def document_problem(row: DeliveryRow, documents: AttachmentStore) -> str | None:
    """Why the record's document cannot go to Melio as it is (None: it can); reads only its first bytes."""
    content_type = (row.content_type or "").split(";")[0].strip().lower()
    if row.sha256 is None:
        return "the document is not stored yet"
    if content_type not in ACCEPTED_DOCUMENT_TYPES:
        return f"document type {content_type or 'unknown'} is not one Melio accepts"
    if not row.size_bytes:
        return "the document is empty"
    if row.size_bytes > MELIO_MAX_DOCUMENT_BYTES:
        return f"document is {row.size_bytes / 1_048_576:.1f} MB, over Melio's 10 MB limit"
    try:
        head = documents.read_head(row.sha256, SNIFF_BYTES)
    except FileNotFoundError:  # (AttachmentMissingError, from any store)
        return f"document file {row.sha256[:12]}… is missing from the attachment store"
    # Any other OSError (AttachmentStoreError included) is the store being unreadable, not this document being
    # bad: it propagates, and `plan_batch` stops the run before holding anything.
    mismatch = content_mismatch(content_type, head)
    if mismatch is not None:
        return f"{mismatch}; Melio would make no bill from it (check the document in Qonto)"
    return None


def _ledger_keys(vendors: list[MelioVendor], bills: list[MelioBill]) -> dict[tuple[str, str], str]:
    index = VendorIndex.build(vendor_profiles(vendors))
    ledger = LedgerIndex.build(ledger_bills(bills), index)
    return {**ledger.by_name, **ledger.by_vendor}


def _changes(outbox: OutboxStore, holds: list[Planned], by_id: dict[str, DeliveryRow],
             entries: dict[str, OutboxEntry]) -> dict[str, dict]:
    """For each record changed after delivery: the delivered and current versions and the fields that differ."""
    wanted = {h.qonto_id: (entries[h.qonto_id].record_version, by_id[h.qonto_id].record_version)
              for h in holds if h.code == HoldCode.CHANGED_AFTER_DELIVERY}
    stored = outbox.record_versions({qonto_id: list(pair) for qonto_id, pair in wanted.items()})
    changes = {}
    for qonto_id, (delivered, current) in wanted.items():
        versions = stored.get(qonto_id, {})
        if delivered in versions and current in versions:
            changes[qonto_id] = {"delivered_version": delivered, "current_version": current,
                                 "fields": changed_fields(versions[delivered], versions[current])}
    return changes
