"""Qonto's additional supplier-invoice fields (issue 7), derived from what the record already says.

The live API returns more than the docs' first examples: e-invoicing lifecycle events, Qonto's own supplier
record (`supplier_id`), the issuer's legal name read from a structured e-invoice, self-billing and related
invoices, a transfer request and the actions the UI offers (reference qonto-api.md §3 and §12). All of them
are optional and nullable; their exact value vocabularies are UNCONFIRMED, so this module keeps to the
shapes and codes the reference lists and chooses values consistent with the record's status and data,
because a matcher may rely on that consistency (a paid invoice never offers `pay`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from . import identifiers as ids

# French e-invoicing lifecycle ("CDV") status codes; whether Qonto relays these codes verbatim is UNCONFIRMED.
_DEPOSITED, _RECEIVED, _TAKEN_OVER, _APPROVED, _REFUSED, _PAYMENT_SENT = "200", "202", "204", "205", "210", "211"
_REFUSAL_REASONS = (("DOUBLON", "Invoice already received"), ("MONTANT_ERR", "Total amount is wrong"),
                    ("DEST_ERR", "Wrong recipient"))
# Statuses in which Qonto is paying or has paid the invoice: `pay` is not offered there.
_NOT_PAYABLE = frozenset({"to_approve", "pending", "scheduled", "paid", "archived", "rejected", "discarded"})
_NOT_DELETABLE = frozenset({"pending", "scheduled", "paid"})
_NOT_ARCHIVABLE = frozenset({"pending", "scheduled", "archived", "rejected", "discarded"})
PAYMENT_LINK_FIELDS = ("request_transfer", "transfer_ids", "matched_transactions")


def lifecycle_events(
    rng: random.Random, status: str, created_ms: int, updated_ms: int, fmt_ts: Callable[[int], str]
) -> list[dict[str, Any]]:
    """1-3 lifecycle events of an incoming e-invoice, oldest first, none later than `updated_at`.

    Deposited on the platform shortly before Qonto received it, then received, then a final event that
    follows the Qonto status (refused when rejected/discarded, payment sent when paid).
    """
    final = _APPROVED
    reason: tuple[str | None, str | None] = (None, None)
    if status in ("rejected", "discarded"):
        final = _REFUSED
        reason = rng.choice(_REFUSAL_REASONS)
    elif status == "paid":
        final = _PAYMENT_SENT
    elif status in ("to_review", "to_approve"):
        final = _TAKEN_OVER
    codes = [_DEPOSITED, _RECEIVED, final][: rng.choice((1, 2, 2, 3, 3, 3))]
    moment = created_ms - rng.randint(60_000, 3_600_000)
    events: list[dict[str, Any]] = []
    for i, code in enumerate(codes):
        if i:  # later events: after the previous one and Qonto's receipt, never after updated_at
            low = max(moment + 1000, created_ms)
            moment = min(updated_ms, rng.randint(low, max(low, updated_ms)))
        is_final_refusal = code == _REFUSED
        events.append({
            "status_code": code,
            "reason": reason[0] if is_final_refusal else None,
            "reason_message": reason[1] if is_final_refusal else None,
            "timestamp": fmt_ts(moment),
        })
    return events


def request_transfer(rng: random.Random, status: str, member_ids: tuple[str, ...]) -> dict[str, str] | None:
    """A transfer requested in Qonto: always behind scheduled/pending, behind half the paid invoices."""
    if status in ("scheduled", "pending") or (status == "paid" and rng.random() < 0.5):
        return {"id": ids.uuid4_from(rng), "initiator_id": rng.choice(member_ids)}
    return None


def available_actions(
    status: str, *, has_iban: bool, missing_data: bool, credit_note: bool, self_invoice: bool
) -> dict[str, Any]:
    """What the Qonto UI offers for the invoice, with the blocking reason codes of the reference.

    UNCONFIRMED which statuses Qonto really allows each action in; the choice here is the conservative one
    (nothing in payment or settled can be paid, deleted or archived again).
    """
    pay: list[str] = []
    if status in _NOT_PAYABLE:
        pay.append("invalid_status")
    if not has_iban:
        pay.append("missing_iban")
    if missing_data:
        pay.append("missing_data")
    if credit_note:
        pay.append("is_credit_note")
    delete = ["invalid_status"] if status in _NOT_DELETABLE else []
    archive = ["invalid_status"] if status in _NOT_ARCHIVABLE else []
    if self_invoice:
        delete.append("linked_self_invoice")
        archive.append("linked_self_invoice")
    unarchive = [] if status == "archived" else ["invalid_status"]
    return {
        "delete": not delete, "archive": not archive, "unarchive": not unarchive, "pay": not pay,
        "reasons": {"pay": pay, "delete": delete, "archive": archive, "unarchive": unarchive},
    }


def payment_links(record: dict[str, Any]) -> tuple[str, ...]:
    """The payment fields that are non-empty on `record`, in the spec's order (paid or being paid in Qonto)."""
    return tuple(name for name in PAYMENT_LINK_FIELDS if record.get(name))
