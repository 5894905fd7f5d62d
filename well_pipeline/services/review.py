"""The review queue's use cases: list it, show one record, and approve, pin or refuse a record.

The rules a decision must pass live here, not in the CLI, so every front end (the `well review` commands today,
a web page tomorrow) applies the same ones:
- only a scored record can be decided (a person decides on what Well showed them);
- `approve` needs a candidate vendor (otherwise the person must `pin` one);
- a pinned vendor must exist in the Melio directory;
- a record Qonto changed since it was scored cannot be decided until its new version is scored (the store
  enforces this inside the decision's transaction, where no scoring run can slip in between);
- a decision is about the record's decision as this use case read it: when another person decided in between
  (two people at once, on PostgreSQL), the store refuses the later one and it is stale (`RecordChangedError`).

Each refusal is a typed `ReviewError` whose message is plain text: front ends escape it for their medium.
A decision is stored with its author and time and applied to the scored row at once; scoring reads it back on
every later run, so it survives re-runs, backfills and disconnects.
"""

from __future__ import annotations

from dataclasses import dataclass

from well_pipeline.adapters.storage.ports import Storage
from well_pipeline.adapters.storage.records import QUEUE_DECISIONS, DecisionRecord, MatchDetails, StaleRecordError
from well_pipeline.core.scoring.display import QueuePage
from well_pipeline.core.scoring.model import ReviewOverride


class ReviewError(Exception):
    """A review action Well refuses; the message says why and what to do instead."""


class NotScoredError(ReviewError):
    """The record has no scored row (unknown id, or its day was never scored)."""

    def __init__(self, qonto_id: str, hint: str = "") -> None:
        self.qonto_id = qonto_id
        super().__init__(f"no scored record {qonto_id}" + (f": {hint}" if hint else ""))


class NoCandidateError(ReviewError):
    """`approve` on a record scoring found no vendor for: there is nothing to approve."""

    def __init__(self, qonto_id: str) -> None:
        self.qonto_id = qonto_id
        super().__init__(f"{qonto_id} has no candidate vendor to approve; use "
                         f"`well review pin {qonto_id} --vendor VENDOR_ID`")


class UnknownVendorError(ReviewError):
    """The vendor id given is not in the Melio vendor directory."""

    def __init__(self, vendor_id: str) -> None:
        self.vendor_id = vendor_id
        super().__init__(f"unknown Melio vendor '{vendor_id}' (see melio_vendors)")


class RecordChangedError(ReviewError):
    """Qonto changed the record since it was scored, or someone decided on it meanwhile: the person has not seen
    what it is now."""


@dataclass(frozen=True)
class RecordView:
    """One scored record and every decision made on it (oldest first)."""

    details: MatchDetails
    history: list[DecisionRecord]


@dataclass(frozen=True)
class DecisionOutcome:
    """A recorded decision, and the record's decision before it (`review`, `refused`, `auto_link`...)."""

    override: ReviewOverride
    previous_decision: str


def list_queue(storage: Storage, *, limit: int | None, refused_only: bool = False) -> QueuePage:
    """Records waiting for a person and refused ones (only refused ones with `refused_only`), at most `limit`
    per section (None: all), in reading order with every section's true total."""
    return storage.matches.queue(limit=limit, decisions=("refused",) if refused_only else QUEUE_DECISIONS)


def show(storage: Storage, qonto_id: str) -> RecordView:
    details = storage.matches.details(qonto_id)
    if details is None:
        raise NotScoredError(qonto_id)
    return RecordView(details, storage.matches.decision_history(qonto_id))


def approve(storage: Storage, qonto_id: str, *, author: str) -> DecisionOutcome:
    """Accept the scored vendor: the record becomes a manual link and flows on to delivery."""
    return _decide(storage, qonto_id, "approve", author)


def pin(storage: Storage, qonto_id: str, vendor_id: str, *, author: str) -> DecisionOutcome:
    """Link the record to `vendor_id` by hand; scoring learns the supplier's name and IBAN from it."""
    return _decide(storage, qonto_id, "pin", author, vendor_id=vendor_id)


def refuse(storage: Storage, qonto_id: str, reason: str, *, author: str) -> DecisionOutcome:
    """Keep the record out of Melio, with a reason."""
    return _decide(storage, qonto_id, "refuse", author, reason=reason)


def _decide(storage: Storage, qonto_id: str, action: str, author: str, *, vendor_id: str | None = None,
            reason: str | None = None) -> DecisionOutcome:
    details = storage.matches.details(qonto_id)
    if details is None:
        raise NotScoredError(qonto_id, "materialise scored_matches for its day first")
    if action == "approve" and details.entry.vendor_id is None:
        raise NoCandidateError(qonto_id)
    if vendor_id is not None and not storage.melio.vendor_exists(vendor_id):
        raise UnknownVendorError(vendor_id)
    try:
        override = storage.matches.record_decision(qonto_id=qonto_id, action=action, author=author,
                                                   vendor_id=vendor_id, reason=reason,
                                                   expected_decision=details.entry.decision)
    except StaleRecordError as exc:
        raise RecordChangedError(str(exc)) from exc
    return DecisionOutcome(override, details.entry.decision)
