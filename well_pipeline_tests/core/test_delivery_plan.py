"""Delivery planning from the outbox: never a second e-mail without a person, never a record lost."""

from __future__ import annotations

from well_pipeline.core.delivery.changes import changed_fields
from well_pipeline.core.delivery.plan import (
    Action,
    DeliveryCandidate,
    HoldCode,
    OutboxEntry,
    OutboxState,
    dedup_key,
    plan_deliveries,
)


def candidate(qonto_id: str, number: str = "F-1", version: int = 1, vendor: str = "V-1", ok: bool = True):
    return DeliveryCandidate(qonto_id, version, vendor, "Papeterie Dupont", number, ok, None if ok else "empty")


def entry(qonto_id: str, state: OutboxState, version: int = 1) -> OutboxEntry:
    return OutboxEntry(qonto_id, version, state, f"<well.{qonto_id}.v{version}@x>")


def actions(plans) -> dict[str, tuple]:
    return {p.qonto_id: (p.action, p.code, p.resend) for p in plans}


def test_new_records_send_and_second_line_duplicates_hold() -> None:
    plans = plan_deliveries([candidate("a", "F-2024/001"), candidate("b", "f 2024 001"), candidate("c", "F-9")],
                            {}, {}, {})
    assert actions(plans) == {"a": (Action.SEND, None, False),
                              "b": (Action.HOLD, HoldCode.DUPLICATE_OF_DELIVERED, False),
                              "c": (Action.SEND, None, False)}


def test_uncertain_outcomes_are_never_resent_without_a_person() -> None:
    for state in (OutboxState.SENDING, OutboxState.UNCONFIRMED):
        (plan,) = plan_deliveries([candidate("a")], {"a": entry("a", state)}, {}, {})
        assert (plan.action, plan.code) == (Action.HOLD, HoldCode.DELIVERY_UNCONFIRMED)
    (plan,) = plan_deliveries([candidate("a")], {"a": entry("a", OutboxState.UNCONFIRMED)}, {}, {}, [("a", 1)])
    assert (plan.action, plan.resend) == (Action.SEND, True)


def test_a_temporary_failure_is_retried_only_through_the_duplicate_checks() -> None:
    outbox = {"a": entry("a", OutboxState.TEMPORARY_FAILURE)}
    plans = plan_deliveries([candidate("a"), candidate("b")], outbox, {}, {})
    assert actions(plans) == {"a": (Action.SEND, None, False),
                              "b": (Action.HOLD, HoldCode.DUPLICATE_OF_DELIVERED, False)}
    ledger = {dedup_key("V-1", None, "F-1"): "MB-1"}
    (plan,) = plan_deliveries([candidate("a")], outbox, {}, ledger)
    assert (plan.action, plan.code) == (Action.HOLD, HoldCode.IN_MELIO_LEDGER)


def test_sent_records_are_skipped_and_changes_held_until_approved() -> None:
    sent = {"a": entry("a", OutboxState.SENT)}
    assert plan_deliveries([candidate("a")], sent, {}, {})[0].action is Action.ALREADY_DELIVERED
    held = plan_deliveries([candidate("a", version=2)], sent, {}, {})[0]
    assert held.code == HoldCode.CHANGED_AFTER_DELIVERY
    approved = plan_deliveries([candidate("a", version=2)], sent, {}, {}, [("a", 2)])[0]
    assert (approved.action, approved.resend) == (Action.SEND, True)
    # An approval of the version already delivered does not send it again.
    assert plan_deliveries([candidate("a")], sent, {}, {}, [("a", 1)])[0].action is Action.ALREADY_DELIVERED


def test_an_approval_releases_a_duplicate_hold_and_a_refusal() -> None:
    plans = plan_deliveries([candidate("a"), candidate("b")], {}, {}, {}, [("b", 1)])
    assert actions(plans)["b"] == (Action.SEND, None, True)
    refused = {"a": entry("a", OutboxState.PERMANENT_FAILURE)}
    held = plan_deliveries([candidate("a")], refused, {}, {})[0]
    assert held.code == HoldCode.REFUSED_BY_SERVER and "then `well delivery resend`" in held.reason
    assert plan_deliveries([candidate("a")], refused, {}, {}, [("a", 1)])[0].resend is True


def test_documents_that_cannot_be_sent_are_held_not_dropped() -> None:
    (plan,) = plan_deliveries([candidate("a", ok=False)], {}, {}, {})
    assert (plan.action, plan.code, plan.reason) == (Action.HOLD, HoldCode.DOCUMENT_NOT_SENDABLE, "empty")


def test_changed_fields_lists_only_what_differs() -> None:
    before = {"total_amount": {"value": "10.00", "currency": "EUR"}, "due_date": "2026-01-01", "iban": "X"}
    after = {"total_amount": {"value": "12.00", "currency": "EUR"}, "due_date": "2026-01-01", "iban": "Y"}
    assert set(changed_fields(before, after)) == {"total_amount", "iban"}
