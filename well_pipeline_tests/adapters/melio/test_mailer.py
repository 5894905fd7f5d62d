"""SmtpMailer against the real Melio inbox sandbox (aiosmtpd, TLS 1.3, AUTH): reuse, TLS, and the four
outcomes, with the one rule that matters most: a message the server may have accepted is never re-sent.

A few TLS/timeout cases the sandbox cannot produce (a TLS 1.2-only server, a server without STARTTLS, a
server that never answers the final dot) use `StubServer`, a tiny scripted socket server in this file.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from well_pipeline.adapters.melio import (
    MailerAuthError,
    SendResult,
    SmtpMailer,
    build_bill_email,
)
from well_pipeline.adapters.melio.mailer import MailerTlsError
from well_pipeline.adapters.secrets.secret import Secret
from well_pipeline.sandbox.melio import InboxConfig, MelioInbox
from well_pipeline.sandbox.tls import generate_self_signed
from well_pipeline_tests.adapters.melio.test_bill_email import DOCUMENT, FROM, NOW, TO, make_bill
from well_pipeline_tests.support.waiting import wait_until

PASSWORD = "well-sandbox-smtp-secret"


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[MelioInbox]:
    with MelioInbox(tmp_path / "inbox", InboxConfig(port=0, tls_port=0)) as running:
        yield running


class SleepRecorder:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make_mailer(inbox: MelioInbox, security: str = "starttls", **overrides: object) -> SmtpMailer:
    options: dict[str, object] = dict(
        security=security,
        username="well",
        password=Secret(PASSWORD),
        ca_file=str(inbox.cert_path),
        timeout_s=5,
        max_retries=3,
        backoff_s=0.5,
        sleep=SleepRecorder(),
        local_hostname="well.test",
    )
    options.update(overrides)
    port = inbox.port if security == "starttls" else inbox.tls_port
    return SmtpMailer("127.0.0.1", port, **options)  # type: ignore[arg-type]


def qonto_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def message(n: int, **overrides: object):  # noqa: ANN201 - EmailMessage
    return build_bill_email(make_bill(qonto_id=qonto_id(n), **overrides), now=NOW)


def received_ids(inbox: MelioInbox) -> Counter[str | None]:
    return Counter(m.qonto_id for m in inbox.messages())


def sleeps(mailer: SmtpMailer) -> list[float]:
    return mailer._sleep.calls  # type: ignore[attr-defined]


# -- the happy path ----------------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_one_tls13_connection_carries_a_whole_batch(inbox: MelioInbox, security: str) -> None:
    mailer = make_mailer(inbox, security)
    with mailer:
        assert mailer.tls_version == "TLSv1.3"
        results = [mailer.send(message(n)) for n in range(1, 6)]

    assert [r.outcome for r in results] == ["sent"] * 5
    assert all(r.code == 250 and r.attempts == 1 for r in results)
    assert results[0].message_id == f"<well.{qonto_id(1)}.v1@well.example.com>"
    stats = inbox.stats()
    assert stats["connections"] == 1
    assert stats["max_messages_per_connection"] == 5
    assert stats["messages_accepted"] == 5
    assert mailer.stats.connections_opened == 1 and mailer.stats.messages_sent == 5
    assert not mailer.connected  # closed on exit

    received = inbox.messages()
    assert [m.qonto_id for m in received] == [qonto_id(n) for n in range(1, 6)]
    for m in received:
        assert m.listener == security
        assert m.auth_user == "well"
        assert m.mail_from == FROM  # envelope = From header
        assert m.rcpt_tos == (TO,)  # envelope = To header, nothing else
        assert len(m.attachments) == 1 and len(m.drafts) == 1
    assert {m.attachments[0].sha256 for m in received} == {hashlib.sha256(DOCUMENT).hexdigest()}
    assert sleeps(mailer) == []


def test_send_without_with_block_connects_lazily_and_close_is_idempotent(inbox: MelioInbox) -> None:
    mailer = make_mailer(inbox)
    assert not mailer.connected
    assert mailer.send(message(1)).outcome == "sent"
    assert mailer.connected
    mailer.close()
    mailer.close()
    assert not mailer.connected
    assert inbox.stats()["connections"] == 1


def test_idle_connection_closed_by_the_server_is_replaced_transparently(tmp_path: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    # aiosmtpd logs "... connection timeout" in the loop callback that then closes the transport, so nothing the
    # mailer sends after that record can reach the SMTP session: the next send finds the connection closed.
    caplog.set_level(logging.INFO, logger="mail.log")
    with MelioInbox(tmp_path, InboxConfig(port=0, tls_port=0, idle_timeout_s=0.3)) as inbox:
        with make_mailer(inbox) as mailer:
            assert mailer.send(message(1)).outcome == "sent"
            wait_until(lambda: any("connection timeout" in r.getMessage() for r in caplog.records), 30,
                       "the server to hang up the idle connection")
            second = mailer.send(message(2))
    assert second.outcome == "sent" and second.attempts == 1
    assert mailer.stats.retries == 0 and mailer.stats.connections_opened == 2
    assert sleeps(mailer) == []
    assert received_ids(inbox) == Counter({qonto_id(1): 1, qonto_id(2): 1})


# -- temporary failures: retried, delivered exactly once ----------------------------------------------


def test_421_mid_batch_reconnects_and_delivers_every_message_once(inbox: MelioInbox) -> None:
    inbox.add_fault("reply", stage="MAIL", code=421, after_messages=2)
    with make_mailer(inbox) as mailer:
        results = [mailer.send(message(n)) for n in range(1, 6)]

    assert [r.outcome for r in results] == ["sent"] * 5
    assert [r.attempts for r in results] == [1, 1, 2, 1, 1]
    assert received_ids(inbox) == Counter({qonto_id(n): 1 for n in range(1, 6)})
    assert inbox.stats()["connections"] == 2  # the 421 closed the first one
    assert mailer.stats.retries == 1 and mailer.stats.connections_opened == 2
    assert sleeps(mailer) == [0.5]


@pytest.mark.parametrize("stage", ["MAIL", "RCPT", "DATA", "END_OF_DATA"])
def test_451_at_any_stage_is_retried_and_delivered_once(inbox: MelioInbox, stage: str) -> None:
    inbox.add_fault("reply", stage=stage, code=451, after_messages=1)
    with make_mailer(inbox) as mailer:
        results = [mailer.send(message(n)) for n in range(1, 4)]

    assert [r.outcome for r in results] == ["sent"] * 3
    assert [r.attempts for r in results] == [1, 2, 1]
    assert received_ids(inbox) == Counter({qonto_id(n): 1 for n in range(1, 4)})
    # A 451 leaves the connection usable: RSET and go on, no reconnect.
    assert inbox.stats()["connections"] == 1
    assert mailer.stats.retries == 1


def test_drop_before_data_is_retried_on_a_fresh_connection_and_delivered_once(inbox: MelioInbox) -> None:
    inbox.add_fault("drop_before_data", after_messages=1)
    with make_mailer(inbox) as mailer:
        results = [mailer.send(message(n)) for n in range(1, 4)]

    assert [r.outcome for r in results] == ["sent"] * 3
    assert results[1].attempts == 2
    assert received_ids(inbox) == Counter({qonto_id(n): 1 for n in range(1, 4)})
    assert inbox.stats()["connections"] == 2


def test_persistent_4xx_ends_as_temporary_failure_after_backoff(inbox: MelioInbox) -> None:
    inbox.add_fault("reply", stage="RCPT", code=452, times=None, text="4.3.1 Mailbox full, try later")
    with make_mailer(inbox, max_retries=3, backoff_s=0.5) as mailer:
        result = mailer.send(message(1))

    assert result.outcome == "temporary_failure"
    assert (result.code, result.reply, result.stage) == (452, "4.3.1 Mailbox full, try later", "RCPT")
    assert result.attempts == 4
    assert result.retry_is_safe
    assert sleeps(mailer) == [0.5, 1.0, 2.0]
    assert mailer.stats.temporary_failures == 1 and mailer.stats.retries == 3
    assert inbox.messages() == []


def test_unreachable_server_is_a_temporary_failure_not_an_exception(tmp_path: Path) -> None:
    cert, _ = generate_self_signed(tmp_path)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleep = SleepRecorder()
    mailer = SmtpMailer("127.0.0.1", port, username="well", password=Secret(PASSWORD), ca_file=str(cert),
                        timeout_s=2, max_retries=2, backoff_s=0.1, sleep=sleep)
    with mailer:  # entering does not raise for a transient problem
        result = mailer.send(message(1))
    assert result.outcome == "temporary_failure"
    assert result.code is None and result.stage == "CONNECT"
    assert "ConnectionRefused" in result.reply
    assert result.attempts == 3 and sleep.calls == [0.1, 0.2]
    assert mailer.stats.connections_opened == 0


# -- permanent failures: not retried ------------------------------------------------------------------


def test_550_is_a_permanent_failure_with_the_servers_text_and_the_batch_goes_on(inbox: MelioInbox) -> None:
    inbox.add_fault("reply", stage="END_OF_DATA", code=550, text="5.7.1 Attachment looks malicious")
    with make_mailer(inbox) as mailer:
        refused = mailer.send(message(1))
        following = mailer.send(message(2))

    assert refused == SendResult("permanent_failure", 550, "5.7.1 Attachment looks malicious", 1, "END_OF_DATA",
                                 f"<well.{qonto_id(1)}.v1@well.example.com>")
    assert following.outcome == "sent"
    assert sleeps(mailer) == []
    assert received_ids(inbox) == Counter({qonto_id(2): 1})
    assert inbox.stats()["connections"] == 1
    assert mailer.stats.permanent_failures == 1


def test_recipient_outside_invoicesmelio_gets_the_servers_550(inbox: MelioInbox) -> None:
    with make_mailer(inbox) as mailer:
        result = mailer.send(message(1, to_address="ap@acme.example.com"))
    assert result.outcome == "permanent_failure"
    assert result.code == 550 and result.stage == "RCPT"
    assert "invoicesmelio.com" in result.reply or "mailbox" in result.reply.lower()
    assert result.attempts == 1
    assert inbox.messages() == []


# -- unknown: the message may have been delivered; never retried ---------------------------------------


def test_drop_after_data_is_unknown_and_never_resent(inbox: MelioInbox) -> None:
    inbox.add_fault("drop_after_data", after_messages=1)
    with make_mailer(inbox) as mailer:
        results = [mailer.send(message(n)) for n in range(1, 4)]

    assert [r.outcome for r in results] == ["sent", "unknown", "sent"]
    unknown = results[1]
    assert unknown.attempts == 1 and unknown.code is None and unknown.stage == "END_OF_DATA"
    assert "may have been delivered" in unknown.reply
    assert not unknown.retry_is_safe
    # The inbox holds exactly one copy of the uncertain message (it was in fact delivered).
    assert received_ids(inbox) == Counter({qonto_id(n): 1 for n in range(1, 4)})
    assert sleeps(mailer) == []
    assert mailer.stats.unknown == 1 and mailer.stats.retries == 0
    assert inbox.stats()["connections"] == 2  # the next message used a new connection


# -- configuration errors raise -------------------------------------------------------------------------


def test_wrong_password_raises_a_clear_error_without_the_password(
    inbox: MelioInbox, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "hunter2-wrong-password"
    mailer = make_mailer(inbox, password=Secret(wrong))
    with caplog.at_level(logging.DEBUG, logger="well.melio.mailer"), pytest.raises(MailerAuthError) as info:
        with mailer:
            pytest.fail("entering must fail")
    text = str(info.value)
    assert "authentication" in text and "'well'" in text and "535" in text
    assert wrong not in text and wrong not in repr(info.value)
    assert info.value.__context__ is None and info.value.__cause__ is None
    assert wrong not in repr(mailer) and "***" in repr(mailer)
    assert wrong not in caplog.text
    assert inbox.stats()["auth_failures"] == 1
    # send() raises the same way (no outcome could be right: every message would fail).
    with pytest.raises(MailerAuthError):
        mailer.send(message(1))
    assert inbox.messages() == []


def test_untrusted_certificate_raises_tls_error(inbox: MelioInbox, tmp_path: Path) -> None:
    other_ca, _ = generate_self_signed(tmp_path / "other")
    for security in ("starttls", "tls"):
        with pytest.raises(MailerTlsError, match="not trusted"):
            with make_mailer(inbox, security, ca_file=str(other_ca)):
                pass
    assert inbox.messages() == []


def _certificate_for(directory: Path, dns_name: str) -> tuple[Path, Path]:
    """A self-signed CA:TRUE server certificate naming only `dns_name` (not 127.0.0.1)."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)])
    now = datetime.now(UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_certificate_for_another_host_name_is_refused(tmp_path: Path, security: str) -> None:
    cert, key = _certificate_for(tmp_path / "tls", "smtp.elsewhere.example")
    config = InboxConfig(port=0, tls_port=0, tls_cert=cert, tls_key=key)
    with MelioInbox(tmp_path / "inbox", config) as inbox:
        # Trusted issuer, wrong name: only the host name check can refuse it.
        with pytest.raises(MailerTlsError, match="not trusted.*(?i:hostname|IP address mismatch)"):
            with make_mailer(inbox, security, ca_file=str(cert)):
                pass
        assert inbox.stats()["auth_failures"] == 0 and inbox.messages() == []


def test_envelope_comes_from_the_single_to_address_only(inbox: MelioInbox) -> None:
    bcc = message(1)
    bcc["Bcc"] = "evil@x.com"
    two = message(2)
    del two["To"]
    two["To"] = f"{TO}, evil@x.com"
    with make_mailer(inbox) as mailer:
        with pytest.raises(ValueError, match="Bcc"):
            mailer.send(bcc)
        with pytest.raises(ValueError, match="exactly one To"):
            mailer.send(two)
    assert inbox.messages() == []


def test_one_info_line_per_send_without_secrets_or_attachment(
    inbox: MelioInbox, caplog: pytest.LogCaptureFixture
) -> None:
    inbox.add_fault("reply", stage="MAIL", code=451)
    with caplog.at_level(logging.INFO, logger="well.melio.mailer"):
        with make_mailer(inbox) as mailer:
            mailer.send(message(1))
            mailer.send(message(2))
    infos = [r for r in caplog.records if r.name == "well.melio.mailer" and r.levelno == logging.INFO]
    assert len(infos) == 2
    assert f"<well.{qonto_id(1)}.v1@well.example.com>" in infos[0].getMessage()
    assert "outcome=sent" in infos[0].getMessage() and "code=250" in infos[0].getMessage()
    assert PASSWORD not in caplog.text
    assert "JVBERi" not in caplog.text  # base64 of "%PDF": no attachment content


def test_constructor_refuses_a_plain_string_password_and_unknown_security() -> None:
    with pytest.raises(TypeError):
        SmtpMailer("127.0.0.1", 25, username="well", password=PASSWORD)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SmtpMailer("127.0.0.1", 25, security="none", username=None, password=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SmtpMailer("127.0.0.1", 25, username="well", password=None)


# -- what the sandbox cannot do: scripted stub servers ----------------------------------------------------


class StubServer:
    """Accepts connections on loopback and runs `script(sock, lines)` for each in a thread."""

    def __init__(self, script: Callable[[socket.socket, list[bytes]], None]) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.lines: list[bytes] = []
        self.connections = 0
        self._script = script
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self._script(conn, self.lines)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._listener.close()


def _smtp_dialogue(sock: socket.socket, lines: list[bytes], *, ehlo: bytes, on_dot: Callable[[], None]) -> None:
    reader = sock.makefile("rb")
    sock.sendall(b"220 stub ESMTP\r\n")
    in_data = False
    while True:
        line = reader.readline()
        if not line:
            return
        if in_data:
            if line == b".\r\n":
                in_data = False
                lines.append(b"<end of data>")
                on_dot()
            continue
        lines.append(line.strip())
        verb = line[:4].upper()
        if verb == b"EHLO":
            sock.sendall(ehlo)
        elif verb == b"AUTH":
            sock.sendall(b"235 2.7.0 ok\r\n")
        elif verb == b"DATA":
            sock.sendall(b"354 go ahead\r\n")
            in_data = True
        elif verb == b"QUIT":
            sock.sendall(b"221 bye\r\n")
            return
        else:
            sock.sendall(b"250 ok\r\n")


def test_server_without_starttls_is_refused_before_any_credentials(tmp_path: Path) -> None:
    cert, _ = generate_self_signed(tmp_path)
    stub = StubServer(lambda sock, lines: _smtp_dialogue(
        sock, lines, ehlo=b"250-stub\r\n250-AUTH PLAIN LOGIN\r\n250 SIZE 100000000\r\n", on_dot=lambda: None))
    try:
        mailer = SmtpMailer("127.0.0.1", stub.port, username="well", password=Secret(PASSWORD), ca_file=str(cert),
                            timeout_s=2, sleep=SleepRecorder())
        with pytest.raises(MailerTlsError, match="STARTTLS"):
            mailer.send(message(1))
    finally:
        stub.close()
    assert stub.lines and all(line.upper().startswith((b"EHLO", b"QUIT")) for line in stub.lines), stub.lines


def test_tls12_only_server_is_refused(tmp_path: Path) -> None:
    cert, key = generate_self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    handshakes: list[str] = []

    def script(sock: socket.socket, lines: list[bytes]) -> None:
        try:
            with context.wrap_socket(sock, server_side=True) as tls:
                handshakes.append(tls.version() or "")
        except ssl.SSLError as exc:
            handshakes.append(f"failed: {exc.reason}")

    stub = StubServer(script)
    try:
        mailer = SmtpMailer("127.0.0.1", stub.port, security="tls", username="well", password=Secret(PASSWORD),
                            ca_file=str(cert), timeout_s=2, sleep=SleepRecorder())
        with pytest.raises(MailerTlsError, match="TLS 1.3"):
            mailer.send(message(1))
    finally:
        stub.close()
    wait_until(lambda: handshakes, 30, "the stub to record the refused handshake")
    assert handshakes[0].startswith("failed")


def test_timeout_after_the_final_dot_is_unknown_and_not_retried(tmp_path: Path) -> None:
    cert, key = generate_self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(cert, key)
    release = threading.Event()

    def script(sock: socket.socket, lines: list[bytes]) -> None:
        # Answers the final dot only after 30 s (60 times the mailer's 0.5 s timeout): a mailer that waited
        # longer than its timeout would see a success, so no stopwatch is needed to tell.
        with context.wrap_socket(sock, server_side=True) as tls:
            _smtp_dialogue(tls, lines, ehlo=b"250-stub\r\n250 AUTH PLAIN\r\n",
                           on_dot=lambda: release.wait(30) or tls.sendall(b"250 ok\r\n"))

    stub = StubServer(script)
    sleep = SleepRecorder()
    try:
        mailer = SmtpMailer("127.0.0.1", stub.port, security="tls", username="well", password=Secret(PASSWORD),
                            ca_file=str(cert), timeout_s=0.5, sleep=sleep)
        result = mailer.send(message(1))
    finally:
        release.set()
        stub.close()
    assert result.outcome == "unknown" and result.attempts == 1 and result.stage == "END_OF_DATA"
    assert "timed out" in result.reply
    assert sleep.calls == []
    assert stub.lines.count(b"<end of data>") == 1 and [line.upper() for line in stub.lines].count(b"DATA") == 1
    assert stub.connections == 1


# -- issue 8: quotas, the overall deadline, relays that cannot do TLS 1.3 --------------------------------------------


@pytest.mark.parametrize(("code", "text"), [
    (421, "4.7.0 Too many messages, sending rate limit exceeded"),
    (451, "4.7.500 Server busy: sending limit exceeded, try later"),
    (550, "5.4.5 Daily user sending quota exceeded"),
])
def test_a_quota_answer_is_not_retried_and_says_so(inbox: MelioInbox, code: int, text: str) -> None:
    inbox.add_fault("reply", stage="MAIL", code=code, text=text, times=None)
    with make_mailer(inbox) as mailer:
        result = mailer.send(message(1))
    assert result.outcome == "temporary_failure" and result.quota_exceeded and result.retry_is_safe
    assert (result.code, result.reply, result.attempts, result.stage) == (code, text, 1, "MAIL")
    assert sleeps(mailer) == [] and mailer.stats.retries == 0
    assert inbox.stats()["faults_injected"] == 1 and inbox.messages() == []


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_a_tls12_only_relay_raises_tls_error_naming_the_settings(tmp_path: Path, security: str) -> None:
    with MelioInbox(tmp_path / "inbox", InboxConfig(port=0, tls_port=0, tls_version="1.2")) as relay:
        mailer = make_mailer(relay, security)
        with pytest.raises(MailerTlsError) as info:
            with mailer:
                pytest.fail("entering must fail")
        with pytest.raises(MailerTlsError):  # send() the same way: a configuration error, not a temporary failure
            mailer.send(message(1))
        stats = relay.stats()
    assert "offers TLS 1.2 at most" in str(info.value)
    assert info.value.settings == ("smtp_host", "smtp_port", "smtp_security")
    assert sleeps(mailer) == [] and mailer.stats.temporary_failures == 0
    assert stats["auth_failures"] == 0 and stats["messages_accepted"] == 0  # no login, no mail, in any TLS


def test_a_relay_without_starttls_names_the_setting(tmp_path: Path) -> None:
    with MelioInbox(tmp_path / "inbox", InboxConfig(port=0, tls_port=0, offer_starttls=False)) as relay:
        with pytest.raises(MailerTlsError, match="does not offer STARTTLS.*setting smtp_security") as info:
            with make_mailer(relay):
                pass
    assert info.value.settings == ("smtp_security", "smtp_port")


def test_a_wrong_password_names_the_setting_and_the_secret(inbox: MelioInbox) -> None:
    with pytest.raises(MailerAuthError, match="smtp_username or the secret smtp_password") as info:
        with make_mailer(inbox, password=Secret("not-it")):
            pass
    assert info.value.settings == ("smtp_username", "smtp_password")


def _trickle(sock: socket.socket, lines: list[bytes], *, greeting: bytes) -> None:
    """A server that sends its greeting one byte every 50 ms (each read waits far less than any timeout)."""
    for byte in greeting:
        sock.sendall(bytes([byte]))
        lines.append(bytes([byte]))
        time.sleep(0.05)


def test_a_trickling_relay_is_cut_by_the_overall_deadline_and_retried(tmp_path: Path) -> None:
    cert, _ = generate_self_signed(tmp_path)
    greeting = b"220 " + b"x" * 200 + b"\r\n"  # 10 s at 50 ms a byte
    stub = StubServer(lambda sock, lines: _trickle(sock, lines, greeting=greeting))
    sleep = SleepRecorder()
    try:
        mailer = SmtpMailer("127.0.0.1", stub.port, username="well", password=Secret(PASSWORD), ca_file=str(cert),
                            timeout_s=5, deadline_s=0.5, max_retries=2, backoff_s=0.1, sleep=sleep)
        result = mailer.send(message(1))
    finally:
        stub.close()
    assert result.outcome == "temporary_failure" and result.deadline_hit and not result.quota_exceeded
    assert result.stage == "CONNECT" and result.attempts == 3 and sleep.calls == [0.1, 0.2]
    assert "0.5 s deadline (setting smtp_deadline_s)" in result.reply
    assert stub.connections == 3
    assert len(stub.lines) < len(greeting)  # cut mid-greeting, every time (3 x 0.5 s of a 10 s trickle)


def test_a_deadline_hit_after_the_final_dot_is_unknown(tmp_path: Path) -> None:
    cert, key = generate_self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(cert, key)
    release = threading.Event()

    def script(sock: socket.socket, lines: list[bytes]) -> None:
        with context.wrap_socket(sock, server_side=True) as tls:
            _smtp_dialogue(tls, lines, ehlo=b"250-stub\r\n250 AUTH PLAIN\r\n", on_dot=lambda: release.wait(10))

    stub = StubServer(script)
    sleep = SleepRecorder()
    try:
        mailer = SmtpMailer("127.0.0.1", stub.port, security="tls", username="well", password=Secret(PASSWORD),
                            ca_file=str(cert), timeout_s=30, deadline_s=1.0, sleep=sleep)
        result = mailer.send(message(1))
    finally:
        release.set()
        stub.close()
    # The per-read timeout (30 s) never fired: the deadline did, after the message was handed over.
    assert result.outcome == "unknown" and result.deadline_hit and result.attempts == 1 and sleep.calls == []
    assert "deadline (setting smtp_deadline_s)" in result.reply
    assert stub.lines.count(b"<end of data>") == 1


def test_deadline_must_be_positive() -> None:
    with pytest.raises(ValueError, match="deadline_s"):
        SmtpMailer("127.0.0.1", 25, deadline_s=0)
