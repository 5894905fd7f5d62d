"""Delivery end to end: Qonto sandbox → DuckDB → scoring → Melio inbox sandbox (SMTP, TLS 1.3), exactly once."""

from __future__ import annotations

import email
import email.policy
import logging
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from well_pipeline.cli.main import cli
from well_pipeline.defs.resources import MelioDeliveryResource, build_resources
from well_pipeline.sandbox.melio import MelioInbox
from well_pipeline.services.delivery import deliver_days
from well_pipeline.services.sync_marker import last_sync
from well_pipeline.settings import Settings, SettingsError
from well_pipeline_tests.defs.conftest import (
    DAY0,
    IBAN,
    INBOX_ADDRESS,
    TYPO_ADDRESS,
    WellEnv,
    clean_invoices,
    day_key,
    load_melio,
)
from well_pipeline_tests.support.qonto_records import make_invoice
from well_pipeline_tests.support.waiting import wait_until
from well_pipeline_tests.support.workspace_defs import DELIVERED_BILLS, QONTO_SUPPLIER_INVOICES, SCORED_MATCHES

# The stages of the `invoice_pipeline` step a test runs, by the asset each one writes (a UI subset).
STAGES = {"ingest": QONTO_SUPPLIER_INVOICES, "score": SCORED_MATCHES, "deliver": DELIVERED_BILLS}


def run(env: WellEnv, instance: dg.DagsterInstance, *, first: int = 0, last: int = 2,
        assets: tuple = ("ingest", "score", "deliver"), run_config: dict | None = None) -> dg.ExecuteInProcessResult:
    """A UI-style single-run backfill of days [first, last] through the pipeline multi-asset, limited to `assets`
    (selecting an asset selects its checks too: `no_record_sent_twice` runs inside the step with delivery)."""
    return dg.materialize(
        [env.ws.pipeline], instance=instance,
        selection=[STAGES[name] for name in assets], run_config=run_config,
        tags={"dagster/asset_partition_range_start": day_key(first),
              "dagster/asset_partition_range_end": day_key(last)},
        raise_on_error=False,
    )


def delivery_figures(result: dg.ExecuteInProcessResult) -> dict:
    """The delivery stage's run-wide figures (sent, already delivered, remaining...): its `delivered_bills`
    observation, since each partition's materialisation holds only that day's own counts."""
    (observation,) = [e.asset_observation_data.asset_observation for e in result.get_asset_observation_events()
                      if e.asset_key == DELIVERED_BILLS]
    return {key: value.value for key, value in observation.metadata.items()}


def delivered_days(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    """The `delivered_bills` partitions the run reported, with each day's metadata."""
    return {e.partition: {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events() if e.asset_key == DELIVERED_BILLS}


def outbox(env: WellEnv) -> dict[str, tuple]:
    with duckdb.connect(str(env.settings.duckdb_path), read_only=True) as con:
        rows = con.execute("SELECT qonto_id, state, record_version, message_id FROM outbox").fetchall()
        return {r[0]: r[1:] for r in rows}


def holds(env: WellEnv) -> dict[str, str]:
    with duckdb.connect(str(env.settings.duckdb_path), read_only=True) as con:
        return dict(con.execute("SELECT qonto_id, code FROM delivery_holds").fetchall())


def inbox_ids(inbox: MelioInbox) -> Counter:
    return Counter(m.header("X-Well-Qonto-Id") for m in inbox.messages())


def attachment_bytes(message) -> bytes:
    parsed = email.message_from_bytes(message.raw(), policy=email.policy.default)
    (part,) = list(parsed.iter_attachments())
    return part.get_content()


def test_each_bill_once_byte_identical_and_rerun_sends_nothing(delivery_env: WellEnv, inbox: MelioInbox,
                                                                instance: dg.DagsterInstance) -> None:
    delivery_env.write(clean_invoices(6) + clean_invoices(3, day=1))
    load_melio(delivery_env, instance)
    result = run(delivery_env, instance)
    assert result.success
    sent = inbox_ids(inbox)
    assert sent == Counter({f"d0-{n:03d}": 1 for n in range(6)} | {f"d1-{n:03d}": 1 for n in range(3)})
    attachments = delivery_env.dataset / "qonto" / "attachments"
    for message in inbox.messages():
        qonto_id = message.header("X-Well-Qonto-Id")
        original = next(attachments.glob(f"a{qonto_id[1:]}.*")).read_bytes()
        assert attachment_bytes(message) == original
        assert qonto_id in message.subject and qonto_id in message.attachments[0].filename
    assert all(state == "sent" for state, *_ in outbox(delivery_env).values())
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["no_record_sent_twice"] is True  # evaluated inside the step, after delivery
    # One delivered_bills partition per day of the range, each with its own counts; day 2 is empty: zero counts
    # (a partition run computed it; Dagster's backfill would count a requested day with no event as failed).
    days = delivered_days(result)
    assert set(days) == {day_key(0), day_key(1), day_key(2)}
    assert (days[day_key(0)]["sent"], days[day_key(1)]["sent"], days[day_key(2)]["sent"]) == (6, 3, 0)
    assert days[day_key(2)]["records"] == 0
    assert delivery_figures(result)["sent"] == 9

    again = run(delivery_env, instance)
    assert again.success
    assert sum(inbox_ids(inbox).values()) == 9  # zero new e-mails
    figures = delivery_figures(again)
    assert figures["already_delivered"] == 9 and figures["sent"] == 0


def test_smtp_faults_mid_batch_deliver_once_or_hold(delivery_env: WellEnv, inbox: MelioInbox,
                                                     instance: dg.DagsterInstance) -> None:
    delivery_env.write(clean_invoices(8))
    load_melio(delivery_env, instance)
    inbox.add_fault("reply", stage="MAIL", code=421, after_messages=1)
    inbox.add_fault("reply", stage="RCPT", code=451, after_messages=3)
    inbox.add_fault("reply", stage="END_OF_DATA", code=550, after_messages=5)
    inbox.add_fault("drop_after_data", after_messages=6)
    assert run(delivery_env, instance, last=1).success
    sent = inbox_ids(inbox)
    assert max(sent.values()) == 1  # never twice
    states = outbox(delivery_env)
    assert Counter(s for s, *_ in states.values()) == Counter({"sent": 6, "permanent_failure": 1, "unconfirmed": 1})
    held = holds(delivery_env)
    assert sorted(held.values()) == ["DELIVERY_UNCONFIRMED", "REFUSED_BY_SERVER"]
    unconfirmed = next(q for q, (s, *_) in states.items() if s == "unconfirmed")
    assert sent[unconfirmed] == 1  # the server did take it: re-sending would have duplicated it
    refused = next(q for q, (s, *_) in states.items() if s == "permanent_failure")
    assert refused not in sent

    assert run(delivery_env, instance, last=1).success  # a re-run never sends the uncertain one again
    assert inbox_ids(inbox) == sent
    runner = CliRunner()
    env = {"WELL_DATA_DIR": str(delivery_env.settings.data_dir), "WELL_REVIEWER": "ops"}
    assert runner.invoke(cli, ["delivery", "confirm", unconfirmed], env=env).exit_code == 0
    assert outbox(delivery_env)[unconfirmed][0] == "sent"
    assert runner.invoke(cli, ["delivery", "resend", refused], env=env).exit_code == 0
    assert run(delivery_env, instance, last=1).success
    assert inbox_ids(inbox)[refused] == 1 and max(inbox_ids(inbox).values()) == 1


def test_second_line_duplicates_and_changes_after_delivery(delivery_env: WellEnv, inbox: MelioInbox,
                                                            instance: dg.DagsterInstance) -> None:
    invoices = clean_invoices(3)
    twin = make_invoice(invoice_id="d0-twin", attachment_id="a0-twin", created_at=DAY0 + timedelta(hours=20),
                        invoice_number="f 0 001", status="awaiting_payment", iban=IBAN,
                        total_amount={"value": "99.00", "currency": "EUR"})
    in_ledger = make_invoice(invoice_id="d0-ledger", attachment_id="a0-ledger", created_at=DAY0 + timedelta(hours=21),
                             invoice_number="OLD-1", status="awaiting_payment", iban=IBAN)
    delivery_env.write([*invoices, twin, in_ledger])
    load_melio(delivery_env, instance)
    env = {"WELL_DATA_DIR": str(delivery_env.settings.data_dir), "WELL_REVIEWER": "ops"}
    # The scorer holds the ledger copy and the twin itself (DUPLICATE_INVOICE: same supplier and number); approve
    # both by hand to prove delivery checks the ledger and what it already delivered too.
    assert run(delivery_env, instance, assets=("ingest", "score")).success
    for held in ("d0-ledger", "d0-twin"):
        assert CliRunner().invoke(cli, ["review", "approve", held], env=env).exit_code == 0
    assert run(delivery_env, instance, assets=("deliver",)).success
    assert set(inbox_ids(inbox)) == {"d0-000", "d0-001", "d0-002"}
    assert holds(delivery_env) == {"d0-twin": "DUPLICATE_OF_DELIVERED", "d0-ledger": "IN_MELIO_LEDGER"}
    # A copy a person then refuses in review is no longer released: the next delivery run lifts its hold.
    refuse = ["review", "refuse", "d0-twin", "--reason", "a copy of d0-001"]
    assert CliRunner().invoke(cli, refuse, env=env).exit_code == 0
    lifted = run(delivery_env, instance, assets=("deliver",))
    assert lifted.success and delivery_figures(lifted)["holds_lifted"] == 1
    assert holds(delivery_env) == {"d0-ledger": "IN_MELIO_LEDGER"}

    # Qonto changes a delivered record: Well updates its entry and holds the change for a person.
    changed = [dict(r) for r in delivery_env.invoices]
    target = next(r for r in changed if r["id"] == "d0-002")
    target["total_amount"] = {"value": "2222.22", "currency": "EUR"}
    target["updated_at"] = (DAY0 + timedelta(days=1)).isoformat()
    delivery_env.write(changed)
    assert run(delivery_env, instance).success
    assert sum(inbox_ids(inbox).values()) == 3
    assert holds(delivery_env)["d0-002"] == "CHANGED_AFTER_DELIVERY"
    shown = CliRunner().invoke(cli, ["delivery", "held"], env=env)
    assert "total_amount" in shown.output and "2222.22" in shown.output
    assert CliRunner().invoke(cli, ["delivery", "resend", "d0-002"], env=env).exit_code == 0
    assert run(delivery_env, instance, assets=("deliver",)).success
    versions = [m.message_id for m in inbox.messages() if m.header("X-Well-Qonto-Id") == "d0-002"]
    assert len(versions) == 2 and versions[0] != versions[1] and ".v2@" in versions[1]
    assert outbox(delivery_env)["d0-002"][:2] == ("sent", 2)
    assert run(delivery_env, instance, assets=("deliver",)).success
    assert sum(inbox_ids(inbox).values()) == 4  # the approval was used once


def test_sigkill_mid_batch_then_restart(delivery_env: WellEnv, inbox: MelioInbox, instance: dg.DagsterInstance,
                                        tmp_path: Path) -> None:
    count = 40
    delivery_env.write(clean_invoices(count))
    load_melio(delivery_env, instance)
    assert run(delivery_env, instance, assets=("ingest", "score")).success
    inbox.add_fault("delay", stage="END_OF_DATA", delay_s=0.15, times=None)
    settings = delivery_env.settings
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "WELL_DATA_DIR": str(settings.data_dir),
           "WELL_MELIO_INBOX_ADDRESS": INBOX_ADDRESS, "WELL_SMTP_HOST": "127.0.0.1",
           "WELL_SMTP_PORT": str(inbox.port), "WELL_SMTP_USERNAME": settings.smtp_username,
           "WELL_SMTP_FROM_ADDRESS": settings.smtp_from_address, "WELL_SMTP_CA_FILE": settings.smtp_ca_file,
           "WELL_QONTO_API_URL": settings.qonto_api_url, "WELL_QONTO_OAUTH_URL": settings.qonto_oauth_url,
           "WELL_QONTO_CLIENT_ID": settings.qonto_client_id}
    # What the sync sensor launches: `qonto_sync_job__main` (ingest the window, score, deliver), run by a worker process
    # of its own; killed with its whole process group mid-batch, then launched again as the next tick would.
    command = [sys.executable, "-m", "dagster", "job", "execute", "-m", "well_pipeline.definitions",
               "-j", delivery_env.ws.sync_job.name]
    process = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_until(lambda: inbox.stats()["messages_accepted"] >= 5 or process.poll() is not None, 180,
               "the run to deliver 5 e-mails")
    assert process.poll() is None, "the sync run ended before it could be killed mid-batch"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before_restart = inbox_ids(inbox)
    assert 5 <= sum(before_restart.values()) < count  # killed in the middle of the batch

    inbox.clear_faults()
    restarted = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    delivered = inbox_ids(inbox)
    states = outbox(delivery_env)
    held = holds(delivery_env)
    ids = {f"d0-{n:03d}" for n in range(count)}
    assert max(delivered.values()) == 1                       # none twice
    for qonto_id in ids:                                     # none lost: delivered once, or held for a person
        assert delivered[qonto_id] == 1 or held.get(qonto_id) == "DELIVERY_UNCONFIRMED", qonto_id
        assert states[qonto_id][0] in {"sent", "unconfirmed"}
    assert all(delivered[q] == 1 for q, (s, *_) in states.items() if s == "sent")


def test_a_second_send_found_by_the_blocking_check_fails_the_sync_and_keeps_the_marker(
        delivery_env: WellEnv, inbox: MelioInbox, instance: dg.DagsterInstance) -> None:
    """`no_record_sent_twice` runs inside the sync's one step: when it fails, the run is red and the sync marker
    does not move (the window is read again), as when it was a separate blocking check."""
    delivery_env.write(clean_invoices(2))
    load_melio(delivery_env, instance)
    assert delivery_env.ws.sync_job.execute_in_process(instance=instance).success
    store = delivery_env.resources["storage"].storage()
    marker = last_sync(store.invoices)
    assert marker is not None
    with duckdb.connect(str(delivery_env.settings.duckdb_path)) as con:  # what a double send would leave
        con.execute("INSERT INTO delivery_attempts SELECT * FROM delivery_attempts WHERE qonto_id = 'd0-000'")
    (new,) = clean_invoices(1, day=1)
    # Something new for the sync to do: updated inside the next window (the overlap before the marker).
    new["updated_at"] = (datetime.now(UTC) - timedelta(seconds=30)).isoformat()
    delivery_env.write([*delivery_env.invoices, new])

    failed = delivery_env.ws.sync_job.execute_in_process(instance=instance,
                                               raise_on_error=False)
    assert not failed.success
    (failure,) = failed.get_step_failure_events()
    assert "Blocking check no_record_sent_twice failed" in failure.step_failure_data.error.message
    # What the step logged before it failed is in the instance (the in-process result drops an op's buffered
    # events when the op raises).
    logged = [entry.dagster_event for entry in instance.all_logs(failed.run_id) if entry.dagster_event]
    (evaluation,) = [e.asset_check_evaluation_data for e in logged if e.event_type_value == "ASSET_CHECK_EVALUATION"
                     and e.asset_check_evaluation_data.check_name == "no_record_sent_twice"]
    assert not evaluation.passed and evaluation.metadata["examples"].value == "d0-000"
    assert not [e for e in logged if e.event_type_value == "ASSET_OBSERVATION"
                and "sync_marker" in e.asset_observation_data.asset_observation.metadata]
    assert last_sync(store.invoices) == marker  # unchanged: the next sync reads the window again
    assert inbox_ids(inbox)["d1-000"] == 1  # delivery ran before its check, as when the check was its own step


def test_one_resend_approval_allows_one_send_whatever_its_outcome(delivery_env: WellEnv, inbox: MelioInbox,
                                                                  instance: dg.DagsterInstance) -> None:
    delivery_env.write(clean_invoices(2))
    load_melio(delivery_env, instance)
    inbox.add_fault("drop_after_data")  # the first message arrives, its confirmation does not
    assert run(delivery_env, instance, last=1).success
    first = next(q for q, (s, *_) in outbox(delivery_env).items() if s == "unconfirmed")
    env = {"WELL_DATA_DIR": str(delivery_env.settings.data_dir), "WELL_REVIEWER": "ops"}
    assert CliRunner().invoke(cli, ["delivery", "resend", first], env=env).exit_code == 0
    inbox.add_fault("drop_after_data")  # the approved re-send is interrupted the same way
    assert run(delivery_env, instance, last=1).success
    assert inbox_ids(inbox)[first] == 2  # the original and the one approved re-send
    for _ in range(2):
        assert run(delivery_env, instance, last=1).success
    assert inbox_ids(inbox)[first] == 2  # the approval was used up by that re-send: nothing more goes out
    assert holds(delivery_env)[first] == "DELIVERY_UNCONFIRMED"


# -- the inbox address must be exactly @invoicesmelio.com (issue 7) ----------------------------------------


def test_resources_refuse_a_mistyped_inbox_when_built(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        build_resources(Settings(data_dir=tmp_path, melio_inbox_address=TYPO_ADDRESS))
    message = str(caught.value)
    assert "melio_inbox_address ($WELL_MELIO_INBOX_ADDRESS)" in message
    assert "domain 'invoicemelio.com' found, 'invoicesmelio.com' expected" in message
    assert "did you mean invoicesmelio.com?" in message
    upper = build_resources(Settings(data_dir=tmp_path, melio_inbox_address="Papeterie_1234@InvoicesMelio.COM"))
    assert upper["melio_delivery"].melio_inbox_address == "Papeterie_1234@InvoicesMelio.COM"
    with pytest.raises(ValidationError, match=r"melio_inbox_address .*did you mean invoicesmelio\.com\?"):
        MelioDeliveryResource(melio_inbox_address=TYPO_ADDRESS)  # the resource holds the same rule as the settings


def test_a_mistyped_inbox_fails_the_delivery_run_before_anything_is_sent(delivery_env: WellEnv, inbox: MelioInbox,
                                                                         instance: dg.DagsterInstance) -> None:
    delivery_env.write(clean_invoices(3))
    load_melio(delivery_env, instance)
    assert run(delivery_env, instance, assets=("ingest", "score")).success
    # A launchpad override of the resource's configuration: validated by the settings' rule when the run starts.
    override = {"resources": {"melio_delivery__main": {"config": {"melio_inbox_address": TYPO_ADDRESS}}}}
    result = run(delivery_env, instance, assets=("deliver",), run_config=override)
    assert not result.success  # red, not a green run that sent nothing
    (failure,) = [event for event in result.all_events if event.event_type_value == "RESOURCE_INIT_FAILURE"]
    error = failure.event_specific_data.error
    assert error is not None and error.cls_name == "ValidationError"
    assert "melio_inbox_address" in error.message and "did you mean invoicesmelio.com?" in error.message
    assert inbox.stats()["connections"] == 0 and inbox.messages() == []  # nothing handed to SMTP
    assert outbox(delivery_env) == {}  # no `sending` or `sent` row


def test_the_delivery_use_case_rechecks_the_inbox_itself(delivery_env: WellEnv, inbox: MelioInbox,
                                                         instance: dg.DagsterInstance) -> None:
    """The service refuses on its own, whoever calls it (not only behind the resource's check)."""
    delivery_env.write(clean_invoices(3))
    load_melio(delivery_env, instance)
    assert run(delivery_env, instance, assets=("ingest", "score")).success
    storage, delivery = delivery_env.resources["storage"], delivery_env.resources["melio_delivery"]
    with pytest.raises(SettingsError, match=r"domain 'invoicemelio\.com' found.*did you mean invoicesmelio\.com\?"):
        deliver_days(storage.storage(), [DAY0.date()], delivery.mailer,
                     to_address=TYPO_ADDRESS, from_address=delivery.smtp_from_address)
    assert inbox.stats()["connections"] == 0 and inbox.messages() == []
    assert outbox(delivery_env) == {}
    report = deliver_days(storage.storage(), [DAY0.date()], delivery.mailer,
                          to_address=INBOX_ADDRESS, from_address=delivery.smtp_from_address)
    assert report.sent == 3 and sum(inbox_ids(inbox).values()) == 3  # the same path with the right address


def test_allowing_any_domain_hands_the_mail_to_the_server_with_a_warning(delivery_env: WellEnv, inbox: MelioInbox,
                                                                         instance: dg.DagsterInstance) -> None:
    """The override (tests and sandboxes only) lets another domain through Well; the inbox sandbox, like Melio,
    only takes @invoicesmelio.com, so the refusal now comes from the server: 550 at RCPT, held for a person."""
    settings = delivery_env.settings.replace(melio_inbox_address=TYPO_ADDRESS, melio_inbox_allow_any_domain=True)
    delivery_env.use(settings)
    delivery_env.write(clean_invoices(2))
    load_melio(delivery_env, instance)
    result = run(delivery_env, instance, last=0)
    assert result.success
    warnings = [entry.user_message for entry in instance.all_logs(result.run_id)
                if entry.level == logging.WARNING and "melio_inbox_allow_any_domain" in entry.user_message]
    assert warnings and "tests and sandboxes only" in warnings[0]
    assert inbox.stats()["rcpt_refused"] == 2 and inbox.messages() == []
    assert {state for state, *_ in outbox(delivery_env).values()} == {"permanent_failure"}
    assert set(holds(delivery_env).values()) == {"REFUSED_BY_SERVER"}
    with duckdb.connect(str(delivery_env.settings.duckdb_path), read_only=True) as con:
        reasons = [reason for (reason,) in con.execute("SELECT reason FROM delivery_holds").fetchall()]
    assert all(r.startswith("the server refused it: 550") and "then `well delivery resend`" in r for r in reasons)
