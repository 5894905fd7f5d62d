"""The code location loads the dg way, and its shape keeps the promises: each definition once, the three
partitioned assets as one single-run-backfill step with every check, one DuckDB writer, the sync jobs in process,
a sensor that launches them, no beta notice from Well's own definitions."""

import os
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from well_pipeline import definitions
from well_pipeline.defs.qonto.partitions import qonto_daily_partitions
from well_pipeline.settings import code_location_settings

ROOT = Path(__file__).resolve().parent.parent
PARTITIONED = {"qonto_supplier_invoices", "scored_matches", "delivered_bills"}
# Every check of the three assets, and whether it stops what follows it in the step when it fails.
CHECKS = {
    ("qonto_supplier_invoices", "attachments_match_their_digest"): True,
    ("qonto_supplier_invoices", "every_invoice_has_its_document"): False,
    ("qonto_supplier_invoices", "no_unparsed_qonto_records"): False,
    ("scored_matches", "one_row_per_invoice"): True,
    ("scored_matches", "scores_in_range"): True,
    ("scored_matches", "no_auto_link_breaks_a_hard_rule"): True,
    ("delivered_bills", "no_record_sent_twice"): True,
}
SYNC_JOBS = ("qonto_sync_job", "deliver_approved_job")


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    """The code location as Dagster loads it: `@dg.definitions` called once for the module."""
    return definitions.defs()


def pipeline(defs: dg.Definitions) -> dg.AssetsDefinition:
    (found,) = [a for a in defs.assets if {k.to_user_string() for k in a.keys} & PARTITIONED]
    return found


def test_definitions_resolve(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {
        "qonto_supplier_invoices", "melio_vendor_directory", "melio_ledger", "scored_matches", "review_queue",
        "delivered_bills"}
    # The three partitioned assets are one multi-asset: one step (ingest → checks → scoring → checks → delivery).
    step = pipeline(defs)
    assert step.node_def.name == "invoice_pipeline"
    assert {k.to_user_string() for k in step.keys} == PARTITIONED and step.can_subset
    assert {dep.to_user_string() for dep in graph.get(dg.AssetKey("scored_matches")).parent_keys} == {
        "qonto_supplier_invoices", "melio_vendor_directory", "melio_ledger"}
    assert {dep.to_user_string() for dep in graph.get(dg.AssetKey("delivered_bills")).parent_keys} == {
        "scored_matches"}
    assert {k.name: k.asset_key.to_user_string() for k in graph.asset_check_keys} == {
        name: asset for asset, name in CHECKS}
    (checks,) = defs.asset_checks
    assert {(s.asset_key.to_user_string(), s.name): s.blocking for s in checks.check_specs} == CHECKS
    assert list(step.check_specs) == []  # declared apart: a range run plans no check row per partition
    for name in SYNC_JOBS:
        job = defs.resolve_job_def(name)
        assert job.executor_def is dg.in_process_executor, name  # one step: no process per step
        (op,) = job.graph.node_dict.values()
        assert op.definition.pool == "duckdb", name
    defs.resolve_job_def("melio_exports_job")
    assert {s.name for s in defs.sensors} == {"qonto_sync_sensor", "melio_exports_sensor", "run_health_sensor"}


def test_every_duckdb_writer_is_in_the_single_pool(defs: dg.Definitions) -> None:
    for assets_def in defs.assets:
        assert assets_def.op.pool == "duckdb", assets_def.keys
    # The checks are evaluated inside the pipeline step and logged; `pipeline_checks` declares them and runs them
    # again on demand, in the same pool (it only reads, but it opens the file).
    (checks,) = defs.asset_checks
    assert checks.node_def.name == "pipeline_checks" and checks.op.pool == "duckdb"
    assert {s.key for s in checks.check_specs} == set(defs.resolve_asset_graph().asset_check_keys)


def test_backfills_are_one_run_and_partitions_stay_few(defs: dg.Definitions) -> None:
    step = pipeline(defs)
    assert step.backfill_policy == dg.BackfillPolicy.single_run()
    assert step.partitions_def == qonto_daily_partitions
    count = len(qonto_daily_partitions.get_partition_keys())
    assert 1000 <= count <= 1200, count  # three years of days, far under Dagster's advised 100,000
    assert qonto_daily_partitions.get_last_partition_key() == datetime.now(UTC).strftime("%Y-%m-%d")


def test_the_sync_sensor_launches_the_sync_and_delivery_jobs(defs: dg.Definitions) -> None:
    """The sensor launches the two op jobs, never a partition: the old guarantee "one incremental run of today's
    partition per window" (the INCREMENTAL run tag) is gone by design (issue 10: a sync rewrites the days it
    touched and reports each). What a tick decides is tested in defs/test_sync_sensor.py."""
    sensor = next(s for s in defs.sensors if s.name == "qonto_sync_sensor")
    assert sorted(job.name for job in sensor.jobs) == sorted(SYNC_JOBS)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == round(code_location_settings().sync_interval_minutes * 60)
    assert {"qonto", "storage"} <= set(sensor.required_resource_keys)
    # Owners would be a beta parameter: none of Well's sensors sets them (see defs/__init__.py's filter).
    assert not any(s.owners for s in defs.sensors)


def test_resources_show_settings_but_no_secret(defs: dg.Definitions) -> None:
    resources = defs.resources
    assert set(resources) >= {"qonto", "storage", "melio_exports", "melio_delivery", "scoring"}
    fields = resources["qonto"].__class__.model_fields
    assert not any("secret" in name and name != "secret_key_file" for name in fields)  # a key file's path
    assert not any("token" in name for name in fields)


def test_the_defs_folder_is_loaded_and_each_definition_registered_once(defs: dg.Definitions) -> None:
    """Modules import each other's assets (to depend on them, to select them in jobs): the loader sees those
    objects in several modules, the code location must still hold each one once."""
    raw = dg.load_from_defs_folder(path_within_project=definitions.DG_PROJECT_DIR)
    assert len(raw.assets) > len({frozenset(a.keys) for a in raw.assets})  # what `each_once` is there for
    # The pipeline step, the two Melio exports and review_queue.
    assert len(defs.assets) == len({frozenset(a.keys) for a in defs.assets}) == 4
    assert len({key for a in defs.assets for key in a.keys}) == 6
    assert len(defs.asset_checks) == 1 and len(list(defs.asset_checks[0].check_specs)) == len(CHECKS)
    assert sorted(j.name for j in defs.jobs) == ["deliver_approved_job", "melio_exports_job", "qonto_sync_job"]
    assert sorted(s.name for s in defs.sensors) == ["melio_exports_sensor", "qonto_sync_sensor", "run_health_sensor"]
    assert defs.component_tree is not None and defs.component_tree.code_location_name == "well_pipeline"


def test_packaged_dg_settings_equal_pyprojects() -> None:
    """`definitions.py` reads the dg settings shipped in the package (an installed wheel has no pyproject.toml);
    the `dg` CLI reads pyproject.toml's [tool.dg] in the checkout. Both must name the same project."""
    packaged = tomllib.loads((definitions.DG_PROJECT_DIR / "dg.toml").read_text(encoding="utf-8"))
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["dg"]
    assert packaged == pyproject
    assert packaged["project"]["code_location_name"] == "well_pipeline"
    workspace = (ROOT / "workspace.yaml").read_text(encoding="utf-8")
    assert "module_name: well_pipeline.definitions" in workspace and "location_name: well_pipeline" in workspace


def test_wells_definitions_raise_no_beta_or_preview_warning() -> None:
    """Every module below `defs/` imported directly (as a run worker, a test or the CLI may) with Dagster's beta
    and preview warnings turned into errors: the one beta API Well uses knowingly is silenced, nothing else is."""
    code = (  # `-W error::dagster.BetaWarning` cannot work: Python reads -W before it may import dagster
        "import warnings, dagster\n"
        "warnings.simplefilter('error', dagster.BetaWarning)\n"
        "warnings.simplefilter('error', dagster.PreviewWarning)\n"
        "import importlib, pkgutil, well_pipeline.defs as package\n"
        "for module in pkgutil.walk_packages(package.__path__, 'well_pipeline.defs.'):\n"
        "    importlib.import_module(module.name)\n"
        "from well_pipeline.definitions import defs\n"
        "defs().resolve_asset_graph()\n"
        "print('loaded')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=os.environ,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "loaded"
