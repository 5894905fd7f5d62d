"""The sync sensor (`qonto_sync_sensor__main`) against the real sandboxes, a real Dagster instance and a real
DuckDB file.

Each test evaluates the sensor as the daemon does (`build_sensor_context` with the instance and the cursor the last
tick returned) and executes what it requests with the request's own run config, tags and run key, so the
cursor's bookkeeping (pending run settled by its run key, marker reports adopted) meets real runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import dagster as dg
import pytest

from well_pipeline.adapters.secrets import QONTO_REFRESH_TOKEN, SMTP_PASSWORD, SecretStore
from well_pipeline.adapters.storage import DuckDBStorage
from well_pipeline.sandbox.melio import MelioInbox
from well_pipeline.services import review
from well_pipeline.services.sync_marker import last_sync
from well_pipeline_tests.defs.conftest import DAY0, IBAN, WellEnv, clean_invoices, load_melio
from well_pipeline_tests.support import sync_sensor as support
from well_pipeline_tests.support.duckdb_lock import lock_held
from well_pipeline_tests.support.postgres_server import new_schema
from well_pipeline_tests.support.qonto_records import make_invoice
from well_pipeline_tests.support.sync_sensor import (
    fresh_invoice,
    marker_of,
    only_request,
    reported_markers,
    skip_text,
    window,
)
from well_pipeline_tests.support.workspace_defs import MAIN, bundle_for

SYNC_JOB, DELIVER_JOB = MAIN.sync_job, MAIN.deliver_job


def tick(env: WellEnv, instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    return support.tick(env.ws, instance, cursor)


def launch(env: WellEnv, instance: dg.DagsterInstance, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    return support.launch(env.ws, instance, request)


def synced(env: WellEnv, instance: dg.DagsterInstance, invoices: list[dict]) -> str:
    """Melio loaded, `invoices` in Qonto, a first sync requested and run: the cursor after the run settled."""
    env.write(invoices)
    load_melio(env, instance)
    first = tick(env, instance, None)
    assert launch(env, instance, only_request(first)).success
    settled = tick(env, instance, first.cursor)
    assert "No change since" in skip_text(settled)
    return settled.cursor


def storage(env: WellEnv) -> DuckDBStorage:
    return DuckDBStorage(env.settings.duckdb_path, env.settings.data_path / "attachments")


def stranger(invoice_id: str, minutes: int) -> dict:
    """A record scoring cannot link (unknown supplier, no IBAN): it waits in the review queue."""
    return make_invoice(invoice_id=invoice_id, attachment_id=f"att-{invoice_id}",
                        created_at=DAY0 + timedelta(days=1, minutes=minutes), invoice_number=f"S-{invoice_id}",
                        status="awaiting_payment", supplier_name="Quincaillerie Inconnue", iban=None,
                        vat_number=None)


# -- ordering and the quiet tick -------------------------------------------------------------------------------
def test_waits_for_the_first_melio_load_then_syncs_and_a_quiet_tick_costs_one_request(
        delivery_env: WellEnv, instance: dg.DagsterInstance, inbox: MelioInbox) -> None:
    env = delivery_env
    env.write(clean_invoices(3))
    before = env.sandbox.stats()["api_requests"]
    waiting = tick(env, instance, None)
    assert "waits for the first Melio export load" in skip_text(waiting)
    assert env.sandbox.stats()["api_requests"] == before  # Qonto is not even asked
    assert not instance.get_runs()

    load_melio(env, instance)
    first = tick(env, instance, waiting.cursor)
    request = only_request(first)
    assert request.job_name == SYNC_JOB and request.run_key.startswith("qonto-sync:start:")
    assert window(request)["updated_from"] is None  # no marker yet: everything
    run = launch(env, instance, request)
    assert run.success
    assert len(inbox.messages()) == 3

    warm = tick(env, instance, first.cursor)  # settles the run, adopts its marker
    marker = marker_of(warm.cursor)
    assert marker is not None and f"No change since {marker.isoformat()}" in skip_text(warm)
    env.sandbox.reset_stats()
    quiet = tick(env, instance, warm.cursor)
    stats = env.sandbox.stats()
    assert stats["api_requests"] == 1 and stats["by_path"] == {"/v2/supplier_invoices": 1}, stats
    assert stats["requests"] == 1  # no token refresh: the kept client's access token is still valid
    assert f"No change since {marker.isoformat()}" in skip_text(quiet)
    assert quiet.cursor == warm.cursor
    assert len(instance.get_runs()) == 2  # the Melio load and the one sync: quiet ticks launched nothing


def test_success_adopts_the_window_end_as_marker_in_the_cursor_and_duckdb(
        delivery_env: WellEnv, instance: dg.DagsterInstance) -> None:
    env = delivery_env
    env.write(clean_invoices(2))
    load_melio(env, instance)
    first = tick(env, instance, None)
    request = only_request(first)
    assert marker_of(first.cursor) is None  # requested, not yet succeeded: the marker does not move
    run = launch(env, instance, request)
    assert run.success
    settled = tick(env, instance, first.cursor)
    marker = marker_of(settled.cursor)
    window_end = datetime.fromisoformat(window(request)["updated_to"])
    # The window end, kept on Qonto's clock (the marker never passes what Qonto's clock said: sync_marker.marker_for).
    assert marker is not None and window_end - timedelta(seconds=3) <= marker <= window_end
    assert reported_markers(instance, run.run_id) == [marker]
    assert last_sync(storage(env).invoices) == marker  # DuckDB's copy, for `well qonto status`
    assert settled.cursor is not None and settled.cursor.startswith(f'{{"marker":"{marker.isoformat()}"')

    # A person sends the marker back to where that sync started, nothing changed since: new work, under a run key
    # no run has used (Dagster drops a request whose key was used, and the old run would be taken for this one).
    redo = only_request(tick(env, instance, '{"marker": null}'))
    assert redo.run_key.startswith("qonto-sync:start:") and redo.run_key != request.run_key
    assert not instance.get_runs(dg.RunsFilter(tags={support.RUN_KEY_TAG: redo.run_key}))


# -- changes, run keys, failures ----------------------------------------------------------------------------------
def test_a_new_invoice_is_one_request_with_a_run_key_launched_once_and_retried_after_a_failure(
        delivery_env: WellEnv, instance: dg.DagsterInstance, inbox: MelioInbox) -> None:
    env = delivery_env
    base = synced(env, instance, clean_invoices(2))
    marker = marker_of(base)
    assert marker is not None

    new = fresh_invoice("new-1", iban=IBAN)
    env.write([*env.invoices, new])
    changed = tick(env, instance, base)
    request = only_request(changed)
    overlap = timedelta(minutes=env.resources["qonto"].sync_overlap_minutes)
    assert request.run_key.startswith(f"qonto-sync:{marker.isoformat()}:")
    assert window(request)["updated_from"] == (marker - overlap).isoformat()
    assert request.tags["well/window_to"] == window(request)["updated_to"]

    # The same tick evaluated again (same cursor): the same run key, so Dagster launches the work once.
    again = tick(env, instance, base)
    assert only_request(again).run_key == request.run_key
    # The requested run is queued: the next tick waits for it.
    queued = instance.create_run_for_job(job_def=env.ws.sync_job, run_config=request.run_config,
                                         tags={**request.tags, support.RUN_KEY_TAG: request.run_key})
    waiting = tick(env, instance, changed.cursor)
    assert f"previous {SYNC_JOB} run {queued.run_id} is still not_started" in skip_text(waiting)
    # It never starts (say, the daemon was stopped and the run canceled): the marker stays, a retry has a new key.
    instance.report_run_failed(queued)
    retry = tick(env, instance, changed.cursor)
    retry_request = only_request(retry)
    assert retry_request.run_key == f"{request.run_key}:retry-1"
    assert marker_of(retry.cursor) == marker

    # The retry fails for real (Qonto refuses the listing): still the same marker, the next key is new again.
    env.sandbox.add_fault("/v2/supplier_invoices", kind="status", times=None, status=400)
    failed = launch(env, instance, retry_request)
    env.sandbox.clear_faults()
    assert not failed.success
    assert marker_of(tick(env, instance, retry.cursor).cursor) == marker
    second_retry = tick(env, instance, retry.cursor)
    assert only_request(second_retry).run_key == f"{request.run_key}:retry-2"
    assert last_sync(storage(env).invoices) == marker  # DuckDB's copy did not move either

    assert launch(env, instance, only_request(second_retry)).success
    done = tick(env, instance, second_retry.cursor)
    assert marker_of(done.cursor) is not None and marker_of(done.cursor) > marker
    assert new["id"] in {m.header("X-Well-Qonto-Id") for m in inbox.messages()}
    assert len(inbox.messages()) == 3
    assert '"retry"' not in (done.cursor or "")  # a success forgets the retries


# -- a backfill reaching the present ---------------------------------------------------------------------------
def test_a_backfill_reaching_the_present_sets_the_marker_the_next_tick_adopts(
        delivery_env: WellEnv, instance: dg.DagsterInstance, inbox: MelioInbox, one_planned_event_per_asset: None
) -> None:
    # A short history (two weeks, not three years): what matters is a range that ends at the present.
    env = delivery_env.use(delivery_env.settings.replace(history_start=(DAY0 - timedelta(days=3)).date()))
    assert len(env.ws.partitions.get_partition_keys()) < 20
    env.write(clean_invoices(3))
    load_melio(env, instance)
    backfill = dg.materialize([env.ws.pipeline], instance=instance, tags={
        "dagster/asset_partition_range_start": env.ws.partitions.get_first_partition_key(),
        "dagster/asset_partition_range_end": env.ws.partitions.get_last_partition_key()})
    assert backfill.success and len(inbox.messages()) == 3
    (marker,) = reported_markers(instance, backfill.run_id)

    adopted = tick(env, instance, None)
    assert marker_of(adopted.cursor) == marker
    # The first tick's sync (its cursor never saw a Melio load) starts from the backfill's marker, not from scratch.
    request = only_request(adopted)
    overlap = timedelta(minutes=env.resources["qonto"].sync_overlap_minutes)
    assert window(request)["updated_from"] == (marker - overlap).isoformat()
    assert launch(env, instance, request).success
    assert len(inbox.messages()) == 3  # nothing e-mailed twice
    assert "No change since" in skip_text(tick(env, instance, adopted.cursor))


# -- approvals without dates -------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_a_pinned_record_is_delivered_by_the_next_tick_without_a_qonto_change(
        delivery_env: WellEnv, instance: dg.DagsterInstance, inbox: MelioInbox, backend: str,
        request: pytest.FixtureRequest) -> None:
    env = delivery_env
    if backend == "postgres":  # the sensor's read of what waits goes through the PostgreSQL store, a schema each
        env.use(env.settings.replace(storage_backend="postgres", postgres_schema=new_schema(),
                                     postgres_dsn=request.getfixturevalue("postgres_dsn")))
    cursor = synced(env, instance, [*clean_invoices(1), stranger("q-1", 30)])
    assert len(inbox.messages()) == 1  # the stranger waits in the review queue
    review.pin(env.ws.resources.storage.storage(), "q-1", "V-1", author="test")

    asked = tick(env, instance, cursor)
    request = only_request(asked)
    assert request.job_name == DELIVER_JOB and request.run_key.startswith("deliver-approved:")
    assert only_request(tick(env, instance, cursor)).run_key == request.run_key  # the same tick twice: one run
    assert launch(env, instance, request).success
    assert "q-1" in {m.header("X-Well-Qonto-Id") for m in inbox.messages()}

    after = tick(env, instance, asked.cursor)
    assert "No change since" in skip_text(after) and "wait for delivery" not in skip_text(after)
    assert len(instance.get_runs(dg.RunsFilter(job_name=DELIVER_JOB))) == 1


def test_a_failed_delivery_run_is_retried_and_one_that_leaves_the_same_set_waiting_is_not_asked_again(
        delivery_env: WellEnv, instance: dg.DagsterInstance, inbox: MelioInbox) -> None:
    env = delivery_env
    cursor = synced(env, instance, [*clean_invoices(1), stranger("q-1", 30)])
    review.pin(storage(env), "q-1", "V-1", author="test")
    asked = tick(env, instance, cursor)
    request = only_request(asked)

    # The relay refuses Well's login (a changed password): the run fails, the record still waits, the next tick
    # asks again under a new key.
    secrets = SecretStore(env.settings.secrets_path, environ={})
    password = secrets.get(SMTP_PASSWORD)
    assert password is not None
    secrets.set(SMTP_PASSWORD, "not-the-password")
    assert not launch(env, instance, request).success
    secrets.set(SMTP_PASSWORD, password.reveal())
    retry = tick(env, instance, asked.cursor)
    retry_request = only_request(retry)
    assert retry_request.job_name == DELIVER_JOB
    assert retry_request.run_key == f"{request.run_key}:retry-1"

    # The daily quota (1 e-mail, already used by the sync) pauses the retry: it succeeds, the record still waits.
    one_a_day = bundle_for(env.settings.replace(smtp_max_per_day=1))
    assert support.launch(one_a_day, instance, retry_request).success
    assert [row.qonto_id for row in storage(env).outbox.awaiting_delivery()] == ["q-1"]
    quiet = tick(env, instance, retry.cursor)
    assert "1 record(s) still wait for delivery after the last 'deliver approved' run" in skip_text(quiet)
    assert "1 record(s) still wait" in skip_text(tick(env, instance, quiet.cursor))  # and not asked again
    assert len(instance.get_runs(dg.RunsFilter(job_name=DELIVER_JOB))) == 2
    assert len(inbox.messages()) == 1


# -- what a tick must survive -----------------------------------------------------------------------------------
def test_disconnected_qonto_skips_and_keeps_the_queue(
        delivery_env: WellEnv, instance: dg.DagsterInstance) -> None:
    env = delivery_env
    cursor = synced(env, instance, [*clean_invoices(1), stranger("q-1", 30)])
    queue = review.list_queue(storage(env), limit=None)
    assert [entry.qonto_id for entry in queue.entries] == ["q-1"]
    SecretStore(env.settings.secrets_path, environ={}).delete(QONTO_REFRESH_TOKEN)
    before = env.sandbox.stats()["requests"]

    skipped = tick(env, instance, cursor)
    text = skip_text(skipped)
    assert "Qonto is not connected" in text and "review queue is kept" in text
    assert marker_of(cursor) is not None and marker_of(cursor).isoformat() in text
    assert env.sandbox.stats()["requests"] == before  # no request without a token
    assert skipped.cursor == cursor
    assert review.list_queue(storage(env), limit=None) == queue  # the same rows, nothing dropped


def test_an_unreadable_secret_store_is_a_skip_that_asks_nothing_of_qonto(
        delivery_env: WellEnv, instance: dg.DagsterInstance) -> None:
    env = delivery_env
    env.write(clean_invoices(1))
    load_melio(env, instance)
    env.settings.secrets_path.write_text("{damaged")
    before = env.sandbox.stats()["requests"]
    text = skip_text(tick(env, instance, None))
    assert "secret store cannot be read" in text and str(env.settings.secrets_path) in text
    assert env.sandbox.stats()["requests"] == before and len(instance.get_runs()) == 1


@pytest.mark.parametrize(("cursor", "named"), [
    ("{not json", "not JSON"),
    ('{"marker": "2026-03-01T08:00:00"}', '"marker"'),
    ('{"marker": "2026-03-01T08:00:00Z", "markr": 1}', "'markr'"),
    ('{"marker": null, "adopted": -1}', '"adopted"'),
])
def test_a_malformed_cursor_is_a_skip_naming_the_problem_and_nothing_is_lost(
        delivery_env: WellEnv, instance: dg.DagsterInstance, cursor: str, named: str) -> None:
    env = delivery_env
    env.write(clean_invoices(1))
    load_melio(env, instance)
    result = env.ws.sync_sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
    # A bare skip: Dagster keeps the cursor as it was, for the person to fix; no run is requested.
    assert isinstance(result, dg.SkipReason)
    assert "cursor cannot be read" in result.skip_message and named in result.skip_message
    assert len(instance.get_runs()) == 1  # the Melio load only


def test_the_cursor_of_an_earlier_version_is_read_as_a_new_sensor(delivery_env: WellEnv,
                                                                  instance: dg.DagsterInstance) -> None:
    """Before issue 10 the cursor was a time-slot label and held no marker: after an upgrade the sensor starts as a
    new one (one full listing; rows are keyed, nothing is sent twice) instead of skipping on an unreadable cursor."""
    env = delivery_env
    env.write(clean_invoices(2))
    load_melio(env, instance)
    result = tick(env, instance, "2026-03-14T09:30Z")
    (request,) = result.run_requests
    assert request.job_name == SYNC_JOB and request.run_key.startswith("qonto-sync:start:")
    assert window(request)["updated_from"] is None
    assert '"marker":null' in result.cursor


def test_the_sensor_answers_while_another_process_holds_the_duckdb_write_lock(
        delivery_env: WellEnv, instance: dg.DagsterInstance) -> None:
    env = delivery_env
    cursor = synced(env, instance, clean_invoices(1))
    with lock_held(env.settings.duckdb_path, "BEGIN"):
        busy = tick(env, instance, cursor)
        text = skip_text(busy)
        assert "No change since" in text and "not checked this tick (the database is busy" in text
        assert busy.cursor == cursor
    assert "not checked" not in skip_text(tick(env, instance, cursor))


# -- a new sensor on existing data -------------------------------------------------------------------------------
def test_a_new_sensor_starts_from_the_marker_the_store_holds(
        delivery_env: WellEnv, instance: dg.DagsterInstance) -> None:
    """A sensor with an empty cursor (renamed by the upgrade to workspace names, or a workspace added on existing
    data) seeds its marker from the store's copy instead of listing everything again: its first sync's window
    starts at that marker minus the overlap."""
    env = delivery_env
    env.write(clean_invoices(2))
    load_melio(env, instance)
    assert support.launch(env.ws, instance, dg.RunRequest(run_key="by-hand", job_name=env.ws.sync_job.name)).success
    stored = last_sync(storage(env).invoices)
    assert stored is not None
    with dg.instance_for_test() as fresh:  # no run, no marker report, no sensor state: only the data
        assert dg.materialize(list(env.ws.melio_assets), instance=fresh).success
        first = tick(env, fresh, None)
    assert marker_of(first.cursor) == stored
    overlap = timedelta(minutes=env.resources["qonto"].sync_overlap_minutes)
    assert window(only_request(first))["updated_from"] == (stored - overlap).isoformat()  # the Melio load asks one


def test_a_new_sensor_waits_while_the_store_it_seeds_from_is_busy(
        delivery_env: WellEnv, instance: dg.DagsterInstance) -> None:
    env = delivery_env
    cursor = synced(env, instance, clean_invoices(1))
    with lock_held(env.settings.duckdb_path, "BEGIN"):
        busy = tick(env, instance, None)
        assert "first tick reads its marker from the store, which is busy" in skip_text(busy)
        assert busy.cursor is None  # left empty: the next tick seeds it
    assert marker_of(tick(env, instance, None).cursor) == marker_of(cursor)
