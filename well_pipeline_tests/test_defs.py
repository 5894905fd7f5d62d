"""The code location loads the dg way, and its shape keeps the promises: each definition once, single-run
backfills, one DuckDB writer, a sensor, no beta notice from Well's own definitions."""

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
from well_pipeline.defs.qonto.sensors import qonto_sync_sensor

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    """The code location as Dagster loads it: `@dg.definitions` called once for the module."""
    return definitions.defs()


def test_definitions_resolve(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {
        "qonto_supplier_invoices", "melio_vendor_directory", "melio_ledger", "scored_matches", "review_queue",
        "delivered_bills"}
    sync = defs.resolve_job_def("qonto_sync_job")
    assert {"qonto_supplier_invoices", "scored_matches", "review_queue", "delivered_bills"} <= set(sync.graph.node_dict)
    defs.resolve_job_def("melio_exports_job")
    assert {s.name for s in defs.sensors} == {"qonto_sync_sensor", "melio_exports_sensor", "run_health_sensor"}


def test_every_duckdb_writer_is_in_the_single_pool(defs: dg.Definitions) -> None:
    for assets_def in defs.assets:
        assert assets_def.op.pool == "duckdb", assets_def.key
    for check in defs.asset_checks:
        assert check.op.pool == "duckdb", check


def test_backfills_are_one_run_and_partitions_stay_few(defs: dg.Definitions) -> None:
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
    assert len(raw.assets) > len({a.key for a in raw.assets})  # what `each_once` is there for
    assert len(defs.assets) == len({a.key for a in defs.assets}) == 6
    assert len(defs.asset_checks) == len({key for c in defs.asset_checks for key in c.check_keys}) == 7
    assert sorted(j.name for j in defs.jobs) == ["melio_exports_job", "qonto_sync_job"]
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
