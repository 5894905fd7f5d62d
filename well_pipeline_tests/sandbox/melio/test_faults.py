"""Injected faults: replies at each stage, 421 closing, drops before and after DATA, after_messages."""

from __future__ import annotations

import smtplib
import threading
import time

import pytest

from well_pipeline.sandbox.melio import FaultSpecError, MelioInbox
from well_pipeline_tests.support.waiting import wait_until

from .conftest import RECIPIENT, connect, make_message, send


def _raw(qonto_id: str) -> bytes:
    return make_message(qonto_id=qonto_id).as_bytes()


def test_reply_at_mail_then_recovers(inbox: MelioInbox) -> None:
    inbox.add_fault("reply", stage="MAIL", code=451)
    with connect(inbox) as client:
        code, reply = client.mail("bills@well.example")
        assert code == 451 and reply.startswith(b"4.3.0")
        client.rset()
        assert client.mail("bills@well.example")[0] == 250  # times=1: consumed
        assert client.rcpt(RECIPIENT)[0] == 250
        assert client.data(_raw("after-mail-fault"))[0] == 250
    assert [m.qonto_id for m in inbox.messages()] == ["after-mail-fault"]
    assert inbox.stats()["faults_injected"] == 1 and inbox.faults() == []


def test_reply_at_rcpt(inbox: MelioInbox) -> None:
    inbox.add_fault("reply", stage="RCPT", code=550, text="5.1.1 custom refusal")
    with connect(inbox) as client, pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
        client.send_message(make_message())
    assert caught.value.recipients[RECIPIENT] == (550, b"5.1.1 custom refusal")
    assert inbox.messages() == []


def test_reply_at_data_before_354(inbox: MelioInbox) -> None:
    inbox.add_fault("reply", stage="DATA", code=452)
    with connect(inbox) as client:
        client.mail("bills@well.example")
        client.rcpt(RECIPIENT)
        code, _ = client.docmd("DATA")
        assert code == 452  # no 354: nothing was sent
        assert client.noop()[0] == 250  # connection still usable
    assert inbox.messages() == []


def test_reply_at_end_of_data_does_not_keep_the_message(inbox: MelioInbox) -> None:
    inbox.add_fault("reply", stage="END_OF_DATA", code=554)
    with connect(inbox) as client:
        with pytest.raises(smtplib.SMTPDataError) as caught:
            client.send_message(make_message(qonto_id="refused"))
        assert caught.value.smtp_code == 554
        client.send_message(make_message(qonto_id="retried"))
    assert [m.qonto_id for m in inbox.messages()] == ["retried"]
    stats = inbox.stats()
    assert stats["messages_refused"] == 1 and stats["messages_accepted"] == 1


@pytest.mark.parametrize("stage", ["MAIL", "RCPT", "DATA", "END_OF_DATA"])
def test_421_replies_then_closes_the_connection(inbox: MelioInbox, stage: str) -> None:
    inbox.add_fault("reply", stage=stage, code=421)
    client = connect(inbox)
    try:
        replies = [client.mail("bills@well.example")]
        if stage != "MAIL":
            replies.append(client.rcpt(RECIPIENT))
        if stage == "DATA":
            replies.append(client.docmd("DATA"))
        if stage == "END_OF_DATA":
            replies.append(client.data(_raw("q")))  # smtplib returns (not raises) the final reply
        assert replies[-1][0] == 421 and b"closing" in replies[-1][1]
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()
    finally:
        client.close()
    assert inbox.messages() == []


def test_drop_before_data(inbox: MelioInbox) -> None:
    inbox.add_fault("drop_before_data")
    client = connect(inbox)
    try:
        client.mail("bills@well.example")
        client.rcpt(RECIPIENT)
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.data(_raw("q"))
    finally:
        client.close()
    assert inbox.messages() == [] and inbox.stats()["messages_accepted"] == 0


def test_drop_after_data_keeps_the_message_but_never_answers(inbox: MelioInbox) -> None:
    inbox.add_fault("drop_after_data")
    with pytest.raises(smtplib.SMTPServerDisconnected):
        send(inbox, make_message(qonto_id="maybe-delivered"))
    [message] = inbox.messages()  # stored before the drop: visible as soon as the client sees the cut
    assert message.qonto_id == "maybe-delivered" and not message.delivered_reply_sent
    assert len(inbox.drafts()) == 0 and inbox.stats()["messages_accepted"] == 1
    send(inbox, make_message(qonto_id="next"), implicit=True)  # the fault is consumed
    assert inbox.messages()[1].delivered_reply_sent


def test_after_messages_strikes_mid_batch_on_one_connection(inbox: MelioInbox) -> None:
    send(inbox, make_message(qonto_id="before-arming"))  # counting starts when the fault is added
    inbox.add_fault("reply", stage="END_OF_DATA", code=451, after_messages=2)
    outcomes = []
    with connect(inbox) as client:
        for index in range(4):
            try:
                client.send_message(make_message(qonto_id=f"batch-{index}"))
                outcomes.append(250)
            except smtplib.SMTPDataError as exc:
                outcomes.append(exc.smtp_code)
    assert outcomes == [250, 250, 451, 250]
    assert [m.qonto_id for m in inbox.messages()] == ["before-arming", "batch-0", "batch-1", "batch-3"]
    assert inbox.stats()["max_messages_per_connection"] == 3


def test_delay_at_mail_then_normal_answer(inbox: MelioInbox) -> None:
    inbox.add_fault("delay", stage="MAIL", delay_s=0.3)
    with connect(inbox) as client:
        started = time.monotonic()
        assert client.mail("bills@well.example")[0] == 250
        assert time.monotonic() - started >= 0.3


def test_delay_at_end_of_data_keeps_the_message_before_the_late_reply(inbox: MelioInbox) -> None:
    inbox.add_fault("delay", stage="END_OF_DATA", delay_s=2.0)
    client = connect(inbox)
    try:
        client.sock.settimeout(0.3)  # a client that gives up before the slow relay answers
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.send_message(make_message(qonto_id="slow"))
    finally:
        client.close()
    assert [m.qonto_id for m in inbox.messages()] == ["slow"]


def test_times_none_fires_until_cleared(inbox: MelioInbox) -> None:
    inbox.add_fault("reply", stage="MAIL", code=450, times=None)
    with connect(inbox) as client:
        for _ in range(3):
            assert client.mail("bills@well.example")[0] == 450
        assert len(inbox.faults()) == 1 and inbox.faults()[0]["fired"] == 3
        inbox.clear_faults()
        assert client.mail("bills@well.example")[0] == 250


def test_fault_does_not_strike_commands_that_fail_anyway(inbox: MelioInbox) -> None:
    """Unauthenticated MAIL is refused by AUTH, not by the fault, and does not consume it."""
    inbox.add_fault("reply", stage="MAIL", code=451)
    with connect(inbox, login=False) as client:
        assert client.mail("bills@well.example")[0] == 530
    assert len(inbox.faults()) == 1


def test_invalid_fault_specs_are_refused(inbox: MelioInbox) -> None:
    bad = [
        {"kind": "explode"},
        {"kind": "reply", "stage": "MAIL"},
        {"kind": "reply", "stage": "HELO", "code": 451},
        {"kind": "reply", "stage": "MAIL", "code": 250},
        {"kind": "drop_after_data", "stage": "MAIL"},
        {"kind": "drop_before_data", "code": 421},
        {"kind": "reply", "stage": "MAIL", "code": 451, "times": 0},
        {"kind": "reply", "stage": "MAIL", "code": 451, "after_messages": -1},
        {"kind": "delay"},
        {"kind": "delay", "stage": "MAIL", "delay_s": -1},
        {"kind": "delay", "stage": "MAIL", "code": 451},
        {"kind": "reply", "stage": "MAIL", "code": 451, "delay_s": 1},
    ]
    for spec in bad:
        with pytest.raises(FaultSpecError):
            inbox.add_fault(**spec)
    assert inbox.faults() == []


def test_release_delays_ends_a_waiting_delay_at_once(inbox: MelioInbox) -> None:
    """A test can hold a client mid-send for as long as it needs, then let it go (no sleep in the test)."""
    inbox.add_fault("delay", stage="MAIL", delay_s=120)
    replies: list[int] = []
    with connect(inbox) as client:
        waiter = threading.Thread(target=lambda: replies.append(client.mail("bills@well.example")[0]))
        waiter.start()
        wait_until(lambda: inbox.stats()["delays_waiting"] or not waiter.is_alive(), 60, "the MAIL to be held")
        assert inbox.stats()["delays_waiting"] == 1 and replies == []  # the MAIL is held by the delay
        inbox.release_delays()
        waiter.join(30)
        assert replies == [250]  # answered normally, long before the 120 s
        assert inbox.stats()["delays_waiting"] == 0
        inbox.add_fault("delay", stage="RCPT", delay_s=0.2)  # later delays wait afresh
        assert client.rcpt(RECIPIENT)[0] == 250
