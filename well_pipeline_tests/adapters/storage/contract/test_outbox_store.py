"""`OutboxStore` contract: what delivery may send, the claim / complete / release steps around each e-mail, people's
decisions (confirm, re-send), holds, and the reads of the CLI and the asset check.

Written against the protocol only: records go in through `InvoiceStore` and `MatchStore` as the pipeline stores
them, so any implementation runs these tests unchanged.
"""

from __future__ import annotations

import multiprocessing
import os
from datetime import date, datetime, timedelta

import pytest

from well_pipeline.adapters.storage import Storage
from well_pipeline.adapters.storage.records import ClaimConflictError, DeliveryRow
from well_pipeline.core.delivery.plan import Action, HoldCode, OutboxEntry, OutboxState, Planned
from well_pipeline_tests.support.delivery_records import DAY, NEXT_DAY, change_record, release_records
from well_pipeline_tests.support.qonto_records import MINIMAL_PDF
from well_pipeline_tests.support.review_queue import record, store_invoices

TO = "papeterie_1234@invoicesmelio.com"
LONG_AGO = datetime(2000, 1, 1)


def claim(storage: Storage, row: DeliveryRow, *, resend: bool = False, message_id: str = ""):  # noqa: ANN201
    return storage.outbox.mark_sending(row, message_id=message_id or f"<well.{row.qonto_id}.v1@x>", to_address=TO,
                                       dedup=("V-1", row.invoice_number or ""), resend=resend)


def send(storage: Storage, row: DeliveryRow, state: OutboxState = OutboxState.SENT, *, resend: bool = False,
         hold: Planned | None = None) -> None:
    """One whole hand-over: claim, then the server's answer."""
    claim(storage, row, resend=resend)
    storage.outbox.complete(row, message_id=f"<well.{row.qonto_id}.v1@x>", state=state, code=250, reply="OK",
                            attempts=1, resend=resend, hold=hold)


def states(storage: Storage) -> dict[str, str]:
    return {q: str(e.state) for q, e in storage.outbox.entries().items()}


# ---- what delivery may send ----------------------------------------------------------------------------------------
def test_candidates_are_released_records_of_the_days_with_their_document(storage: Storage) -> None:
    rows = release_records(storage, ("q-auto", "auto_link", 0), ("q-manual", "manual_link", 1),
                           ("q-review", "review", 2), ("q-refused", "refused", 3), ("q-next", "auto_link", 30))
    assert list(rows) == ["q-auto", "q-manual", "q-next"]  # oldest first; review and refused never sent
    assert [r.qonto_id for r in storage.outbox.candidates([DAY])] == ["q-auto", "q-manual"]
    assert storage.outbox.candidates([]) == []
    auto = rows["q-auto"]
    assert (auto.record_version, auto.decision, auto.vendor_id, auto.invoice_number) == (1, "auto_link", "V-1",
                                                                                          "F-q-auto")
    assert (auto.content_type, auto.size_bytes, auto.file_name) == ("application/pdf", len(MINIMAL_PDF), "q-auto.pdf")
    assert auto.sha256 is not None and storage.documents.read(auto.sha256) == MINIMAL_PDF


def test_a_record_changed_after_scoring_is_not_a_candidate_until_rescored(storage: Storage) -> None:
    rows = release_records(storage, ("q-1", "auto_link", 0))
    raw, _ = record("q-1", decision="auto_link", invoice_number="F-q-1")
    changed = {**raw, "total_amount": {"value": "999.00", "currency": "EUR"},
               "updated_at": (datetime.fromisoformat(raw["updated_at"]) + timedelta(days=1)).isoformat()}
    store_invoices(storage, [changed])  # version 2, scored as version 1 only
    assert storage.outbox.candidates([DAY]) == []
    versions = storage.outbox.record_versions({"q-1": [1, 2, 7]})
    assert set(versions["q-1"]) == {1, 2}  # version 7 was never stored
    assert versions["q-1"][2]["total_amount"] == {"value": "999.00", "currency": "EUR"}
    assert versions["q-1"][1]["total_amount"] != versions["q-1"][2]["total_amount"]
    assert storage.outbox.record_versions({}) == {}
    assert rows["q-1"].record_version == 1


def test_pending_days_are_the_days_with_something_left_to_send(storage: Storage) -> None:
    rows = release_records(storage, ("q-1", "auto_link", 0), ("q-2", "auto_link", 30), ("q-3", "review", 50))
    assert storage.outbox.pending_days() == [DAY, NEXT_DAY]
    send(storage, rows["q-1"])
    send(storage, rows["q-2"], OutboxState.PERMANENT_FAILURE)
    assert storage.outbox.pending_days() == []  # sent, or held for a person: nothing for the next sync
    assert storage.outbox.approve_resend("q-2", "ops") == 1
    assert storage.outbox.pending_days() == [NEXT_DAY]
    send(storage, rows["q-2"], OutboxState.TEMPORARY_FAILURE, resend=True)
    assert storage.outbox.pending_days() == [NEXT_DAY]  # a temporary failure is retried by the next run


# ---- one e-mail: claim, then complete or release ------------------------------------------------------------------
def test_a_claim_is_exclusive(storage: Storage) -> None:
    rows = release_records(storage, ("q-1", "auto_link", 0), ("q-2", "auto_link", 1))
    claim(storage, rows["q-1"], message_id="<first@x>")
    assert storage.outbox.entries()["q-1"] == OutboxEntry("q-1", 1, OutboxState.SENDING, "<first@x>")
    assert storage.outbox.delivered_keys() == {("V-1", "F-q-1"): "q-1"}  # a claimed record counts as handed over
    with pytest.raises(ClaimConflictError, match="q-1 is already being sent"):
        claim(storage, rows["q-1"], message_id="<second@x>")
    assert storage.outbox.entries()["q-1"].message_id == "<first@x>"  # the refused claim changed nothing
    claim(storage, rows["q-2"])  # other records stay claimable
    assert states(storage) == {"q-1": "sending", "q-2": "sending"}


def test_a_claim_naming_its_plan_conflicts_once_the_row_moved_on(storage: Storage) -> None:
    """`expected`: a claim made from an outdated plan (another delivery claimed and completed the record since)
    is refused, so several delivery processes send a record once, not once per plan."""
    rows = release_records(storage, ("q-1", "auto_link", 0), ("q-2", "auto_link", 1))
    plan = storage.outbox.entries()  # both processes planned from here: no row for either record
    send(storage, rows["q-1"])  # the other process was quicker
    with pytest.raises(ClaimConflictError):
        storage.outbox.mark_sending(rows["q-1"], message_id="<late@x>", to_address=TO, dedup=None, resend=False,
                                    expected=plan.get("q-1"))
    assert storage.outbox.entries()["q-1"].state == OutboxState.SENT  # untouched
    storage.outbox.mark_sending(rows["q-2"], message_id="<m2@x>", to_address=TO, dedup=None, resend=False,
                                expected=plan.get("q-2"))  # the plan still holds: claimed
    assert states(storage) == {"q-1": "sent", "q-2": "sending"}

    # A re-send planned from the sent row needs its approval still unused.
    assert storage.outbox.approve_resend("q-1", "ops") == 1
    sent = storage.outbox.entries()["q-1"]
    storage.outbox.mark_sending(rows["q-1"], message_id="<r1@x>", to_address=TO, dedup=None, resend=True,
                                expected=sent)
    storage.outbox.complete(rows["q-1"], message_id="<r1@x>", state=OutboxState.SENT, code=250, reply="OK",
                            attempts=1, resend=True)
    resent = storage.outbox.entries()["q-1"]
    with pytest.raises(ClaimConflictError):  # planned from the row as it was before the re-send: outdated
        storage.outbox.mark_sending(rows["q-1"], message_id="<r2@x>", to_address=TO, dedup=None, resend=True,
                                    expected=sent)
    with pytest.raises(ClaimConflictError):  # the current row, but the approval is used up
        storage.outbox.mark_sending(rows["q-1"], message_id="<r2@x>", to_address=TO, dedup=None, resend=True,
                                    expected=resent)
    assert storage.outbox.entries()["q-1"] == resent and storage.outbox.send_audit().sent_twice == []


def test_release_restores_the_previous_row_and_the_approval(storage: Storage) -> None:
    rows = release_records(storage, ("q-new", "auto_link", 0), ("q-sent", "auto_link", 1))
    first = claim(storage, rows["q-new"])
    assert first.previous is None and first.approval_used_at is None
    storage.outbox.release(rows["q-new"], first, message_id="<m@x>", reason="quota")
    assert "q-new" not in storage.outbox.entries()  # as if never tried: pending again
    assert storage.outbox.pending_days() == [DAY]

    send(storage, rows["q-sent"])
    before = storage.outbox.entries()["q-sent"]
    storage.outbox.approve_resend("q-sent", "ops")
    again = claim(storage, rows["q-sent"], resend=True, message_id="<resend@x>")
    assert again.approval_used_at is not None and storage.outbox.approved_resends() == []
    storage.outbox.release(rows["q-sent"], again, message_id="<resend@x>", reason="the relay's quota answer")
    assert storage.outbox.entries()["q-sent"] == before
    assert storage.outbox.approved_resends() == [("q-sent", 1)]  # usable again by the next run
    assert len(storage.outbox.handed_over_since(LONG_AGO)) == 1  # a release is not a hand-over (quotas)


def test_complete_records_the_answer_and_an_attempt(storage: Storage) -> None:
    rows = release_records(storage, ("q-ok", "auto_link", 0), ("q-tmp", "auto_link", 1), ("q-lost", "auto_link", 2))
    assert storage.outbox.handed_over_since(LONG_AGO) == []
    send(storage, rows["q-ok"])
    send(storage, rows["q-tmp"], OutboxState.TEMPORARY_FAILURE)
    hold = Planned("q-lost", Action.HOLD, HoldCode.DELIVERY_UNCONFIRMED, "connection lost after the final dot")
    send(storage, rows["q-lost"], OutboxState.UNCONFIRMED, hold=hold)
    assert states(storage) == {"q-ok": "sent", "q-tmp": "temporary_failure", "q-lost": "unconfirmed"}
    handed_over = storage.outbox.handed_over_since(LONG_AGO)
    assert len(handed_over) == 2  # sent and unconfirmed count against a quota, a temporary failure does not
    assert storage.outbox.handed_over_since(max(handed_over)) == []  # each counted one second late (safe side)
    assert [(h.qonto_id, h.code) for h in storage.outbox.held(10)] == [("q-lost", "DELIVERY_UNCONFIRMED")]
    assert storage.outbox.send_audit().records_sent == 1
    assert storage.outbox.delivered_keys() == {("V-1", "F-q-ok"): "q-ok", ("V-1", "F-q-lost"): "q-lost"}


def claim_and_die(storage: Storage, row: DeliveryRow) -> None:
    """A delivery run that claims `row`, hands it over, and dies before the answer: a forked process that exits
    at once (whatever it held, files or connections, goes with it, as with a killed run)."""
    child = multiprocessing.get_context("fork").Process(target=_claim_then_exit, args=(storage, row))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0


def _claim_then_exit(storage: Storage, row: DeliveryRow) -> None:
    try:
        claim(storage, row)
    except BaseException:
        os._exit(1)
    os._exit(0)  # no clean-up, no completion: the process is gone


def test_expire_interrupted_turns_sending_rows_into_unconfirmed(storage: Storage) -> None:
    rows = release_records(storage, ("q-1", "auto_link", 0), ("q-2", "auto_link", 1))
    claim_and_die(storage, rows["q-1"])  # the run dies here, after the hand-over, before the answer
    send(storage, rows["q-2"])
    assert storage.outbox.expire_interrupted() == 1
    assert states(storage) == {"q-1": "unconfirmed", "q-2": "sent"}
    assert len(storage.outbox.handed_over_since(LONG_AGO)) == 2  # the interrupted one may have been taken
    assert storage.outbox.expire_interrupted() == 0
    assert storage.outbox.pending_days() == []  # never re-sent on its own


# ---- people's decisions -------------------------------------------------------------------------------------------
def test_confirm_is_atomic_and_only_for_an_uncertain_delivery(storage: Storage) -> None:
    rows = release_records(storage, ("q-lost", "auto_link", 0), ("q-sent", "auto_link", 1))
    send(storage, rows["q-lost"], OutboxState.UNCONFIRMED,
         hold=Planned("q-lost", Action.HOLD, HoldCode.DELIVERY_UNCONFIRMED, "may be in Melio"))
    send(storage, rows["q-sent"])
    storage.outbox.replace_holds(["q-sent"], [Planned("q-sent", Action.HOLD, HoldCode.CHANGED_AFTER_DELIVERY,
                                                      "changed")])

    assert storage.outbox.confirm_delivered("q-lost", "ops") is True
    # All of it at once: the row is sent, its hold lifted, and it counts as sent for the check.
    assert states(storage)["q-lost"] == "sent"
    assert [h.qonto_id for h in storage.outbox.held(10)] == ["q-sent"]
    assert storage.outbox.send_audit().records_sent == 2
    # Nothing to confirm: nothing of it happens (the other record's hold stays, no state moves).
    assert storage.outbox.confirm_delivered("q-sent", "ops") is False
    assert storage.outbox.confirm_delivered("q-lost", "ops") is False
    assert storage.outbox.confirm_delivered("q-unknown", "ops") is False
    assert [h.qonto_id for h in storage.outbox.held(10)] == ["q-sent"]
    assert states(storage) == {"q-lost": "sent", "q-sent": "sent"}
    assert storage.outbox.send_audit().sent_twice == []  # a confirmation is not a second send


def test_a_resend_approval_is_for_the_current_version_and_used_once(storage: Storage) -> None:
    rows = release_records(storage, ("q-1", "auto_link", 0))
    assert storage.outbox.approve_resend("q-unknown", "ops") is None
    send(storage, rows["q-1"])
    assert storage.outbox.approve_resend("q-1", "ops") == 1
    assert storage.outbox.approve_resend("q-1", "someone else") == 1  # the first approval stands
    assert storage.outbox.approved_resends() == [("q-1", 1)]
    send(storage, rows["q-1"], resend=True)
    assert storage.outbox.approved_resends() == []
    assert storage.outbox.send_audit().sent_twice == []  # an approved re-send is not a second send
    send(storage, rows["q-1"])  # a hand-over nobody approved: the check must see it
    assert storage.outbox.send_audit().sent_twice == ["q-1"]


# ---- holds and what people read -----------------------------------------------------------------------------------
def test_holds_are_replaced_per_record(storage: Storage) -> None:
    changes = {"q-2": {"delivered_version": 1, "current_version": 2,
                       "fields": {"total_amount": {"before": {"value": "1"}, "after": {"value": "2"}}}}}
    storage.outbox.replace_holds(["q-1", "q-2"], [
        Planned("q-1", Action.HOLD, HoldCode.DUPLICATE_OF_DELIVERED, "same number", related_qonto_id="q-0"),
        Planned("q-2", Action.HOLD, HoldCode.CHANGED_AFTER_DELIVERY, "changed")], changes)
    held = {h.qonto_id: h for h in storage.outbox.held(10)}
    assert held["q-1"].related_qonto_id == "q-0" and held["q-1"].changed_fields is None
    assert held["q-2"].changed_fields == changes["q-2"]
    assert len(storage.outbox.held(1)) == 1

    storage.outbox.replace_holds(["q-1"], [])  # q-1 is no longer held; q-2 is untouched
    assert [h.qonto_id for h in storage.outbox.held(10)] == ["q-2"]
    storage.outbox.replace_holds(["q-3"], [Planned("q-3", Action.HOLD, HoldCode.IN_MELIO_LEDGER, "in the ledger")])
    storage.outbox.replace_holds(["q-4"], [Planned("q-4", Action.HOLD, HoldCode.IN_MELIO_LEDGER, "in the ledger")])
    assert storage.outbox.status().holds == [("IN_MELIO_LEDGER", 2), ("CHANGED_AFTER_DELIVERY", 1)]


def test_holds_of_records_no_longer_released_are_lifted(storage: Storage) -> None:
    rows = release_records(storage, ("q-keep", "auto_link", 0), ("q-refused", "auto_link", 1),
                           ("q-changed", "auto_link", 30))
    send(storage, rows["q-refused"])
    planned = {q: Planned(q, Action.HOLD, HoldCode.IN_MELIO_LEDGER, "in the ledger")
               for q in ("q-keep", "q-refused", "q-changed", "q-unscored")}
    storage.outbox.replace_holds(list(planned), list(planned.values()))
    assert storage.outbox.lift_unreleased_holds() == 1  # q-unscored: no scored row at all
    storage.matches.record_decision(qonto_id="q-refused", action="refuse", author="ops", reason="not a bill")
    change_record(storage, "q-changed", 30, 2, decision="review")  # a new version scoring sends to review

    assert storage.outbox.lift_unreleased_holds() == 2
    assert [h.qonto_id for h in storage.outbox.held(10)] == ["q-keep"]
    assert storage.outbox.status().holds == [("IN_MELIO_LEDGER", 1)]
    assert states(storage) == {"q-refused": "sent"}  # the outbox and its audit stay
    assert storage.outbox.send_audit().records_sent == 1
    assert storage.outbox.lift_unreleased_holds() == 0


def test_dismissing_a_change_records_its_version_as_melios_and_lifts_the_hold(storage: Storage) -> None:
    rows = release_records(storage, ("q-1", "auto_link", 0), ("q-lost", "auto_link", 30))
    send(storage, rows["q-1"])
    send(storage, rows["q-lost"], OutboxState.UNCONFIRMED,
         hold=Planned("q-lost", Action.HOLD, HoldCode.DELIVERY_UNCONFIRMED, "may be in Melio"))
    assert storage.outbox.dismiss_change("q-1", 2, "ops", "fixed by hand") is False  # not held: nothing happens
    change_record(storage, "q-1", 0, 2, total_amount={"value": "999.00", "currency": "EUR"})
    changes = {"q-1": {"delivered_version": 1, "current_version": 2, "fields": {}}}
    storage.outbox.replace_holds(["q-1"], [Planned("q-1", Action.HOLD, HoldCode.CHANGED_AFTER_DELIVERY, "changed")],
                                 changes)
    assert storage.outbox.hold("q-1").changed_fields == changes["q-1"]
    assert storage.outbox.hold("q-none") is None
    assert storage.outbox.pending_days() == [DAY]  # version 2 is not delivered yet
    before = storage.outbox.entries()

    assert storage.outbox.dismiss_change("q-lost", 1, "ops", "x") is False  # another hold: untouched
    assert storage.outbox.dismiss_change("q-1", 1, "ops", "x") is False  # not a newer version
    assert storage.outbox.entries() == before and len(storage.outbox.held(10)) == 2

    assert storage.outbox.dismiss_change("q-1", 2, "ops", "amount fixed in Melio") is True
    entry = storage.outbox.entries()["q-1"]
    assert (entry.record_version, entry.state, entry.message_id) == (2, OutboxState.SENT, before["q-1"].message_id)
    assert storage.outbox.hold("q-1") is None and [h.qonto_id for h in storage.outbox.held(10)] == ["q-lost"]
    assert storage.outbox.pending_days() == []  # q-1 is delivered in its version now
    audit = storage.outbox.send_audit()
    assert (audit.records_sent, audit.sent_twice) == (1, [])  # nothing sent, and no second send
    assert len(storage.outbox.handed_over_since(LONG_AGO)) == 2  # the quota counts e-mails only
    assert storage.outbox.dismiss_change("q-1", 2, "ops", "again") is False


def test_status_counts_outbox_rows_by_state(storage: Storage) -> None:
    assert storage.outbox.status().states == [] and storage.outbox.status().holds == []
    rows = release_records(storage, ("q-1", "auto_link", 0), ("q-2", "auto_link", 1), ("q-3", "auto_link", 2))
    send(storage, rows["q-1"])
    send(storage, rows["q-2"])
    claim(storage, rows["q-3"])
    assert storage.outbox.status().states == [("sending", 1), ("sent", 2)]
    assert storage.outbox.send_audit().records_sent == 2 and storage.outbox.send_audit().sent_twice == []


# ---- what each `delivered_bills` partition shows, and what waits for delivery (issue 10) ---------------------------
def test_day_deliveries_describe_each_day_and_awaiting_lists_what_the_next_run_tries(storage: Storage) -> None:
    rows = release_records(storage, ("q-sent", "auto_link", 0), ("q-held", "auto_link", 1),
                           ("q-new", "auto_link", 2), ("q-review", "review", 3), ("q-next", "manual_link", 30))
    assert [(a.qonto_id, a.reason) for a in storage.outbox.awaiting_delivery()] == [
        ("q-sent", "not sent yet"), ("q-held", "not sent yet"), ("q-new", "not sent yet"),
        ("q-next", "not sent yet")]
    send(storage, rows["q-sent"])
    storage.outbox.replace_holds(["q-held"], [Planned("q-held", Action.HOLD, HoldCode.IN_MELIO_LEDGER, "in ledger")])
    awaiting = storage.outbox.awaiting_delivery()
    assert [(a.qonto_id, a.record_version, a.created_date) for a in awaiting] == [("q-new", 1, DAY),
                                                                                  ("q-next", 1, NEXT_DAY)]

    days = storage.outbox.day_deliveries([DAY, NEXT_DAY, date(2026, 1, 1)])
    assert set(days) == {DAY, NEXT_DAY}  # a day without released records or rows is absent
    assert (days[DAY].released, days[DAY].recorded, days[DAY].states, days[DAY].holds, days[DAY].waiting) == (
        3, 2, {"sent": 1}, {"IN_MELIO_LEDGER": 1}, 1)
    assert (days[NEXT_DAY].released, days[NEXT_DAY].recorded, days[NEXT_DAY].waiting) == (1, 0, 1)

    # A person's decision after the hold makes the held record worth another plan; an approved re-send waits too.
    send(storage, rows["q-new"], OutboxState.TEMPORARY_FAILURE)
    assert storage.outbox.approve_resend("q-sent", "ops") == 1
    reasons = {a.qonto_id: a.reason for a in storage.outbox.awaiting_delivery()}
    assert reasons == {"q-sent": "approved re-send", "q-new": "temporary failure", "q-next": "not sent yet"}
    storage.matches.record_decision(qonto_id="q-held", action="pin", author="ana", vendor_id="V-1")
    assert "q-held" in {a.qonto_id for a in storage.outbox.awaiting_delivery()}
