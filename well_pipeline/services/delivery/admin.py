"""What people do with deliveries: see the outbox and the holds, and the two decisions only a person makes.

- `confirm_delivered`: the message of an unconfirmed delivery *is* in Melio (found by its Message-ID): record it as
  sent. Nothing is e-mailed.
- `approve_resend`: approve one (re-)send of the record's current version; the next delivery run sends it once.
- `dismiss_change`: a record changed in Qonto after delivery, and the person made the change to the bill in Melio by
  hand: its `CHANGED_AFTER_DELIVERY` hold is lifted for that version. Nothing is e-mailed.

The rules live here so every front end (the `well delivery` commands today) applies the same ones. Each refusal
is a typed `DeliveryAdminError` whose message is plain text: front ends escape it for their medium.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from well_pipeline.adapters.storage import Storage
from well_pipeline.adapters.storage.records import OutboxStatus
from well_pipeline.core.delivery.plan import HoldCode


class DeliveryAdminError(Exception):
    """A delivery decision Well refuses; the message says why."""


class NothingToConfirmError(DeliveryAdminError):
    """The record has no unconfirmed (or interrupted) delivery: there is nothing to confirm."""

    def __init__(self, qonto_id: str) -> None:
        self.qonto_id = qonto_id
        super().__init__(f"{qonto_id} has no unconfirmed delivery to confirm")


class UnknownRecordError(DeliveryAdminError):
    """No stored Qonto record has this id."""

    def __init__(self, qonto_id: str) -> None:
        self.qonto_id = qonto_id
        super().__init__(f"no Qonto record {qonto_id}")


class NothingToDismissError(DeliveryAdminError):
    """The record has no `CHANGED_AFTER_DELIVERY` hold (any more): there is nothing to dismiss."""

    def __init__(self, qonto_id: str) -> None:
        self.qonto_id = qonto_id
        super().__init__(f"{qonto_id} has no change held to dismiss (see `well delivery held`)")


# Why `dismiss` refuses each other hold: for all of them Well never delivered the record (or does not know whether
# it did), so lifting the hold would lose a bill, hide a question only a person can answer, or decide in delivery
# what review decides (a copy is refused there, with its reason).
_NOT_DISMISSIBLE: dict[str, str] = {
    HoldCode.DELIVERY_UNCONFIRMED: "whether its e-mail reached Melio is unknown; find it in Melio and `well delivery "
                                   "confirm` it, or `well delivery resend` it",
    HoldCode.REFUSED_BY_SERVER: "Melio never got it; fix what the server said, then `well delivery resend`",
    HoldCode.DOCUMENT_NOT_SENDABLE: "Melio never got it; replace the document in Qonto, or keep the record out of "
                                    "Melio with `well review refuse`",
    HoldCode.DUPLICATE_OF_DELIVERED: "nothing of this record was sent; a copy is kept out of Melio with `well review "
                                     "refuse`, a different bill goes with `well delivery resend`",
    HoldCode.IN_MELIO_LEDGER: "nothing of this record was sent; a copy is kept out of Melio with `well review "
                              "refuse`, a different bill goes with `well delivery resend`",
}


class NotDismissibleError(DeliveryAdminError):
    """The record is held for a reason `dismiss` must not lift (see `dismiss_change`)."""

    def __init__(self, qonto_id: str, code: str) -> None:
        self.qonto_id, self.code = qonto_id, code
        why = _NOT_DISMISSIBLE.get(code, "only a change made after delivery can be dismissed")
        super().__init__(f"{qonto_id} is held {code}, which dismiss cannot lift: {why}")


@dataclass(frozen=True)
class FieldChange:
    """One field Qonto changed after the record was delivered: its delivered and current values (JSON values)."""

    name: str
    before: Any
    after: Any


@dataclass(frozen=True)
class HeldView:
    """A record delivery holds back, with the reason and, when it changed after delivery, what changed."""

    qonto_id: str
    code: str
    reason: str
    related_qonto_id: str | None
    changes: list[FieldChange]


def status(storage: Storage) -> OutboxStatus:
    """Outbox rows by state, holds by reason."""
    return storage.outbox.status()


def held(storage: Storage, *, limit: int) -> list[HeldView]:
    """At most `limit` held records, the most recently held first."""
    return [HeldView(h.qonto_id, h.code, h.reason, h.related_qonto_id,
                     [FieldChange(name, values["before"], values["after"])
                      for name, values in (h.changed_fields or {}).get("fields", {}).items()])
            for h in storage.outbox.held(limit)]


def confirm_delivered(storage: Storage, qonto_id: str, *, author: str) -> None:
    """Record the unconfirmed delivery of `qonto_id` as sent (its hold lifted); raises NothingToConfirmError."""
    if not storage.outbox.confirm_delivered(qonto_id, author):
        raise NothingToConfirmError(qonto_id)


def approve_resend(storage: Storage, qonto_id: str, *, author: str) -> int:
    """Approve one (re-)send of the record's current version, which is returned; raises UnknownRecordError."""
    version = storage.outbox.approve_resend(qonto_id, author)
    if version is None:
        raise UnknownRecordError(qonto_id)
    return version


def dismiss_change(storage: Storage, qonto_id: str, *, reason: str, author: str) -> int:
    """The person applied, by hand in Melio, the change Qonto made to a delivered record: lift its
    `CHANGED_AFTER_DELIVERY` hold without sending anything, and return the version now recorded as Melio's.

    Only that hold can be dismissed: the bill is in Melio, and the person says it matches the version `held`
    showed them. The outbox then records that version (audited with `author` and `reason`), so the next run finds it
    delivered; a later change in Qonto is held again. For every other hold Well never delivered the record (or does
    not know whether it did): dismissing it would lose a bill or hide an unanswered question, so it raises
    NotDismissibleError naming the command that settles it (`confirm`, `resend`, or `well review refuse` for a
    record that must stay out of Melio). Raises NothingToDismissError when the record has no such hold.
    """
    hold = storage.outbox.hold(qonto_id)
    if hold is None:
        raise NothingToDismissError(qonto_id)
    if hold.code != HoldCode.CHANGED_AFTER_DELIVERY:
        raise NotDismissibleError(qonto_id, hold.code)
    # The version the person was shown (`held` lists its fields), not the newest: a change Qonto made since must
    # still be held. Planning records it with every such hold (both versions are always stored).
    version = (hold.changed_fields or {}).get("current_version")
    if not isinstance(version, int) or not storage.outbox.dismiss_change(qonto_id, version, author, reason):
        raise NothingToDismissError(qonto_id)  # or another process lifted or rewrote the hold meanwhile
    return version
