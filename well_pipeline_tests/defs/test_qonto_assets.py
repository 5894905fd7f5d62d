"""`qonto_supplier_invoices` against the real sandbox over sockets, into a real DuckDB file, in a real instance."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb

from well_pipeline.defs.qonto.assets import INCREMENTAL, SYNC_TAG, qonto_supplier_invoices
from well_pipeline.defs.qonto.checks import qonto_checks
from well_pipeline.services.qonto_ingest import SYNC_MARKER
from well_pipeline_tests.defs.conftest import DAY0, WellEnv, day_key
from well_pipeline_tests.support.qonto_records import make_invoice


def materialize_range(env: WellEnv, instance: dg.DagsterInstance, first: str, last: str,
                      tags: dict[str, str] | None = None) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [qonto_supplier_invoices, *qonto_checks],
        resources=env.resources,
        instance=instance,
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last,
              **(tags or {})},
        raise_on_error=False,
    )


def materialization_metadata(result: dg.ExecuteInProcessResult) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events()][-1:]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def db(env: WellEnv) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(env.settings.duckdb_path), read_only=True)


def test_range_backfill_loads_everything_once_and_rerun_changes_nothing(
    well_env: WellEnv, instance: dg.DagsterInstance
) -> None:
    result = materialize_range(well_env, instance, day_key(0), day_key(2))
    assert result.success
    meta = materialization_metadata(result)
    assert meta["new"] == 14  # 12 regular + Paris-midnight + null-OCR; the bad amount is a reject
    assert meta["rejected"] == 1
    assert meta["attachments_fetched"] == 14
    # One run covered the whole range (BackfillPolicy.single_run) and recorded each partition.
    assert len(result.get_asset_materialization_events()) == 3

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
    meta = materialization_metadata(again)
    assert (meta["new"], meta["changed"], meta["attachments_fetched"]) == (0, 0, 0)
    assert well_env.sandbox.stats()["downloads"] == downloads_before
    with db(well_env) as con:
        assert con.execute("SELECT * FROM qonto_supplier_invoices ORDER BY id").fetchall() == snapshot
        assert con.execute("SELECT seen_count FROM qonto_rejected_records").fetchone()[0] == 2


def test_checks_pass_then_catch_a_tampered_document(well_env: WellEnv, instance: dg.DagsterInstance) -> None:
    result = materialize_range(well_env, instance, day_key(0), day_key(2))
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["attachments_match_their_digest"] is True
    assert checks["every_invoice_has_its_document"] is True
    assert checks["no_unparsed_qonto_records"] is False  # the bad amount is waiting for a person

    with db(well_env) as con:
        blob = con.execute("SELECT blob_path FROM qonto_attachments ORDER BY attachment_id LIMIT 1").fetchone()[0]
    (well_env.settings.attachments_dir / blob).write_bytes(b"tampered")
    again = materialize_range(well_env, instance, day_key(0), day_key(0))
    checks = {e.check_name: e.passed for e in again.get_asset_check_evaluations()}
    assert checks["attachments_match_their_digest"] is False


def test_incremental_sync_moves_the_marker_only_on_success(well_env: WellEnv, instance: dg.DagsterInstance) -> None:
    today = day_key(10)
    first = dg.materialize([qonto_supplier_invoices], resources=well_env.resources, instance=instance,
                           partition_key=today, tags={SYNC_TAG: INCREMENTAL})
    assert first.success
    with db(well_env) as con:
        marker1 = con.execute("SELECT value FROM sync_state WHERE name = ?", [SYNC_MARKER]).fetchone()[0]
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

    # A failing sync (Qonto down for longer than the retries) must not move the marker.
    well_env.sandbox.add_fault(path_prefix="/v2/supplier_invoices", kind="status", status=503, times=None)
    failed = dg.materialize([qonto_supplier_invoices], resources=well_env.resources, instance=instance,
                            partition_key=today, tags={SYNC_TAG: INCREMENTAL}, raise_on_error=False)
    assert not failed.success
    with db(well_env) as con:
        assert con.execute("SELECT value FROM sync_state WHERE name = ?", [SYNC_MARKER]).fetchone()[0] == marker1
    well_env.sandbox.clear_faults()

    second = dg.materialize([qonto_supplier_invoices], resources=well_env.resources, instance=instance,
                            partition_key=today, tags={SYNC_TAG: INCREMENTAL})
    meta = materialization_metadata(second)
    assert (meta["new"], meta["changed"]) == (1, 1)
    assert meta["records_seen"] <= 3  # only what changed since the marker (plus the overlap), not everything
    with db(well_env) as con:
        marker2 = con.execute("SELECT value FROM sync_state WHERE name = ?", [SYNC_MARKER]).fetchone()[0]
        assert marker2 > marker1
        row = con.execute("SELECT version, total_amount FROM qonto_supplier_invoices WHERE id = 'inv-1-1'").fetchone()
        assert row[0] == 2 and str(row[1]).startswith("777.00")


def test_no_secret_reaches_the_event_log_or_duckdb(well_env: WellEnv, instance: dg.DagsterInstance) -> None:
    result = materialize_range(well_env, instance, day_key(0), day_key(2))
    assert result.success
    from well_pipeline.adapters.secrets import SecretStore

    store = SecretStore(well_env.settings.secrets_path, environ={})
    secrets = [store.get("qonto_refresh_token").reveal(), store.get("qonto_client_secret").reveal()]
    records = instance.fetch_materializations(dg.AssetKey("qonto_supplier_invoices"), limit=100).records
    logs = json.dumps([str(r.event_log_entry) for r in records])
    assert records
    all_logs = "".join(str(e) for e in instance.all_logs(result.run_id))
    db_bytes = well_env.settings.duckdb_path.read_bytes()
    for secret in secrets:
        assert secret not in logs and secret not in all_logs
        assert secret.encode() not in db_bytes
    assert secrets[0] not in (well_env.settings.secrets_path.read_text())
