"""The code location loads, and its shape keeps the promises: single-run backfills, one DuckDB writer, a sensor."""

from datetime import UTC, datetime

import dagster as dg

from well_pipeline.definitions import defs
from well_pipeline.defs.qonto.partitions import qonto_daily_partitions
from well_pipeline.defs.qonto.sensors import qonto_sync_sensor


def test_definitions_resolve() -> None:
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {
        "qonto_supplier_invoices", "melio_vendor_directory", "melio_ledger", "scored_matches", "review_queue",
        "delivered_bills"}
    sync = defs.resolve_job_def("qonto_sync_job")
    assert {"qonto_supplier_invoices", "scored_matches", "review_queue", "delivered_bills"} <= set(sync.graph.node_dict)
    defs.resolve_job_def("melio_exports_job")
    assert {s.name for s in defs.sensors} == {"qonto_sync_sensor", "melio_exports_sensor", "run_health_sensor"}


def test_every_duckdb_writer_is_in_the_single_pool() -> None:
    for assets_def in defs.assets:
        assert assets_def.op.pool == "duckdb", assets_def.key
    for check in defs.asset_checks:
        assert check.op.pool == "duckdb", check


def test_backfills_are_one_run_and_partitions_stay_few() -> None:
    for key in ("qonto_supplier_invoices", "scored_matches", "delivered_bills"):
        asset = next(a for a in defs.assets if a.key == dg.AssetKey(key))
        assert asset.backfill_policy == dg.BackfillPolicy.single_run()
        assert asset.partitions_def == qonto_daily_partitions
    count = len(qonto_daily_partitions.get_partition_keys())
    assert 1000 <= count <= 1200, count  # three years of days, far under Dagster's advised 100,000
    assert qonto_daily_partitions.get_last_partition_key() == datetime.now(UTC).strftime("%Y-%m-%d")


def test_sensor_requests_todays_incremental_sync_once_per_window() -> None:
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        result = qonto_sync_sensor(context)
        (request,) = result.run_requests
        assert request.partition_key == datetime.now(UTC).strftime("%Y-%m-%d")
        assert request.run_key.startswith("qonto-sync-")
        assert result.cursor and result.cursor in request.run_key


def test_resources_show_settings_but_no_secret() -> None:
    resources = defs.resources
    assert set(resources) >= {"qonto", "storage", "melio_exports", "melio_delivery", "scoring"}
    fields = resources["qonto"].__class__.model_fields
    assert not any("secret" in name and name != "secrets_path" for name in fields)
    assert not any("token" in name for name in fields)


def test_sync_marker_follows_qontos_clock_when_it_runs_behind() -> None:
    from datetime import timedelta

    from well_pipeline.defs.qonto.assets import marker_for

    start = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert marker_for(start, None) == start
    assert marker_for(start, 30.0) == start  # Qonto ahead: records only arrive later, nothing is skipped
    assert marker_for(start, -900.0) == start - timedelta(seconds=901)
