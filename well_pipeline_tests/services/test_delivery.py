"""The delivery use cases without Dagster: a run against the Melio inbox sandbox (TLS 1.3, AUTH) on a real DuckDB
storage, the days a run covers, and the decisions people make (`well delivery` calls these)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from well_pipeline.adapters.melio import SmtpMailer
from well_pipeline.adapters.secrets.secret import Secret
from well_pipeline.adapters.storage import DuckDBStorage, Storage
from well_pipeline.core.delivery.plan import Action, HoldCode, OutboxState, Planned
from well_pipeline.sandbox.melio import InboxConfig, MelioInbox
from well_pipeline.services import delivery, review
from well_pipeline.settings_rules import SettingsError
from well_pipeline_tests.support.delivery_records import DAY, NEXT_DAY, change_record, release_records

INBOX = "papeterie_1234@invoicesmelio.com"
FROM = "well@papeterie-client.example"


@pytest.fixture
def storage(tmp_path: Path) -> DuckDBStorage:
    return DuckDBStorage(tmp_path / "well.duckdb", tmp_path / "attachments")


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[MelioInbox]:
    with MelioInbox(tmp_path / "inbox", InboxConfig(port=0, tls_port=0)) as server:
        yield server


def mailer_for(inbox: MelioInbox):  # noqa: ANN201 - a mailer factory
    return lambda: SmtpMailer("127.0.0.1", inbox.port, username=inbox.config.username,
                              password=Secret(inbox.config.password), ca_file=str(inbox.cert_path), backoff_s=0)


def deliver(storage: Storage, inbox: MelioInbox, days=(DAY, NEXT_DAY)) -> delivery.DeliveryReport:  # noqa: ANN001
    return delivery.deliver_days(storage, list(days), mailer_for(inbox), to_address=INBOX, from_address=FROM)


def received(inbox: MelioInbox) -> Counter:
    return Counter(m.header("X-Well-Qonto-Id") for m in inbox.messages())


# ---- a run ---------------------------------------------------------------------------------------------------------
def test_a_run_sends_each_released_record_once_and_holds_what_it_cannot_send(storage: Storage,
                                                                              inbox: MelioInbox) -> None:
    release_records(storage, ("q-1", "auto_link", 0), ("q-2", "manual_link", 1), ("q-3", "review", 2),
                    ("q-nodoc", "auto_link", 3), ("q-4", "auto_link", 30), without_document={"q-nodoc"})
    report = deliver(storage, inbox)
    assert (report.candidates, report.sent, report.remaining) == (4, 3, 0)
    assert received(inbox) == Counter({"q-1": 1, "q-2": 1, "q-4": 1})
    assert report.held == Counter({"DOCUMENT_NOT_SENDABLE": 1})
    (hold,) = delivery.held(storage, limit=10)
    assert (hold.qonto_id, hold.reason) == ("q-nodoc", "the document is not stored yet")

    again = deliver(storage, inbox)  # nothing twice
    assert (again.sent, again.already_delivered) == (0, 3) and sum(received(inbox).values()) == 3
    assert delivery.status(storage).states == [("sent", 3)]


def test_a_mistyped_inbox_stops_the_run_before_storage_or_the_server_is_touched(storage: Storage,
                                                                               inbox: MelioInbox) -> None:
    release_records(storage, ("q-1", "auto_link", 0))
    with pytest.raises(SettingsError, match="did you mean invoicesmelio.com"):
        delivery.deliver_days(storage, [DAY], mailer_for(inbox), to_address="papeterie_1234@invoicemelio.com",
                              from_address=FROM)
    assert inbox.stats()["connections"] == 0 and storage.outbox.entries() == {}


def test_an_incremental_run_also_covers_earlier_pending_days(storage: Storage, inbox: MelioInbox) -> None:
    release_records(storage, ("q-1", "auto_link", 0), ("q-2", "auto_link", 30))
    assert delivery.days_to_deliver(storage.outbox, [NEXT_DAY], with_pending=False) == [NEXT_DAY]
    assert delivery.days_to_deliver(storage.outbox, [NEXT_DAY], with_pending=True) == [DAY, NEXT_DAY]
    deliver(storage, inbox, days=[NEXT_DAY])
    assert delivery.days_to_deliver(storage.outbox, [NEXT_DAY], with_pending=True) == [DAY, NEXT_DAY]
    deliver(storage, inbox, days=[DAY])
    assert delivery.days_to_deliver(storage.outbox, [NEXT_DAY], with_pending=True) == [NEXT_DAY]


def test_a_held_record_no_longer_released_loses_its_hold_on_the_next_run(storage: Storage,
                                                                         inbox: MelioInbox) -> None:
    release_records(storage, ("q-refused", "auto_link", 0), ("q-1", "auto_link", 1), ("q-changed", "auto_link", 30),
                    without_document={"q-refused", "q-changed"})
    deliver(storage, inbox)
    assert {h.qonto_id for h in delivery.held(storage, limit=10)} == {"q-refused", "q-changed"}
    review.refuse(storage, "q-refused", "not a bill", author="ops")
    change_record(storage, "q-changed", 30, 2, decision="review")  # Qonto changed it; scoring sends it to review

    report = deliver(storage, inbox)
    assert report.holds_lifted == 2 and report.held == Counter()
    assert delivery.held(storage, limit=10) == [] and delivery.status(storage).holds == []
    assert received(inbox) == Counter({"q-1": 1})  # and nothing was sent for them
    assert deliver(storage, inbox).holds_lifted == 0


def test_a_change_applied_in_melio_by_hand_is_dismissed_until_qonto_changes_the_record_again(
        storage: DuckDBStorage, inbox: MelioInbox) -> None:
    release_records(storage, ("q-1", "auto_link", 0), ("q-nodoc", "auto_link", 30), without_document={"q-nodoc"})
    deliver(storage, inbox)
    change_record(storage, "q-1", 0, 2, total_amount={"value": "999.00", "currency": "EUR"})
    assert deliver(storage, inbox).held == Counter({"CHANGED_AFTER_DELIVERY": 1, "DOCUMENT_NOT_SENDABLE": 1})

    assert delivery.dismiss_change(storage, "q-1", reason="amount fixed in Melio", author="ops") == 2
    assert [h.qonto_id for h in delivery.held(storage, limit=10)] == ["q-nodoc"]
    again = deliver(storage, inbox)  # the dismissed version stays dismissed: not held, not sent
    assert (again.sent, again.already_delivered, again.held) == (0, 1, Counter({"DOCUMENT_NOT_SENDABLE": 1}))
    assert received(inbox) == Counter({"q-1": 1})
    with duckdb.connect(storage.location, read_only=True) as con:
        audit = con.execute("SELECT record_version, outcome, reply FROM delivery_attempts WHERE qonto_id = 'q-1' "
                            "ORDER BY record_version, attempted_at").fetchall()  # one second may hold both
    assert [row[:2] for row in audit] == [(1, "sent"), (2, "change_applied_by_person")]
    assert audit[1][2] == "dismissed by ops: amount fixed in Melio"

    change_record(storage, "q-1", 0, 3, total_amount={"value": "1000.00", "currency": "EUR"})
    deliver(storage, inbox)  # Qonto changed it again: held again, with what changed since the dismissed version
    (changed,) = [h for h in delivery.held(storage, limit=10) if h.qonto_id == "q-1"]
    assert changed.code == "CHANGED_AFTER_DELIVERY"
    assert changed.changes == [delivery.FieldChange("total_amount", {"value": "999.00", "currency": "EUR"},
                                                    {"value": "1000.00", "currency": "EUR"})]


def test_dismiss_refuses_holds_where_melio_has_no_bill_of_the_record(storage: Storage) -> None:
    rows = release_records(storage, ("q-lost", "auto_link", 0), ("q-nodoc", "auto_link", 30),
                           without_document={"q-nodoc"})
    storage.outbox.mark_sending(rows["q-lost"], message_id="<m@x>", to_address=INBOX, dedup=None, resend=False)
    storage.outbox.complete(rows["q-lost"], message_id="<m@x>", state=OutboxState.UNCONFIRMED, code=None,
                            reply="connection lost", attempts=1, resend=False,
                            hold=Planned("q-lost", Action.HOLD, HoldCode.DELIVERY_UNCONFIRMED, "may be in Melio"))
    storage.outbox.replace_holds(["q-nodoc"], [Planned("q-nodoc", Action.HOLD, HoldCode.DOCUMENT_NOT_SENDABLE, "no")])
    with pytest.raises(delivery.NotDismissibleError, match="q-lost is held DELIVERY_UNCONFIRMED, which dismiss cannot "
                                                           "lift: whether its e-mail reached Melio is unknown"):
        delivery.dismiss_change(storage, "q-lost", reason="x", author="ops")
    with pytest.raises(delivery.NotDismissibleError, match="well review refuse"):
        delivery.dismiss_change(storage, "q-nodoc", reason="x", author="ops")
    for qonto_id in ("q-404", "q-nodoc-not-held"):
        with pytest.raises(delivery.NothingToDismissError, match=f"{qonto_id} has no change held to dismiss"):
            delivery.dismiss_change(storage, qonto_id, reason="x", author="ops")
    assert {h.qonto_id for h in delivery.held(storage, limit=10)} == {"q-lost", "q-nodoc"}  # both untouched
    assert delivery.status(storage).states == [("unconfirmed", 1)]


# ---- people's decisions --------------------------------------------------------------------------------------------
def test_confirm_records_an_uncertain_delivery_as_sent_and_refuses_anything_else(storage: Storage) -> None:
    rows = release_records(storage, ("q-lost", "auto_link", 0))
    storage.outbox.mark_sending(rows["q-lost"], message_id="<m@x>", to_address=INBOX, dedup=None, resend=False)
    storage.outbox.complete(rows["q-lost"], message_id="<m@x>", state=OutboxState.UNCONFIRMED, code=None,
                            reply="connection lost", attempts=1, resend=False,
                            hold=Planned("q-lost", Action.HOLD, HoldCode.DELIVERY_UNCONFIRMED, "may be in Melio"))
    delivery.confirm_delivered(storage, "q-lost", author="ops")
    assert delivery.status(storage).states == [("sent", 1)] and delivery.held(storage, limit=10) == []
    for qonto_id in ("q-lost", "q-unknown"):  # already sent; never delivered
        with pytest.raises(delivery.NothingToConfirmError, match=f"{qonto_id} has no unconfirmed delivery"):
            delivery.confirm_delivered(storage, qonto_id, author="ops")


def test_resend_approves_the_current_version_of_a_known_record(storage: Storage) -> None:
    release_records(storage, ("q-1", "auto_link", 0))
    assert delivery.approve_resend(storage, "q-1", author="ops") == 1
    assert storage.outbox.approved_resends() == [("q-1", 1)]
    with pytest.raises(delivery.UnknownRecordError, match="no Qonto record q-404"):
        delivery.approve_resend(storage, "q-404", author="ops")


def test_held_shows_the_fields_changed_after_delivery(storage: Storage) -> None:
    changes = {"fields": {"invoice_number": {"before": "F-2", "after": "F-2b"},
                          "total_amount": {"before": {"value": "1"}, "after": {"value": "2"}}}}
    storage.outbox.replace_holds(["q-1", "q-2"], [
        Planned("q-1", Action.HOLD, HoldCode.DUPLICATE_OF_DELIVERED, "already sent", related_qonto_id="q-0"),
        Planned("q-2", Action.HOLD, HoldCode.CHANGED_AFTER_DELIVERY, "changed")], {"q-2": changes})
    views = {v.qonto_id: v for v in delivery.held(storage, limit=10)}
    assert views["q-1"].changes == [] and views["q-1"].related_qonto_id == "q-0"
    assert views["q-2"].changes == [delivery.FieldChange("invoice_number", "F-2", "F-2b"),
                                    delivery.FieldChange("total_amount", {"value": "1"}, {"value": "2"})]
