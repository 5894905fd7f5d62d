"""Plan each delivery from the outbox: every bill once, never twice, nothing lost.

The outbox row of a record is written *before* its e-mail leaves and completed *after*; this module decides,
from that row and the record, what happens next. The rule that matters most: a row still `sending` (the
process died between handing the message over and recording the answer) or `unconfirmed` (the connection
broke after the whole message was transmitted) is **never re-sent automatically**. It may already be in
Melio; a person checks the inbox (the deterministic Message-ID makes that a search) and confirms or approves a
re-send. A silent second e-mail would be a duplicate bill; a held record is only a delay.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from well_pipeline.core.matching.normalize import normalize_invoice_number, normalize_name


class OutboxState(StrEnum):
    SENDING = "sending"
    SENT = "sent"
    TEMPORARY_FAILURE = "temporary_failure"
    PERMANENT_FAILURE = "permanent_failure"
    UNCONFIRMED = "unconfirmed"


class Action(StrEnum):
    SEND = "send"
    ALREADY_DELIVERED = "already_delivered"
    HOLD = "hold"


class HoldCode(StrEnum):
    DELIVERY_UNCONFIRMED = "DELIVERY_UNCONFIRMED"
    CHANGED_AFTER_DELIVERY = "CHANGED_AFTER_DELIVERY"
    REFUSED_BY_SERVER = "REFUSED_BY_SERVER"
    DUPLICATE_OF_DELIVERED = "DUPLICATE_OF_DELIVERED"
    IN_MELIO_LEDGER = "IN_MELIO_LEDGER"
    DOCUMENT_NOT_SENDABLE = "DOCUMENT_NOT_SENDABLE"


@dataclass(frozen=True)
class OutboxEntry:
    qonto_id: str
    record_version: int
    state: OutboxState
    message_id: str


@dataclass(frozen=True)
class DeliveryCandidate:
    """A record scoring released (auto_link or manual_link), as delivery sees it."""

    qonto_id: str
    record_version: int
    vendor_id: str | None
    supplier_name: str | None
    invoice_number: str | None
    document_ok: bool
    document_problem: str | None = None


@dataclass(frozen=True)
class Planned:
    qonto_id: str
    action: Action
    code: str | None = None
    reason: str = ""
    related_qonto_id: str | None = None
    resend: bool = False


def dedup_key(vendor_id: str | None, supplier_name: str | None, invoice_number: str | None) -> tuple[str, str] | None:
    """The second-line identity of a bill: (vendor, normalised invoice number); None without a number."""
    number = normalize_invoice_number(invoice_number)
    who = vendor_id or normalize_name(supplier_name).key
    return (who, number) if number and who else None


def plan_deliveries(
    candidates: Sequence[DeliveryCandidate],
    outbox: Mapping[str, OutboxEntry],
    delivered_keys: Mapping[tuple[str, str], str],
    ledger_bills: Mapping[tuple[str, str], str],
    approved_resends: Iterable[tuple[str, int]] = (),
) -> list[Planned]:
    """Decide send / already delivered / hold for each candidate, in order (earlier candidates win ties)."""
    approvals = set(approved_resends)
    claimed = dict(delivered_keys)
    plans = []
    for c in candidates:
        entry = outbox.get(c.qonto_id)
        approved = (c.qonto_id, c.record_version) in approvals
        if approved and c.document_ok and (entry is None or entry.state is not OutboxState.SENT
                                           or c.record_version > entry.record_version):
            # A person looked at this record and asked for it to go (again): once, with this version.
            plans.append(Planned(c.qonto_id, Action.SEND, resend=True))
            _claim(claimed, c)
            continue
        if entry is not None and entry.state is not OutboxState.TEMPORARY_FAILURE:
            plans.append(_plan_existing(c, entry))
            continue
        # New, or refused with a 4xx last time (the server did not take it): the same checks as a new record.
        plans.append(_plan_fresh(c, claimed, ledger_bills))
    return plans


def _claim(claimed: dict[tuple[str, str], str], c: DeliveryCandidate) -> None:
    key = dedup_key(c.vendor_id, c.supplier_name, c.invoice_number)
    if key is not None:
        claimed.setdefault(key, c.qonto_id)


def _plan_fresh(c: DeliveryCandidate, claimed: dict[tuple[str, str], str],
                ledger_bills: Mapping[tuple[str, str], str]) -> Planned:
    if not c.document_ok:
        return Planned(c.qonto_id, Action.HOLD, HoldCode.DOCUMENT_NOT_SENDABLE,
                       c.document_problem or "no document Melio accepts")
    key = dedup_key(c.vendor_id, c.supplier_name, c.invoice_number)
    in_ledger = next((ledger_bills[k] for k in (key, dedup_key(None, c.supplier_name, c.invoice_number))
                      if k is not None and k in ledger_bills), None)
    if in_ledger is not None:
        return Planned(c.qonto_id, Action.HOLD, HoldCode.IN_MELIO_LEDGER,
                       f"invoice {c.invoice_number} of this vendor is already Melio bill {in_ledger}; "
                       "`well delivery resend` sends it anyway")
    if key is not None and claimed.get(key, c.qonto_id) != c.qonto_id:
        other = claimed[key]
        return Planned(c.qonto_id, Action.HOLD, HoldCode.DUPLICATE_OF_DELIVERED,
                       f"invoice {c.invoice_number} of this vendor was already sent as Qonto record {other}; "
                       "`well delivery resend` sends it anyway", related_qonto_id=other)
    if key is not None:
        claimed[key] = c.qonto_id
    return Planned(c.qonto_id, Action.SEND)


def _plan_existing(c: DeliveryCandidate, entry: OutboxEntry) -> Planned:
    """A record with an outbox row that is sent, refused for good, or of unknown outcome (no approval)."""
    if entry.state is OutboxState.SENT:
        if c.record_version <= entry.record_version:
            return Planned(c.qonto_id, Action.ALREADY_DELIVERED)
        return Planned(c.qonto_id, Action.HOLD, HoldCode.CHANGED_AFTER_DELIVERY,
                       f"Qonto changed the record after version {entry.record_version} was delivered; apply the "
                       "change in Melio, or approve a re-send (`well delivery resend`)")
    if entry.state is OutboxState.PERMANENT_FAILURE:
        return Planned(c.qonto_id, Action.HOLD, HoldCode.REFUSED_BY_SERVER,
                       "the mail server refused the message permanently (its reply: the outbox row's last_reply, "
                       "docs/tables.md); fix what it says, then `well delivery resend`")
    return Planned(c.qonto_id, Action.HOLD, HoldCode.DELIVERY_UNCONFIRMED,
                   f"the outcome of sending {entry.message_id} is unknown (interrupted after hand-over); check the "
                   "Melio inbox for it, then `well delivery confirm` or `well delivery resend`")
