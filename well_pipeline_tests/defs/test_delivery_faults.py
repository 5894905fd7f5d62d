"""Issue 8, delivery under hostile conditions, end to end on real sockets (Qonto sandbox, Melio inbox sandbox over
TLS, a real DuckDB file, real Dagster runs and `well` subprocesses): documents that are not what they claim, relays
that cannot do TLS 1.3 or refuse the login, quotas, a relay that stalls, and the CLI during a delivery run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from well_pipeline.adapters.melio import SmtpMailer
from well_pipeline.adapters.secrets import SMTP_PASSWORD, SecretStore
from well_pipeline.adapters.storage import Database, DuckDBStorage
from well_pipeline.core.delivery.plan import Action, HoldCode, Planned
from well_pipeline.core.delivery.quota import SendQuota
from well_pipeline.sandbox.melio import InboxConfig, MelioInbox
from well_pipeline.services.delivery import DeliveryStoppedError, deliver_days, utc_clock
from well_pipeline_tests.defs.conftest import (
    DAY0,
    INBOX_ADDRESS,
    WellEnv,
    clean_invoices,
    day_key,
    load_melio,
    use_inbox,
)
from well_pipeline_tests.defs.test_delivery import delivery_figures, holds, inbox_ids, outbox, run
from well_pipeline_tests.fault_matrix import FaultOutcome, excerpt
from well_pipeline_tests.support.duckdb_lock import lock_held
from well_pipeline_tests.support.qonto_records import make_invoice, write_dataset
from well_pipeline_tests.support.waiting import wait_until
from well_pipeline_tests.support.workspace_defs import DELIVERED_BILLS

WINDOWS_EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"This program"
HTML_PAGE = b"<!DOCTYPE html>\n<html><head><title>Qonto - session expired</title></head><body>Log in</body></html>\n"




def step_error(result: dg.ExecuteInProcessResult):  # noqa: ANN201 - Dagster's SerializableErrorInfo
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    assert error is not None and error.cause is not None
    return error.cause


def event_log_text(instance: dg.DagsterInstance, run_id: str) -> str:
    return "\n".join(entry.user_message or "" for entry in instance.all_logs(run_id))


def attempts(env: WellEnv) -> Counter:
    with duckdb.connect(str(env.settings.duckdb_path), read_only=True) as con:
        return Counter(dict(con.execute("SELECT outcome, count(*) FROM delivery_attempts GROUP BY 1").fetchall()))


@pytest.fixture
def started() -> Iterator[list[MelioInbox]]:
    """Inboxes a test starts with its own configuration; stopped afterwards."""
    inboxes: list[MelioInbox] = []
    yield inboxes
    for running in inboxes:
        running.stop()


def start_inbox(started: list[MelioInbox], tmp_path: Path, **config: object) -> MelioInbox:
    relay = MelioInbox(tmp_path / "inbox", InboxConfig(port=0, tls_port=0, **config)).start()
    started.append(relay)
    return relay


# -- 1. send only what Melio can draft ------------------------------------------------------------------------


@pytest.mark.fault(scenario="Qonto serves an executable and an HTML page as application/pdf",
                   expected="both held DOCUMENT_NOT_SENDABLE with what they are; nothing of them reaches the inbox")
def test_fake_pdfs_are_held_and_never_reach_the_inbox(delivery_env: WellEnv, inbox: MelioInbox,
                                                     instance: dg.DagsterInstance, fault_outcome: FaultOutcome) -> None:
    good = clean_invoices(2)
    fakes = [make_invoice(invoice_id=f"d0-{name}", attachment_id=f"a0-{name}", invoice_number=f"F-{name}",
                          created_at=DAY0 + timedelta(hours=5 + n), status="awaiting_payment",
                          supplier_name="Papeterie Dupont SARL", iban=good[0]["iban"], file_name=f"{name}.pdf")
             for n, name in enumerate(("exe", "html"))]
    delivery_env.invoices = good + fakes
    write_dataset(delivery_env.dataset, delivery_env.invoices, {"a0-exe": WINDOWS_EXE, "a0-html": HTML_PAGE})
    load_melio(delivery_env, instance)
    result = run(delivery_env, instance, last=0)
    assert result.success

    with duckdb.connect(str(delivery_env.settings.duckdb_path), read_only=True) as con:
        served = dict(con.execute("SELECT attachment_id, content_type FROM qonto_attachments").fetchall())
        released = dict(con.execute("SELECT qonto_id, decision FROM scored_matches").fetchall())
        reasons = dict(con.execute("SELECT qonto_id, reason FROM delivery_holds").fetchall())
    assert served["a0-exe"] == served["a0-html"] == "application/pdf"  # Qonto said PDF for both
    assert released["d0-exe"] == released["d0-html"] == "auto_link"    # scoring released them: delivery decides
    assert inbox_ids(inbox) == Counter({"d0-000": 1, "d0-001": 1})
    assert all(m.attachments[0].content_type == "application/pdf" for m in inbox.messages())
    assert holds(delivery_env) == {"d0-exe": "DOCUMENT_NOT_SENDABLE", "d0-html": "DOCUMENT_NOT_SENDABLE"}
    assert "declared application/pdf, content is a Windows executable (MZ)" in reasons["d0-exe"]
    assert "declared application/pdf, content is an HTML page" in reasons["d0-html"]
    assert set(outbox(delivery_env)) == {"d0-000", "d0-001"}  # never claimed, never marked sent
    shown = subprocess.run([sys.executable, "-m", "well_pipeline.cli.main", "delivery", "held"],
                           env=cli_env(delivery_env), capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "d0-exe  DOCUMENT_NOT_SENDABLE: declared application/pdf, content is a Windows executable (MZ)" \
        in shown.stdout
    assert "d0-html  DOCUMENT_NOT_SENDABLE: declared application/pdf, content is an HTML page" in shown.stdout

    again = run(delivery_env, instance, last=0)  # still held, still not sent
    assert again.success and sum(inbox_ids(inbox).values()) == 2
    lost = sum(1 for q in ("d0-exe", "d0-html") if holds(delivery_env).get(q) != "DOCUMENT_NOT_SENDABLE")
    fault_outcome.record(observed=f"fakes held with the reason ({reasons['d0-exe'][:62]}…); inbox got only the "
                         f"{sum(inbox_ids(inbox).values())} real PDFs", lost=lost,
                         duplicated=max(inbox_ids(inbox).values()) - 1)


# -- 2. configuration faults fail fast, naming the setting ---------------------------------------------------------


def assert_nothing_touched(env: WellEnv, relay: MelioInbox) -> None:
    assert relay.messages() == [] and relay.stats()["messages_accepted"] == 0
    assert outbox(env) == {}  # no row claimed, so none left `sending`, `temporary_failure` or `unconfirmed`
    assert sum(attempts(env).values()) == 0


def deliver_only(env: WellEnv, instance: dg.DagsterInstance, relay: MelioInbox, *, count: int = 5,
                 **settings: object) -> dg.ExecuteInProcessResult:
    use_inbox(env, relay, **settings)
    env.write(clean_invoices(count))
    load_melio(env, instance)
    assert run(env, instance, assets=("ingest", "score"), last=0).success
    return run(env, instance, assets=("deliver",), last=0)


@pytest.mark.fault(scenario="SMTP relay offers TLS 1.2 only (closes a TLS 1.3 handshake without an alert)",
                   expected="run fails red at the first message naming smtp_host/smtp_port/smtp_security; nothing "
                            "sent, no row claimed, no retries")
def test_tls12_only_relay_fails_the_run_at_once_naming_the_settings(
        well_env: WellEnv, instance: dg.DagsterInstance, tmp_path: Path, started: list[MelioInbox],
        fault_outcome: FaultOutcome) -> None:
    relay = start_inbox(started, tmp_path, tls_version="1.2")
    result = deliver_only(well_env, instance, relay)
    assert not result.success  # red, not a green run with "sent 0"
    cause = step_error(result)
    assert cause.cls_name == "MailerTlsError"
    assert "offers TLS 1.2 at most" in cause.message
    assert all(name in cause.message for name in ("smtp_host", "smtp_port", "smtp_security"))
    assert_nothing_touched(well_env, relay)
    # One connection for the refused handshake, one for the TLS 1.2 check; no per-message retries.
    connections = relay.stats()["connections"]
    assert connections <= 2 and relay.stats()["starttls_failures"] == 1
    fault_outcome.record(observed=f"MailerTlsError after {connections} connections, 0 messages tried: "
                         f"{excerpt(cause.message, 160)}", lost=len(outbox(well_env)), duplicated=0)


@pytest.mark.fault(scenario="SMTP relay does not offer STARTTLS",
                   expected="run fails red naming smtp_security/smtp_port; no plain-text login, nothing sent")
def test_relay_without_starttls_fails_the_run_naming_the_setting(
        well_env: WellEnv, instance: dg.DagsterInstance, tmp_path: Path, started: list[MelioInbox],
        fault_outcome: FaultOutcome) -> None:
    relay = start_inbox(started, tmp_path, offer_starttls=False)
    result = deliver_only(well_env, instance, relay)
    assert not result.success
    cause = step_error(result)
    assert cause.cls_name == "MailerTlsError" and "does not offer STARTTLS" in cause.message
    assert "setting smtp_security" in cause.message and "smtp_port" in cause.message
    assert_nothing_touched(well_env, relay)
    assert relay.stats()["connections"] == 1 and relay.stats()["auth_failures"] == 0
    fault_outcome.record(observed=f"MailerTlsError on the first connection: {excerpt(cause.message, 160)}", lost=0,
                         duplicated=0, leaked=0)


@pytest.mark.fault(scenario="SMTP password wrong",
                   expected="one login attempt; run fails red naming smtp_username and secret smtp_password; the "
                            "password in no error or log")
def test_wrong_smtp_password_fails_the_run_naming_the_setting(
        well_env: WellEnv, instance: dg.DagsterInstance, tmp_path: Path, started: list[MelioInbox],
        fault_outcome: FaultOutcome) -> None:
    wrong = "hunter2-not-the-relay-password"
    relay = start_inbox(started, tmp_path)
    result = deliver_only(well_env, instance, relay, password=wrong)
    assert not result.success
    cause = step_error(result)
    assert cause.cls_name == "MailerAuthError"
    assert "smtp_username" in cause.message and "secret smtp_password" in cause.message
    assert_nothing_touched(well_env, relay)
    assert relay.stats()["auth_failures"] == 1  # one attempt: no lock-out from retries
    logs = event_log_text(instance, result.run_id)
    leaked = sum(wrong in text for text in (cause.message, str(cause.stack), logs))
    assert leaked == 0
    fault_outcome.record(observed="MailerAuthError after 1 login attempt; nothing claimed", lost=0, duplicated=0,
                         leaked=leaked)


# -- 3. quotas --------------------------------------------------------------------------------------------------


@pytest.mark.fault(scenario="Relay answers 421 'rate limit' mid-batch (quota)",
                   expected="no retry; run pauses green with the rest pending (not failed, not unconfirmed); the "
                            "next run sends the rest, each bill once")
def test_quota_answer_mid_batch_pauses_and_the_next_run_finishes(
        delivery_env: WellEnv, inbox: MelioInbox, instance: dg.DagsterInstance,
        fault_outcome: FaultOutcome) -> None:
    delivery_env.write(clean_invoices(6))
    load_melio(delivery_env, instance)
    assert run(delivery_env, instance, assets=("ingest", "score"), last=0).success
    inbox.add_fault("reply", stage="MAIL", code=421, text="4.7.0 Too many messages, sending rate limit exceeded",
                    after_messages=2, times=None)
    first = run(delivery_env, instance, assets=("deliver",), last=0)
    assert first.success  # a quota is not an error: the run says what is left
    meta = delivery_figures(first)
    assert meta["sent"] == 2 and meta["remaining"] == 4 and "quota" in meta["paused"]
    assert inbox.stats()["faults_injected"] == 1  # the quota answer was not retried
    states = Counter(state for state, *_ in outbox(delivery_env).values())
    assert states == Counter({"sent": 2})  # the refused one was given back: pending, like the three after it
    assert holds(delivery_env) == {}
    assert attempts(delivery_env) == Counter({"sent": 2, "deferred": 1})

    inbox.clear_faults()
    second = run(delivery_env, instance, assets=("deliver",), last=0)
    assert second.success and delivery_figures(second)["remaining"] == 0
    delivered = inbox_ids(inbox)
    assert delivered == Counter({f"d0-{n:03d}": 1 for n in range(6)})
    fault_outcome.record(observed=f"run 1: sent 2, paused after 1 quota answer, 4 pending; run 2: sent "
                         f"{delivery_figures(second)['sent']}", lost=6 - len(delivered),
                         duplicated=max(delivered.values()) - 1)


@pytest.mark.fault(scenario="Backlog larger than the relay's daily quota (smtp_max_per_day=3, 7 bills)",
                   expected="3 a day, counted from delivery_attempts across runs; progress in metadata; all 7 once "
                            "after three days")
def test_daily_quota_spreads_a_backlog_over_several_days(
        well_env: WellEnv, inbox: MelioInbox, instance: dg.DagsterInstance,
        fault_outcome: FaultOutcome) -> None:
    env = use_inbox(well_env, inbox, smtp_max_per_day=3)
    env.write(clean_invoices(7))
    load_melio(env, instance)
    assert run(env, instance, assets=("ingest", "score"), last=0).success

    def deliver() -> dict:
        result = run(env, instance, assets=("deliver",), last=0)
        assert result.success
        return delivery_figures(result) | {"log": event_log_text(instance, result.run_id)}

    day1 = deliver()
    assert (day1["sent"], day1["sent_today"], day1["remaining"], day1["daily_quota"]) == (3, 3, 4, 3)
    assert day1["quota_resets_at"].endswith("UTC") and "daily quota of 3" in day1["paused"]
    assert "Delivery paused: daily quota of 3 e-mails reached" in day1["log"] and "frees up from" in day1["log"]
    connections = inbox.stats()["connections"]
    again = deliver()  # a second run the same day (a new process would read the same table): nothing more goes
    assert (again["sent"], again["sent_today"], again["remaining"]) == (0, 3, 4)
    assert inbox.stats()["connections"] == connections  # not even a connection to the relay

    progress = [day1["remaining"]]
    for _ in range(2):
        # A day passes: the audit's send times move back 25 h (what the rolling window reads).
        with duckdb.connect(str(env.settings.duckdb_path)) as con:
            con.execute("UPDATE delivery_attempts SET attempted_at = attempted_at - INTERVAL 25 HOUR")
        progress.append(deliver()["remaining"])
    assert progress == [4, 1, 0]
    delivered = inbox_ids(inbox)
    assert delivered == Counter({f"d0-{n:03d}": 1 for n in range(7)})
    assert inbox.stats()["messages_accepted"] == 7
    fault_outcome.record(observed=f"remaining after each day {progress}; 3 e-mails per day, none over quota",
                         lost=7 - len(delivered), duplicated=max(delivered.values()) - 1)


@dataclass
class FakeTime:
    """Minutes cannot pass in a test: the quota's clock and sleep, advancing together (no real waiting)."""

    now: datetime
    inbox: MelioInbox
    accepted_at_each_wait: list[int]

    def clock(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.accepted_at_each_wait.append(self.inbox.stats()["messages_accepted"])
        self.now += timedelta(seconds=seconds)


@pytest.mark.fault(scenario="Relay allows 2 e-mails a minute (smtp_max_per_minute=2), 5 bills",
                   expected="Well waits before the 3rd and the 5th; never 3 in a minute; all 5 once")
def test_per_minute_quota_is_respected(delivery_env: WellEnv, inbox: MelioInbox,
                                       instance: dg.DagsterInstance, fault_outcome: FaultOutcome) -> None:
    delivery_env.write(clean_invoices(5))
    load_melio(delivery_env, instance)
    assert run(delivery_env, instance, assets=("ingest", "score"), last=0).success
    storage, delivery = delivery_env.resources["storage"], delivery_env.resources["melio_delivery"]
    fake = FakeTime(utc_clock(), inbox, [])
    report = deliver_days(storage.storage(), [DAY0.date()], delivery.mailer,
                          to_address=INBOX_ADDRESS, from_address=delivery.smtp_from_address,
                          quota=SendQuota(per_minute=2), clock=fake.clock, sleep=fake.sleep)
    assert report.sent == 5 and report.remaining == 0
    assert fake.accepted_at_each_wait == [2, 4]  # a wait after every second e-mail, none before
    assert report.throttled_s == pytest.approx(120.0, abs=1.0)
    delivered = inbox_ids(inbox)
    assert delivered == Counter({f"d0-{n:03d}": 1 for n in range(5)})
    fault_outcome.record(observed=f"waited before e-mails 3 and 5 (accepted counts at the waits "
                         f"{fake.accepted_at_each_wait}); {report.throttled_s:.0f} s of quota waits",
                         lost=5 - len(delivered), duplicated=max(delivered.values()) - 1)


# -- 4. the SMTP deadline -----------------------------------------------------------------------------------------


@pytest.mark.fault(scenario="Relay stalls at RCPT (answers after 8 s) with smtp_deadline_s=1.5",
                   expected="each attempt cut at the deadline, retried with backoff, then the batch stops with an "
                            "error naming smtp_deadline_s; nothing sent, the rest pending")
def test_a_stalling_relay_hits_the_deadline_and_stops_the_batch(
        delivery_env: WellEnv, inbox: MelioInbox, instance: dg.DagsterInstance,
        fault_outcome: FaultOutcome) -> None:
    delivery_env.write(clean_invoices(4))
    load_melio(delivery_env, instance)
    assert run(delivery_env, instance, assets=("ingest", "score"), last=0).success
    storage, delivery = delivery_env.resources["storage"], delivery_env.resources["melio_delivery"]
    password = SecretStore(delivery_env.settings.secrets_path, environ={}).require(SMTP_PASSWORD, "")

    def mailer() -> SmtpMailer:  # the configured relay, with a short deadline and backoff for the test
        return SmtpMailer("127.0.0.1", inbox.port, username=delivery.smtp_username, password=password,
                          ca_file=delivery.smtp_ca_file, deadline_s=1.5, max_retries=3, backoff_s=0.01)

    inbox.add_fault("delay", stage="RCPT", delay_s=8, times=None)
    with pytest.raises(DeliveryStoppedError) as stopped:
        deliver_days(storage.storage(), [DAY0.date()], mailer,
                     to_address=INBOX_ADDRESS, from_address=delivery.smtp_from_address)
    message = str(stopped.value)
    assert "smtp_deadline_s" in message and "1.5 s" in message and "4 attempts" in message
    assert "4 records wait for the next run" in message
    assert inbox.stats()["faults_injected"] == 4  # first try + 3 retries of the first bill, none of the others
    assert inbox.messages() == []
    assert {q: s for q, (s, *_) in outbox(delivery_env).items()} == {"d0-000": "temporary_failure"}
    inbox.release_delays()
    inbox.clear_faults()
    report = deliver_days(storage.storage(), [DAY0.date()], delivery.mailer,
                          to_address=INBOX_ADDRESS, from_address=delivery.smtp_from_address)
    delivered = inbox_ids(inbox)
    assert report.sent == 4 and delivered == Counter({f"d0-{n:03d}": 1 for n in range(4)})
    fault_outcome.record(observed="DeliveryStoppedError after 4 attempts cut at 1.5 s each, 1 bill tried; next "
                         "run sent all 4", lost=4 - len(delivered), duplicated=max(delivered.values()) - 1)


# -- 5. the CLI during a delivery run -------------------------------------------------------------------------------


def cli_env(env: WellEnv, **extra: str) -> dict[str, str]:
    settings = env.settings
    return {**os.environ, "WELL_DATA_DIR": str(settings.data_dir), "WELL_REVIEWER": "ops",
            "WELL_MELIO_INBOX_ADDRESS": settings.melio_inbox_address, "WELL_SMTP_HOST": settings.smtp_host,
            "WELL_SMTP_PORT": str(settings.smtp_port), "WELL_SMTP_USERNAME": settings.smtp_username,
            "WELL_SMTP_FROM_ADDRESS": settings.smtp_from_address, "WELL_SMTP_CA_FILE": settings.smtp_ca_file,
            "WELL_QONTO_API_URL": settings.qonto_api_url, "WELL_QONTO_OAUTH_URL": settings.qonto_oauth_url,
            "WELL_QONTO_CLIENT_ID": settings.qonto_client_id, **extra}


def well(env: WellEnv, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "well_pipeline.cli.main", *args], env=cli_env(env, **extra),
                          capture_output=True, text=True, timeout=120)


@pytest.mark.fault(scenario="`well` commands while a delivery run (a separate process) is mid-batch",
                   expected="reads and writes answer while the run waits on the relay; the run then finishes, each "
                            "bill once")
def test_the_cli_works_during_a_delivery_run(delivery_env: WellEnv, inbox: MelioInbox,
                                             instance: dg.DagsterInstance, tmp_path: Path,
                                             fault_outcome: FaultOutcome) -> None:
    count = 6
    delivery_env.write(clean_invoices(count))
    load_melio(delivery_env, instance)
    assert run(delivery_env, instance, assets=("ingest", "score"), last=0).success
    # The third e-mail waits at MAIL until the test releases it (at most 120 s): the run is mid-send meanwhile.
    inbox.add_fault("delay", stage="MAIL", delay_s=120, after_messages=2)
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "well_pipeline.definitions",
               "--select", DELIVERED_BILLS.to_user_string(), "--partition-range", f"{day_key(0)}...{day_key(0)}"]
    log_path = tmp_path / "materialize.log"
    log_file = log_path.open("w")  # a file, not a pipe: Dagster's logs must never block the run
    process = subprocess.Popen(command, env=cli_env(delivery_env, DAGSTER_HOME=str(tmp_path),
                                                    WELL_SMTP_DEADLINE_S="300"),
                               stdout=subprocess.DEVNULL, stderr=log_file)
    try:
        # Condition, not time: the run has sent two e-mails and is waiting on the third.
        wait_until(lambda: inbox.stats()["delays_waiting"] >= 1 or process.poll() is not None, 180,
                   "the delivery run to reach the stalled e-mail")
        assert inbox.stats()["delays_waiting"] == 1, "the delivery run never reached the stalled e-mail"

        status = well(delivery_env, "delivery", "status")
        listing = well(delivery_env, "review", "list")
        resend = well(delivery_env, "delivery", "resend", "d0-000")  # a write, while the run is mid-batch
        assert process.poll() is None  # the run was still waiting on the relay when all three answered
        assert inbox.stats()["messages_accepted"] == 2
    finally:
        inbox.release_delays()
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("outbox: sending 1, sent 2"), status.stdout
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.strip() == "the review queue is empty"  # all six were auto-linked
    assert resend.returncode == 0 and "approved by ops" in resend.stdout, resend.stderr
    process.wait(timeout=300)
    log_file.close()
    assert process.returncode == 0, log_path.read_text()[-2000:]
    delivered = inbox_ids(inbox)
    assert delivered == Counter({f"d0-{n:03d}": 1 for n in range(count)})
    fault_outcome.record(observed="`well delivery status`, `well review list` and `well delivery resend` answered "
                         "(exit 0) with the run mid-batch; the run then sent the rest", lost=count - len(delivered),
                         duplicated=max(delivered.values()) - 1)


@pytest.mark.fault(scenario="`well` commands while another process keeps the DuckDB file locked",
                   expected="after database_busy_wait_s, one line saying the database is busy; no traceback; works "
                            "once the lock is gone")
def test_a_locked_database_is_one_line_not_a_traceback(tmp_path: Path, fault_outcome: FaultOutcome) -> None:
    data_dir = tmp_path / "data"
    database = Database(data_dir / "well.duckdb")
    with database.connect():
        pass  # the schema
    env = {**os.environ, "WELL_DATA_DIR": str(data_dir), "WELL_REVIEWER": "ops", "WELL_DATABASE_BUSY_WAIT_S": "0.5"}

    def well_here(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "well_pipeline.cli.main", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    with lock_held(database.path):
        busy = [well_here("delivery", "status"), well_here("delivery", "confirm", "q-1"),
                well_here("review", "list")]
    for result in busy:
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == ["Error: Well's database is busy (a run is writing); retry in a "
                                                      "moment"], result.stderr
        assert result.stdout == ""
    free = well_here("delivery", "status")
    assert free.returncode == 0 and free.stdout.startswith("outbox: empty"), free.stderr
    fault_outcome.record(observed=f"{len(busy)} commands answered with the one busy line; after the lock: exit 0",
                         lost=0)


# -- 6. CLI output is inert -------------------------------------------------------------------------------------------


def test_delivery_output_escapes_control_characters(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    outbox_store = DuckDBStorage(data_dir / "well.duckdb", data_dir / "attachments").outbox
    forged = "F-1\x1b[2J\r\u202eFDP.exe"
    outbox_store.replace_holds(["q-1"], [Planned(
        "q-1", Action.HOLD, HoldCode.DUPLICATE_OF_DELIVERED, f"invoice {forged} was already sent",
        related_qonto_id="q-0\x1b[31m")], {})
    outbox_store.replace_holds(["q-2"], [Planned("q-2", Action.HOLD, HoldCode.CHANGED_AFTER_DELIVERY, "changed")],
                               {"q-2": {"fields": {"invoice_number": {"before": "F-2", "after": forged},
                                                   "total_amount": {"before": {"value": "1"},
                                                                    "after": {"value": "2\x1b"}}}}})
    env = {**os.environ, "WELL_DATA_DIR": str(data_dir)}
    shown = subprocess.run([sys.executable, "-m", "well_pipeline.cli.main", "delivery", "held"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout and "\r" not in shown.stdout and "\u202e" not in shown.stdout
    assert "invoice F-1\\x1b[2J\\r\\u202eFDP.exe was already sent (see q-0\\x1b[31m)" in shown.stdout
    assert "invoice_number: 'F-2' -> 'F-1\\x1b[2J\\r\\u202eFDP.exe'" in shown.stdout
    assert len(shown.stdout.splitlines()) == 4  # two holds and two changed fields, each on its own line
