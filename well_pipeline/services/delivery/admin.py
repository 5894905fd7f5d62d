"""What people do with deliveries: see the outbox and the holds, and the two decisions only a person makes.

- `confirm_delivered`: the message of an unconfirmed delivery *is* in Melio (found by its Message-ID): record it as
  sent. Nothing is e-mailed.
- `approve_resend`: approve one (re-)send of the record's current version; the next delivery run sends it once.

The rules live here so every front end (the `well delivery` commands today) applies the same ones. Each refusal
is a typed `DeliveryAdminError` whose message is plain text: front ends escape it for their medium.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from well_pipeline.adapters.storage import Storage
from well_pipeline.adapters.storage.records import OutboxStatus


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
