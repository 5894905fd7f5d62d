"""SMTP transport: STARTTLS and implicit TLS with TLS 1.3 only, AUTH only after TLS, credentials checked."""

from __future__ import annotations

import base64
import logging
import smtplib
import ssl

import pytest

from well_pipeline.sandbox.melio import InboxConfig, MelioInbox
from well_pipeline_tests.support.waiting import wait_until

from .conftest import PASSWORD, RECIPIENT, USERNAME, client_context, connect, make_message, send


def test_starttls_negotiates_tls13_verified_by_the_sandbox_certificate(inbox: MelioInbox) -> None:
    with smtplib.SMTP("127.0.0.1", inbox.port, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        assert not client.has_extn("auth"), "AUTH must not be offered in clear text"
        client.starttls(context=client_context(inbox))
        assert client.sock.version() == "TLSv1.3"
        client.ehlo()
        assert set(client.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}
        client.login(USERNAME, PASSWORD)
        assert client.send_message(make_message()) == {}
    [message] = inbox.messages()
    assert message.listener == "starttls" and message.auth_user == USERNAME


def test_implicit_tls_negotiates_tls13(inbox: MelioInbox) -> None:
    with smtplib.SMTP_SSL("127.0.0.1", inbox.tls_port, context=client_context(inbox), timeout=10) as client:
        assert client.sock.version() == "TLSv1.3"
        client.ehlo()
        assert not client.has_extn("starttls")
        client.login(USERNAME, PASSWORD)
        client.send_message(make_message())
    [message] = inbox.messages()
    assert message.listener == "tls"
    assert inbox.stats()["connections"] == 1


def test_auth_login_mechanism_works(inbox: MelioInbox) -> None:
    with connect(inbox, login=False) as client:
        client.user, client.password = USERNAME, PASSWORD
        code, _ = client.auth("LOGIN", client.auth_login)
        assert code == 235


def test_plain_mail_without_starttls_is_refused(inbox: MelioInbox) -> None:
    with smtplib.SMTP("127.0.0.1", inbox.port, timeout=10) as client:
        client.ehlo()
        code, reply = client.mail("bills@well.example")
        assert code == 530 and b"STARTTLS" in reply
        code, _ = client.docmd("AUTH", "PLAIN " + base64.b64encode(f"\0{USERNAME}\0{PASSWORD}".encode()).decode())
        assert code == 530
    assert inbox.messages() == []


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit-tls"])
def test_tls12_max_client_is_refused(inbox: MelioInbox, implicit: bool) -> None:
    context = client_context(inbox, max_tls12=True)
    with pytest.raises(ssl.SSLError):
        if implicit:
            smtplib.SMTP_SSL("127.0.0.1", inbox.tls_port, context=context, timeout=10)
        else:
            with smtplib.SMTP("127.0.0.1", inbox.port, timeout=10) as client:
                client.starttls(context=context)
    if not implicit:
        # The client gives up on the alert; the server counts the failure a moment later.
        wait_until(lambda: inbox.stats()["starttls_failures"], 30, "the server to count the failed STARTTLS")
        assert inbox.stats()["starttls_failures"] == 1
    # The server is still healthy afterwards.
    send(inbox, make_message())
    assert len(inbox.messages()) == 1


def test_untrusted_certificate_fails_verification(inbox: MelioInbox) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        smtplib.SMTP_SSL("127.0.0.1", inbox.tls_port, context=ssl.create_default_context(cafile=None), timeout=10)


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit-tls"])
def test_mail_without_auth_is_refused(inbox: MelioInbox, implicit: bool) -> None:
    with connect(inbox, implicit=implicit, login=False) as client:
        code, reply = client.mail("bills@well.example")
        assert code == 530 and b"Authentication required" in reply
    assert inbox.messages() == []


def test_wrong_password_and_wrong_user_are_refused(inbox: MelioInbox) -> None:
    for user, password in ((USERNAME, "not-the-password"), ("someone", PASSWORD)):
        with connect(inbox, login=False) as client:
            with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
                client.login(user, password)
            assert caught.value.smtp_code == 535
    assert inbox.stats()["auth_failures"] >= 2


def test_auth_can_be_switched_off(tmp_path) -> None:
    with MelioInbox(tmp_path, InboxConfig(port=0, tls_port=0, require_auth=False)) as open_inbox:
        with connect(open_inbox, login=False) as client:
            client.send_message(make_message())
        assert open_inbox.messages()[0].auth_user is None


def test_password_never_reaches_the_logs(inbox: MelioInbox, caplog: pytest.LogCaptureFixture) -> None:
    encoded_plain = base64.b64encode(f"\0{USERNAME}\0{PASSWORD}".encode()).decode()
    encoded_password = base64.b64encode(PASSWORD.encode()).decode()
    with caplog.at_level(logging.DEBUG):
        send(inbox, make_message())
        with connect(inbox, login=False) as client:
            client.user, client.password = USERNAME, PASSWORD
            client.auth("LOGIN", client.auth_login)
        with connect(inbox, login=False) as client, pytest.raises(smtplib.SMTPAuthenticationError):
            client.login(USERNAME, PASSWORD + "x")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert any(record.name == "well.sandbox.melio" for record in caplog.records)
    for secret in (PASSWORD, encoded_plain, encoded_password):
        assert secret not in text
    assert PASSWORD not in repr(inbox.config)


def test_rcpt_outside_invoicesmelio_is_refused_with_550(inbox: MelioInbox) -> None:
    with connect(inbox) as client:
        client.mail("bills@well.example")
        code, reply = client.rcpt("ap@melio.com")
        assert code == 550 and b"invoicesmelio.com" in reply
        code, _ = client.rcpt("ap@sub.invoicesmelio.com")
        assert code == 550
        code, _ = client.rcpt(RECIPIENT.upper())
        assert code == 250
    with connect(inbox) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
            client.send_message(make_message(to="ap@example.com"))
        assert caught.value.recipients["ap@example.com"][0] == 550
    assert inbox.messages() == [] and inbox.stats()["rcpt_refused"] == 3


def test_accepted_local_parts_restrict_mailboxes(tmp_path) -> None:
    config = InboxConfig(port=0, tls_port=0, accepted_local_parts=("librairie_4821",))
    with MelioInbox(tmp_path, config) as strict:
        with connect(strict) as client:
            client.mail("bills@well.example")
            assert client.rcpt("typo_4812@invoicesmelio.com")[0] == 550
            assert client.rcpt(RECIPIENT)[0] == 250


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        InboxConfig(port=2525, tls_port=2525)
    with pytest.raises(ValueError):
        InboxConfig(tls_cert="x.pem")
    with pytest.raises(ValueError):
        InboxConfig(accepted_domain="@invoicesmelio.com")


def test_concurrent_clients_are_all_kept_with_distinct_ordinals(inbox: MelioInbox, invoice_pdf: bytes) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def deliver(worker: int) -> None:
        with connect(inbox, implicit=worker % 2 == 1) as client:
            for index in range(3):
                client.send_message(make_message(
                    qonto_id=f"w{worker}-{index}", attachments=[(invoice_pdf, "application/pdf", "i.pdf")]
                ))

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(deliver, range(6)))
    messages = inbox.messages()
    assert sorted(m.ordinal for m in messages) == list(range(1, 19))
    assert {m.qonto_id for m in messages} == {f"w{w}-{i}" for w in range(6) for i in range(3)}
    stats = inbox.stats()
    assert stats["connections"] == 6 and stats["max_messages_per_connection"] == 3 and stats["drafts_created"] == 18


def test_stop_cuts_open_connections_promptly(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    """Prompt by the inbox's own verdict, not by a stopwatch: a close that waits for an open connection runs
    into its timeout and logs that it did not close cleanly, however fast or loaded the machine is."""
    caplog.set_level(logging.DEBUG, logger="well.sandbox.melio")
    inbox = MelioInbox(tmp_path, InboxConfig(port=0, tls_port=0)).start()
    client = connect(inbox)
    inbox.stop()
    assert not [r for r in caplog.records if "did not close cleanly" in r.getMessage()], caplog.text
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.noop()
    client.close()
    inbox.stop()  # idempotent
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP("127.0.0.1", inbox.port, timeout=2)


def test_port_in_use_fails_start_cleanly(inbox: MelioInbox, tmp_path) -> None:
    clash = MelioInbox(tmp_path / "other", InboxConfig(port=0, tls_port=inbox.tls_port))
    with pytest.raises(OSError):
        clash.start()
    clash.stop()  # nothing left running; harmless
    send(inbox, make_message())  # the first inbox is unaffected


# -- relays Well must refuse (issue 8) ------------------------------------------------------------------------------


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit-tls"])
def test_a_tls12_only_inbox_speaks_tls12_and_refuses_tls13_only_clients(tmp_path, implicit: bool) -> None:
    with MelioInbox(tmp_path / "inbox", InboxConfig(port=0, tls_port=0, tls_version="1.2")) as old:
        tls13_only = client_context(old)
        tls13_only.minimum_version = ssl.TLSVersion.TLSv1_3
        with pytest.raises(ssl.SSLError):
            if implicit:
                smtplib.SMTP_SSL("127.0.0.1", old.tls_port, context=tls13_only, timeout=10)
            else:
                with smtplib.SMTP("127.0.0.1", old.port, timeout=10) as client:
                    client.starttls(context=tls13_only)
        context = client_context(old, max_tls12=True)
        if implicit:
            client = smtplib.SMTP_SSL("127.0.0.1", old.tls_port, context=context, timeout=10)
        else:
            client = smtplib.SMTP("127.0.0.1", old.port, timeout=10)
            client.starttls(context=context)
        with client:
            assert client.sock.version() == "TLSv1.2"
            client.login(USERNAME, PASSWORD)
            client.send_message(make_message())
        assert len(old.messages()) == 1


def test_an_inbox_without_starttls_never_offers_it_nor_auth(tmp_path) -> None:
    with MelioInbox(tmp_path / "inbox", InboxConfig(port=0, tls_port=0, offer_starttls=False)) as plain:
        with smtplib.SMTP("127.0.0.1", plain.port, timeout=10) as client:
            client.ehlo()
            assert not client.has_extn("starttls") and not client.has_extn("auth")
            assert client.docmd("STARTTLS")[0] != 220  # aiosmtpd: 454 TLS not available
            assert client.mail("bills@well.example")[0] == 530  # no mail in plain text either
        assert plain.messages() == []


def test_tls_version_is_validated() -> None:
    with pytest.raises(ValueError, match="tls_version"):
        InboxConfig(tls_version="1.1")
