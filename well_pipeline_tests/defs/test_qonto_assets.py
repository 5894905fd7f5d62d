"""`qonto_supplier_invoices` against the real sandbox over sockets, into a real DuckDB file, in a real instance."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from well_pipeline.adapters.qonto.records import parse_supplier_invoice
from well_pipeline.adapters.secrets import SecretStore
from well_pipeline.adapters.storage import DuckDBStorage
from well_pipeline.defs.qonto.assets import preview_table
from well_pipeline.defs.workspace.factory import WorkspaceBundle
from well_pipeline.services.sync_marker import SYNC_MARKER
from well_pipeline_tests.defs.conftest import DAY0, WellEnv, day_key
from well_pipeline_tests.defs.pipeline_runs import checks, checks_logged, day_metadata, marker_report, summary
from well_pipeline_tests.defs.pipeline_runs import materialize_range as run_range
from well_pipeline_tests.defs.pipeline_runs import sync as run_sync
from well_pipeline_tests.fault_matrix import FaultOutcome, excerpt
from well_pipeline_tests.support.qonto_records import make_invoice
from well_pipeline_tests.support.qonto_sandbox import wait_for_stats
from well_pipeline_tests.support.workspace_defs import QONTO_SUPPLIER_INVOICES, SCORED_MATCHES, bundle_for


def materialize_range(env: WellEnv, instance: dg.DagsterInstance, first: str, last: str) -> dg.ExecuteInProcessResult:
    """Ingest only (`qonto_supplier_invoices` and its checks) over [first, last], one run, as the UI backfills."""
    return run_range(env, instance, first, last, assets=[QONTO_SUPPLIER_INVOICES])


def db(env: WellEnv) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(env.settings.duckdb_path), read_only=True)


def test_range_backfill_loads_everything_once_and_rerun_changes_nothing(
    well_env: WellEnv, instance: dg.DagsterInstance
) -> None:
    result = materialize_range(well_env, instance, day_key(0), day_key(2))
    assert result.success
    meta = summary(result, QONTO_SUPPLIER_INVOICES)  # the run's own figures: an observation, not a partition's
    assert meta["new"] == 14  # 12 regular + Paris-midnight + null-OCR; the bad amount is a reject
    assert meta["rejected"] == 1
    assert meta["attachments_fetched"] == 14
    assert meta["partitions_materialized"] == 3
    # One run covered the whole range (BackfillPolicy.single_run) and recorded each partition with its own rows:
    # day 0 holds its four, the Paris-midnight one (22:30 UTC) and the null-OCR one.
    days = day_metadata(result, QONTO_SUPPLIER_INVOICES)
    assert {day: m["rows"] for day, m in days.items()} == {day_key(0): 6, day_key(1): 4, day_key(2): 4}
    assert days[day_key(0)]["incomplete_ocr_rows"] == 1 and days[day_key(1)]["incomplete_ocr_rows"] == 0
    assert len(result.get_asset_materialization_events()) == 3  # nothing else: no other asset, no empty day

    with db(well_env) as con:
        assert con.execute("SELECT count(*), count(DISTINCT id) FROM qonto_supplier_invoices").fetchone() == (14, 14)
        assert con.execute("SELECT created_date FROM qonto_supplier_invoices WHERE id = 'inv-paris'").fetchone()[0] \
            == DAY0.date()
        null_row = con.execute("SELECT supplier_name, total_amount, due_date FROM qonto_supplier_invoices "
                               "WHERE id = 'inv-null-ocr'").fetchone()
        assert null_row == (None, None, None)
        reject = con.execute("SELECT record_id, reason, raw_text FROM qonto_rejected_records").fetchone()
        assert reject[0] == "inv-bad-amount" and "12,50" in reject[2] and reject[1]
        stored = dict(con.execute("SELECT attachment_id, blob_path FROM qonto_attachments").fetchall())
    attachments_dir = well_env.settings.attachments_dir
    for att_id, blob in stored.items():
        original = next((well_env.dataset / "qonto" / "attachments").glob(f"{att_id}.*")).read_bytes()
        assert (attachments_dir / blob).read_bytes() == original

    downloads_before = well_env.sandbox.stats()["downloads"]
    with db(well_env) as con:
        snapshot = con.execute("SELECT * FROM qonto_supplier_invoices ORDER BY id").fetchall()
    again = materialize_range(well_env, instance, day_key(0), day_key(2))
    assert again.success
    meta = summary(again, QONTO_SUPPLIER_INVOICES)
    assert (meta["new"], meta["changed"], meta["attachments_fetched"]) == (0, 0, 0)
    assert well_env.sandbox.stats()["downloads"] == downloads_before
    with db(well_env) as con:
        assert con.execute("SELECT * FROM qonto_supplier_invoices ORDER BY id").fetchall() == snapshot
        assert con.execute("SELECT seen_count FROM qonto_rejected_records").fetchone()[0] == 2


def test_checks_pass_then_catch_a_tampered_document(well_env: WellEnv, instance: dg.DagsterInstance) -> None:
    result = materialize_range(well_env, instance, day_key(0), day_key(2))
    assert result.success  # a WARN check failing does not fail the run
    assert checks(result) == {"attachments_match_their_digest": True, "every_invoice_has_its_document": True,
                              "no_unparsed_qonto_records": False}  # the bad amount is waiting for a person
    # The evaluations are the instance's too (what the UI's check pages show).
    check_key = dg.AssetCheckKey(QONTO_SUPPLIER_INVOICES, "attachments_match_their_digest")
    assert instance.event_log_storage.get_latest_asset_check_execution_by_key([check_key])[check_key].run_id \
        == result.run_id

    with db(well_env) as con:
        blob = con.execute("SELECT blob_path FROM qonto_attachments ORDER BY attachment_id LIMIT 1").fetchone()[0]
    (well_env.settings.attachments_dir / blob).write_bytes(b"tampered")
    # The whole step this time: the blocking check fails after ingest and stops scoring and delivery in the step.
    again = run_range(well_env, instance, day_key(0), day_key(0))
    logged = checks_logged(instance, again)
    assert logged["attachments_match_their_digest"] is False
    assert not again.success
    assert "Blocking check attachments_match_their_digest failed" in failure_text(again)
    # Ingest reported its day before the check stopped the step.
    (latest,) = instance.fetch_materializations(
        dg.AssetRecordsFilter(QONTO_SUPPLIER_INVOICES, asset_partitions=[day_key(0)]), limit=1).records
    assert latest.run_id == again.run_id
    assert not day_metadata(again, SCORED_MATCHES)
    assert not set(logged) & {"one_row_per_invoice"}
    # `pipeline_checks__main` runs the checks again on their own (the UI's "Execute" on a check), on the data as it is.
    rerun = dg.materialize([well_env.ws.checks], instance=instance,
                           selection=dg.AssetSelection.checks(dg.AssetCheckKey(QONTO_SUPPLIER_INVOICES,
                                                                               "attachments_match_their_digest")),
                           raise_on_error=False)
    assert checks(rerun) == {"attachments_match_their_digest": False}
    with db(well_env) as con:
        assert con.execute("SELECT count(*) FROM scored_matches").fetchone()[0] == 0


def test_incremental_sync_moves_the_marker_only_on_success(well_env: WellEnv, instance: dg.DagsterInstance) -> None:
    first = sync(well_env, instance)  # an empty window: DuckDB has no marker yet, so everything
    assert first.success
    marker1 = marker(well_env)
    assert marker1 is not None and marker_report(first) == marker1  # the report the sync sensor adopts
    # An op job has no check outputs: the step logs each evaluation as an event, which the instance records as the
    # check's latest execution (the UI's check pages). Delivery is not set up here: a sync skips it and its check.
    assert checks(first) == {"attachments_match_their_digest": True, "every_invoice_has_its_document": True,
                             "no_unparsed_qonto_records": False, "one_row_per_invoice": True,
                             "scores_in_range": True, "no_auto_link_breaks_a_hard_rule": True}
    check_key = dg.AssetCheckKey(SCORED_MATCHES, "one_row_per_invoice")
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key([check_key])[check_key]
    assert latest.run_id == first.run_id and latest.evaluation is not None and latest.evaluation.passed
    with db(well_env) as con:
        assert con.execute("SELECT count(*) FROM qonto_supplier_invoices").fetchone()[0] == 14

    # Qonto changes one record and adds one; the next sync sees exactly those.
    invoices = [dict(r) for r in well_env.invoices]
    changed = next(r for r in invoices if r["id"] == "inv-1-1")
    changed["total_amount"] = {"value": "777.00", "currency": "EUR"}
    changed["updated_at"] = datetime.now(UTC).isoformat()
    invoices.append(make_invoice(invoice_id="inv-late", attachment_id="att-late",
                                 created_at=datetime.now(UTC) - timedelta(minutes=2),
                                 updated_at=datetime.now(UTC) - timedelta(seconds=30)))
    well_env.write(invoices)

    # A failing sync (Qonto down for longer than the retries) must not move the marker, nor report one.
    well_env.sandbox.add_fault(path_prefix="/v2/supplier_invoices", kind="status", status=503, times=None)
    failed = sync(well_env, instance)
    assert not failed.success
    assert marker(well_env) == marker1 and marker_report(failed) is None
    well_env.sandbox.clear_faults()

    second = sync(well_env, instance)
    assert second.success
    meta = summary(second, QONTO_SUPPLIER_INVOICES)
    assert (meta["new"], meta["changed"]) == (1, 1)
    assert meta["records_seen"] <= 3  # only what changed since the marker (plus the overlap), not everything
    # Only the days those records belong to are rewritten and shown: the changed one's day 1 and today's.
    late_day = (datetime.now(UTC) - timedelta(minutes=2)).strftime("%Y-%m-%d")
    assert set(day_metadata(second, QONTO_SUPPLIER_INVOICES)) == {day_key(1), late_day}
    assert day_metadata(second, QONTO_SUPPLIER_INVOICES)[day_key(1)]["rows"] == 4
    marker2 = marker(well_env)
    assert marker2 is not None and marker2 > marker1 and marker_report(second) == marker2
    with db(well_env) as con:
        row = con.execute("SELECT version, total_amount FROM qonto_supplier_invoices WHERE id = 'inv-1-1'").fetchone()
        assert row[0] == 2 and str(row[1]).startswith("777.00")


def test_no_secret_reaches_the_event_log_or_duckdb(well_env: WellEnv, instance: dg.DagsterInstance) -> None:
    result = materialize_range(well_env, instance, day_key(0), day_key(2))
    assert result.success
    synced = sync(well_env, instance)  # the sensor's job: its run config and events too
    assert synced.success

    store = SecretStore(well_env.settings.secrets_path, environ={})
    secrets = [store.get("qonto_refresh_token").reveal(), store.get("qonto_client_secret").reveal()]
    records = instance.fetch_materializations(QONTO_SUPPLIER_INVOICES, limit=100).records
    logs = json.dumps([str(r.event_log_entry) for r in records])
    assert records
    all_logs = "".join(str(e) for run in (result, synced) for e in instance.all_logs(run.run_id))
    all_logs += json.dumps([instance.get_run_by_id(run.run_id).run_config for run in (result, synced)])
    db_bytes = well_env.settings.duckdb_path.read_bytes()
    for secret in secrets:
        assert secret not in logs and secret not in all_logs
        assert secret.encode() not in db_bytes
    assert secrets[0] not in (well_env.settings.secrets_path.read_text())


# ---- hostile Qonto: deadlines and listings that must reconcile on distinct ids (issue 8) --------------------------

LIST_PATH = "/v2/supplier_invoices"


def sync(env: WellEnv, instance: dg.DagsterInstance, bundle: WorkspaceBundle | None = None
         ) -> dg.ExecuteInProcessResult:
    """A sync job run with an empty window, as launched by hand: from DuckDB's marker, up to now."""
    return run_sync(env, instance, bundle=bundle)


def marker(env: WellEnv) -> str | None:
    with db(env) as con:
        row = con.execute("SELECT value FROM sync_state WHERE name = ?", [SYNC_MARKER]).fetchone()
    return row[0] if row else None


def short_deadline(env: WellEnv, seconds: float = 0.5, retries: int = 1) -> WorkspaceBundle:
    return bundle_for(env.settings.replace(qonto_request_deadline_s=seconds, qonto_max_retries=retries))


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    assert error is not None
    return " ".join(e.message for e in (error, error.cause) if e is not None)


def warnings_of(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> list[str]:
    return [e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING]


def leaked_secrets(env: WellEnv, instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> int:
    store = SecretStore(env.settings.secrets_path, environ={})
    secrets = [store.get("qonto_refresh_token").reveal(), store.get("qonto_client_secret").reveal()]
    logs = "".join(str(e) for e in instance.all_logs(result.run_id))
    return sum(secret in logs for secret in secrets)


def many(count: int, *, created: datetime, updated: datetime | None = None, spread: bool = True) -> list[dict]:
    """`count` extra records (no two on one second when `spread`, all on the same instant otherwise)."""
    return [make_invoice(invoice_id=f"bulk-{n:03d}", attachment_id=None,
                         created_at=created + timedelta(seconds=7 * n if spread else 0),
                         updated_at=updated) for n in range(count)]


@pytest.mark.fault(
    scenario="Qonto list page trickled at 20 bytes/s during an incremental sync",
    expected="each attempt cut at qonto_request_deadline_s, retried, run fails naming the path, marker unchanged")
def test_a_trickled_list_page_fails_the_sync_at_the_deadline_and_keeps_the_marker(
        well_env: WellEnv, instance: dg.DagsterInstance, fault_outcome: FaultOutcome) -> None:
    assert sync(well_env, instance).success
    before = marker(well_env)
    well_env.sandbox.add_fault(LIST_PATH, kind="slow_body", times=None, rate_bps=20)
    result = sync(well_env, instance, short_deadline(well_env))
    assert not result.success
    message = failure_text(result)
    assert f"GET {LIST_PATH}" in message and "0.5 s deadline" in message and "qonto_request_deadline_s" in message
    assert marker(well_env) == before
    stats = wait_for_stats(well_env.sandbox, lambda s: s["slow_bodies_cut"] >= 2, "both attempts cut")
    assert stats["slow_bodies_finished"] == 0
    leaked = leaked_secrets(well_env, instance, result)
    assert leaked == 0
    fault_outcome.record(observed=f"run failed after 2 cut attempts: {excerpt(message, 160)}; marker unchanged",
                         lost=0, leaked=leaked)


@pytest.mark.fault(
    scenario="Attachment download trickled at 200 bytes/s during an incremental sync",
    expected="download cut at the deadline, retried, run fails naming the file path (no signature), marker unchanged, "
             "the record and the failure are stored")
def test_a_trickled_attachment_fails_the_sync_and_keeps_the_marker(
        well_env: WellEnv, instance: dg.DagsterInstance, fault_outcome: FaultOutcome) -> None:
    assert sync(well_env, instance).success
    before = marker(well_env)
    now = datetime.now(UTC)
    well_env.write([*well_env.invoices, make_invoice(invoice_id="inv-late", attachment_id="att-late",
                                                     created_at=now - timedelta(minutes=2),
                                                     updated_at=now - timedelta(minutes=1))])
    well_env.sandbox.add_fault("/_files/", kind="slow_body", times=None, rate_bps=200)
    result = sync(well_env, instance, short_deadline(well_env))
    assert not result.success
    message = failure_text(result)
    assert "/_files/att-late" in message and "0.5 s deadline" in message
    all_logs = "".join(str(e) for e in instance.all_logs(result.run_id))
    assert "signature=" not in all_logs and "expires=" not in all_logs
    assert marker(well_env) == before
    with db(well_env) as con:
        assert con.execute("SELECT count(*) FROM qonto_supplier_invoices WHERE id = 'inv-late'").fetchone()[0] == 1
        reason = con.execute("SELECT reason FROM qonto_attachment_failures WHERE attachment_id = 'att-late'").fetchone()
    assert reason and "deadline" in reason[0]
    leaked = leaked_secrets(well_env, instance, result) + all_logs.count("signature=")
    fault_outcome.record(observed=f"run failed: {excerpt(message)}; record stored, download failure recorded, marker "
                                  "unchanged", lost=0, leaked=leaked)


@pytest.mark.fault(
    scenario="Qonto repeats a record on page 2 and skips another during a sync (tied sort keys)",
    expected="distinct ids below total_count: window listed again, every record stored, warnings in the Dagster "
             "event log, marker moves")
def test_a_shifted_page_is_listed_again_with_warnings_in_the_event_log(
        well_env: WellEnv, instance: dg.DagsterInstance, fault_outcome: FaultOutcome) -> None:
    extra = many(150, created=DAY0 + timedelta(days=1, minutes=1))
    well_env.write([*well_env.invoices, *extra])
    expected = {r["id"] for r in well_env.invoices}
    well_env.sandbox.add_fault(LIST_PATH, kind="shifted_page", times=1)
    result = sync(well_env, instance)
    assert result.success
    warnings = warnings_of(instance, result)
    assert any("served twice" in w and "re-listing" in w for w in warnings), warnings
    with db(well_env) as con:
        stored = {row[0] for row in con.execute("SELECT id FROM qonto_supplier_invoices").fetchall()}
        rejected = {row[0] for row in con.execute("SELECT record_id FROM qonto_rejected_records").fetchall()}
    assert stored | rejected == expected and len(stored) == len(expected) - 1  # "inv-bad-amount" is a reject
    assert summary(result, QONTO_SUPPLIER_INVOICES)["listing_reconciled"] is True
    assert marker(well_env) is not None
    lost = len(expected - stored - rejected)
    fault_outcome.record(observed=f"{len(stored | rejected)} of {len(expected)} records kept; event-log warning: "
                                  f"{next(w for w in warnings if 're-listing' in w)}", lost=lost)


@pytest.mark.fault(
    scenario="Qonto shifts pages on every listing of 150 records updated in the same instant",
    expected="re-listing and splitting cannot reconcile: run fails, marker unchanged, warnings in the event log")
def test_a_listing_that_never_reconciles_fails_the_sync_and_keeps_the_marker(
        well_env: WellEnv, instance: dg.DagsterInstance, fault_outcome: FaultOutcome) -> None:
    assert sync(well_env, instance).success
    before = marker(well_env)
    now = datetime.now(UTC).replace(microsecond=0)
    well_env.write([*well_env.invoices, *many(150, created=now - timedelta(minutes=2),
                                              updated=now - timedelta(minutes=1), spread=False)])
    well_env.sandbox.add_fault(LIST_PATH, kind="shifted_page", times=None)
    result = sync(well_env, instance)
    assert not result.success
    assert "ListingIncompleteError" in failure_text(result) or "did not reconcile" in failure_text(result)
    assert marker(well_env) == before
    warnings = warnings_of(instance, result)
    assert any("re-listing" in w for w in warnings) and any("cannot be narrowed further" in w for w in warnings)
    fault_outcome.record(observed=f"run failed: {excerpt(failure_text(result))}; marker unchanged; "
                                  f"{len(warnings)} warnings in the event log")


def test_the_preview_table_renders_as_the_duckdb_frame_did(tmp_path: Path) -> None:
    """The asset's `preview` metadata is built from plain store rows now; it must read exactly as before, when it
    was DuckDB's own DataFrame (floats for amounts, dates as dates, missing values as before)."""
    storage = DuckDBStorage(tmp_path / "well.duckdb", tmp_path / "attachments")
    storage.invoices.upsert_invoices([
        parse_supplier_invoice(make_invoice(invoice_id="full", created_at=DAY0 + timedelta(hours=3))),
        parse_supplier_invoice(make_invoice(invoice_id="null-ocr", created_at=DAY0 + timedelta(hours=1),
                                            supplier_name=None, total_amount=None, due_date=None)),
        parse_supplier_invoice(make_invoice(invoice_id="null-only", created_at=DAY0 + timedelta(days=1),
                                            supplier_name=None, total_amount=None, due_date=None)),
    ])
    for first in (DAY0.date(), DAY0.date() + timedelta(days=1)):  # a mixed day, then a day of empty columns
        day = (first, first + timedelta(days=1))
        with duckdb.connect(str(tmp_path / "well.duckdb"), read_only=True) as con:
            before = con.execute(
                "SELECT id, created_at, status, supplier_name, invoice_number, total_amount, currency, due_date, "
                "version FROM qonto_supplier_invoices WHERE created_date >= ? AND created_date < ? "
                "ORDER BY created_at DESC, id LIMIT 10", list(day)).df().astype(str).to_markdown(index=False)
        assert preview_table(storage.invoices.preview(*day)) == before
