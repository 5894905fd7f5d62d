"""Partition status equals the data (issue 10, "Show" item 1).

A generated three-year dataset (a couple of hundred invoices, one Qonto sandbox, the generated Melio exports loaded, a
Melio inbox): after an incremental sync, after a UI-style single-run backfill of every partition, after a partial
range and after a rescore, the partitions the Dagster instance holds as materialised for each of the three assets
are exactly the days that hold that asset's rows in DuckDB (read here with plain read-only SQL, independently of
the store methods the pipeline uses), plus the days a partition run computed and found empty (materialised with zero
counts: Dagster's backfill counts a requested partition without one as failed); other days stay missing, and a day's
metadata counts are that day's.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from well_pipeline.sandbox.generator import generate_dataset
from well_pipeline.sandbox.melio import MelioInbox
from well_pipeline.services.sync_marker import SYNC_MARKER
from well_pipeline_tests.defs.conftest import WellEnv, connected_env, load_melio, use_inbox
from well_pipeline_tests.defs.pipeline_runs import (
    PIPELINE_KEYS,
    day_metadata,
    marker_report,
    materialize_range,
    summary,
    sync,
)
from well_pipeline_tests.support.partition_truth import days_holding_rows
from well_pipeline_tests.support.workspace_defs import (
    DELIVERED_BILLS,
    QONTO_SUPPLIER_INVOICES,
    SCORED_MATCHES,
    fallback_partitions,
)

# Whole-history ranges: one planned event per asset, not per day (see the fixture; materialisations unchanged).
pytestmark = pytest.mark.usefixtures("one_planned_event_per_asset")

INVOICES, VENDORS, YEARS, SEED = 200, 20, 3, 20261201
NOW = datetime.now(UTC)  # the dataset ends here, so every record has a partition even if midnight passes
PARTITIONS = fallback_partitions()  # the workspace's: a fresh data directory, no history_start
FIRST, LAST = PARTITIONS.get_first_partition_key(), NOW.strftime("%Y-%m-%d")
ALL_DAYS = PARTITIONS.get_partition_keys(current_time=NOW)

@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three years of invoices on ~180 days, in the sandbox layout, with Melio exports (once per module, ~1 s).

    A couple of hundred invoices: the cost of a run here is mostly Dagster's, one sqlite write (~20-40 ms on this
    machine) per day materialised per asset."""
    root = tmp_path_factory.mktemp("generated") / "dataset"
    generate_dataset(root, invoices=INVOICES, vendors=VENDORS, years=YEARS, seed=SEED, now=NOW)
    return root


@dataclass
class Workspace:
    env: WellEnv
    instance: dg.DagsterInstance
    inbox: MelioInbox


@pytest.fixture
def workspace(generated: Path, tmp_path: Path, inbox: MelioInbox, instance: dg.DagsterInstance
              ) -> Iterator[Workspace]:
    """A fresh data directory and instance, connected to a sandbox serving the generated dataset, delivering to
    the inbox sandbox, with the generated Melio exports loaded (the sync waits for them)."""
    dataset = tmp_path / "dataset"
    shutil.copytree(generated, dataset)  # each test's sandbox has its own copy (a test may change records)
    records = [json.loads(line) for line in (dataset / "qonto" / "invoices.jsonl").read_text().splitlines()]
    with connected_env(dataset, tmp_path / "data", records) as env:
        use_inbox(env, inbox)
        for name in ("vendors.csv", "bills.csv"):
            shutil.copyfile(dataset / "melio" / name, env.settings.data_path / "melio" / name)
        load_melio(env, instance)
        assert env.ws.partitions.get_first_partition_key() == FIRST  # the partitions the days are compared with
        yield Workspace(env, instance, inbox)


def db(env: WellEnv) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(env.settings.duckdb_path), read_only=True)


def days_with_rows(env: WellEnv) -> dict[dg.AssetKey, set[str]]:
    """Per asset, the partition keys of the days holding its rows in DuckDB; fails if a row's day has no
    partition (the comparison would then hide it)."""
    found = days_holding_rows(env.settings.duckdb_path)
    first, last = date.fromisoformat(FIRST), date.fromisoformat(LAST)
    outside = {day for days in found.values() for day in days if not first <= day <= last}
    assert not outside, f"rows on days without a partition: {sorted(outside)[:5]}"
    return {key: {day.isoformat() for day in days} for key, days in found.items()}


def materialized(instance: dg.DagsterInstance) -> dict[dg.AssetKey, set[str]]:
    """Per asset, the partitions the instance holds as materialised (what the UI's partition page shows)."""
    return {key: set(instance.get_materialized_partitions(key)) for key in PIPELINE_KEYS}


def latest_day_metadata(instance: dg.DagsterInstance, key: dg.AssetKey, day: str) -> dict:
    (record,) = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=1).records
    materialization = record.asset_materialization
    assert materialization is not None and materialization.partition == day
    return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}


def assert_partitions_equal_the_data(ws: Workspace, computed: dict[dg.AssetKey, set[str]] | None = None
                                     ) -> dict[dg.AssetKey, set[str]]:
    """The instance's materialised partitions are exactly the days with rows plus the days partition runs computed
    (`computed`, per asset; their empty days show zero counts); a busy day's counts are DuckDB's."""
    truth = days_with_rows(ws.env)
    shown = materialized(ws.instance)
    for key in PIPELINE_KEYS:
        expected = truth[key] | (computed or {}).get(key, set())
        assert shown[key] == expected, (key.to_user_string(), sorted(shown[key] ^ expected)[:10])
    # The dataset spreads a couple of hundred invoices over ~1,100 days: most days are empty, and stay missing.
    assert 100 <= len(truth[QONTO_SUPPLIER_INVOICES]) < len(ALL_DAYS) // 2
    assert truth[SCORED_MATCHES] == truth[QONTO_SUPPLIER_INVOICES]  # every stored invoice is scored
    assert 5 <= len(truth[DELIVERED_BILLS]) < len(truth[SCORED_MATCHES])  # some days hold released records

    # The busiest delivered day: each asset's partition shows that day's own rows.
    with db(ws.env) as con:
        busiest, rows = con.execute(
            "SELECT strftime(created_date, '%Y-%m-%d'), count(*) FROM qonto_supplier_invoices WHERE created_date IN "
            "(SELECT i.created_date FROM qonto_supplier_invoices i JOIN outbox o ON o.qonto_id = i.id) "
            "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1").fetchone()
        decisions = dict(con.execute("SELECT decision, count(*) FROM scored_matches WHERE created_date = ? "
                                     "GROUP BY 1", [busiest]).fetchall())
        sent = con.execute("SELECT count(*) FROM outbox o JOIN qonto_supplier_invoices i ON i.id = o.qonto_id "
                           "WHERE i.created_date = ? AND o.state = 'sent'", [busiest]).fetchone()[0]
    ingested = latest_day_metadata(ws.instance, QONTO_SUPPLIER_INVOICES, busiest)
    assert ingested["rows"] == rows
    scored = latest_day_metadata(ws.instance, SCORED_MATCHES, busiest)
    assert scored["invoices"] == rows
    assert {name: scored[f"decision_{name}"] for name in decisions} == decisions
    delivered = latest_day_metadata(ws.instance, DELIVERED_BILLS, busiest)
    assert delivered["sent"] == sent >= 1
    assert delivered["released_records"] == decisions.get("auto_link", 0) + decisions.get("manual_link", 0)
    return truth


def materialization_events(instance: dg.DagsterInstance, run_id: str) -> int:
    return len(instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION))


def test_after_a_sync_and_a_rescore_the_partitions_are_the_days_holding_rows(workspace: Workspace) -> None:
    ws = workspace
    result = sync(ws.env, ws.instance)  # an empty window on a fresh data directory: every record
    assert result.success
    assert summary(result, QONTO_SUPPLIER_INVOICES)["mode"] == "incremental sync"
    truth = assert_partitions_equal_the_data(ws)
    with db(ws.env) as con:
        sent = {q for (q,) in con.execute("SELECT qonto_id FROM outbox WHERE state = 'sent'").fetchall()}
    assert sent and {m.qonto_id for m in ws.inbox.messages()} == sent  # the delivered days' e-mails really left
    assert marker_report(result) is not None

    # A rescore from the UI: scored_matches alone over a year's range. Every day of that range gets an event (its
    # own counts, zero on an empty day); nothing is listed from Qonto or delivered; the partition status still
    # equals the data plus the range the run computed.
    first, last = ALL_DAYS[len(ALL_DAYS) // 3], ALL_DAYS[2 * len(ALL_DAYS) // 3]
    requests_before = ws.env.sandbox.stats()["requests"]
    rescored = materialize_range(ws.env, ws.instance, first, last, assets=[SCORED_MATCHES])
    assert rescored.success
    range_days = {day for day in ALL_DAYS if first <= day <= last}
    with_rows = {day for day in truth[SCORED_MATCHES] if first <= day <= last}
    per_day = day_metadata(rescored, SCORED_MATCHES)
    assert with_rows and set(per_day) == range_days
    assert {day for day, counts in per_day.items() if counts["invoices"] > 0} == with_rows
    assert materialization_events(ws.instance, rescored.run_id) == len(range_days)
    assert not day_metadata(rescored, QONTO_SUPPLIER_INVOICES) and not day_metadata(rescored, DELIVERED_BILLS)
    assert ws.env.sandbox.stats()["requests"] == requests_before
    assert marker_report(rescored) is None
    assert assert_partitions_equal_the_data(ws, {SCORED_MATCHES: range_days}) == truth


def test_after_a_ui_backfill_of_every_partition_every_day_is_materialised_with_its_own_counts(
        workspace: Workspace) -> None:
    ws = workspace
    result = materialize_range(ws.env, ws.instance, FIRST, LAST)  # Materialize → all partitions, single run
    assert result.success
    assert summary(result, QONTO_SUPPLIER_INVOICES)["mode"] == "partition range"
    every_day = set(ALL_DAYS)
    truth = assert_partitions_equal_the_data(ws, dict.fromkeys(PIPELINE_KEYS, every_day))
    # Each day shows its own rows: zero on a day without any (the backfill computed it and found it empty).
    per_day = day_metadata(result, QONTO_SUPPLIER_INVOICES)
    assert set(per_day) == every_day
    assert {day for day, counts in per_day.items() if counts["rows"] > 0} == truth[QONTO_SUPPLIER_INVOICES]

    # A range over every partition listed every record: it sets the sync marker and reports it to the sensor.
    reported = marker_report(result)
    with db(ws.env) as con:
        stored = con.execute("SELECT value FROM sync_state WHERE name = ?", [SYNC_MARKER]).fetchone()
    assert reported is not None and stored == (reported,)

    # What the run adds to Dagster's storage: one small materialisation per asset per day of the range.
    events = materialization_events(ws.instance, result.run_id)
    assert events == len(PIPELINE_KEYS) * len(ALL_DAYS)
    # Everything else the run wrote is a constant (run and step events, 3 stage summaries, the marker report, 7
    # checks, progress lines), not a number per partition. Planned events: one per asset (the fixture's switch).
    everything = ws.instance.all_logs(result.run_id)
    planned = [e for e in everything if e.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED]
    assert len(planned) == len(PIPELINE_KEYS)
    assert len(everything) - events < 100


def test_a_partial_range_reaching_today_sets_no_marker(workspace: Workspace) -> None:
    """A range that does not start at the first partition may have missed a record created before it and changed
    since: its success must not move the sync marker (defs/pipeline/assets.py), even when it reaches today."""
    ws = workspace
    first = (date.fromisoformat(LAST) - timedelta(days=120)).isoformat()
    result = materialize_range(ws.env, ws.instance, first, LAST)
    assert result.success
    assert marker_report(result) is None
    with db(ws.env) as con:
        assert con.execute("SELECT count(*) FROM sync_state WHERE name = ?", [SYNC_MARKER]).fetchone()[0] == 0
    truth = days_with_rows(ws.env)
    # Listed by creation date over the range (a minute wider on each side: RANGE_SLACK), so its days only.
    assert truth[QONTO_SUPPLIER_INVOICES] and min(truth[QONTO_SUPPLIER_INVOICES]) >= \
        (date.fromisoformat(first) - timedelta(days=1)).isoformat()
    range_days = {day for day in ALL_DAYS if day >= first}
    assert materialized(ws.instance) == {key: truth[key] | range_days for key in PIPELINE_KEYS}
