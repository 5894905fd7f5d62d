"""The code location is built per workspace by the factory, and its shape keeps the promises: every name carries
its workspace, the three partitioned assets as one single-run-backfill step with every check, one writer per
workspace (its pool), the sync jobs in process, a sensor that launches them, resources scoped to each workspace (never
top-level), no module-level definition, no beta notice from Well's own definitions."""

import os
import subprocess
import sys
import tomllib
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest

from well_pipeline import definitions
from well_pipeline.defs.workspace.resources import RESOURCE_NAMES
from well_pipeline.settings import Settings, load_settings
from well_pipeline_tests.support.workspace_defs import bundle_for

ROOT = Path(__file__).resolve().parent.parent
WS = "main"  # no workspace file in the tests' environment: the implicit default workspace
NAMES = ("qonto_supplier_invoices", "melio_vendor_directory", "melio_ledger", "scored_matches", "review_queue",
         "delivered_bills")
PARTITIONED = {f"{WS}/qonto_supplier_invoices", f"{WS}/scored_matches", f"{WS}/delivered_bills"}
# Every check of the three assets, and whether it stops what follows it in the step when it fails.
CHECKS = {
    (f"{WS}/qonto_supplier_invoices", "attachments_match_their_digest"): True,
    (f"{WS}/qonto_supplier_invoices", "every_invoice_has_its_document"): False,
    (f"{WS}/qonto_supplier_invoices", "no_unparsed_qonto_records"): False,
    (f"{WS}/scored_matches", "one_row_per_invoice"): True,
    (f"{WS}/scored_matches", "scores_in_range"): True,
    (f"{WS}/scored_matches", "no_auto_link_breaks_a_hard_rule"): True,
    (f"{WS}/delivered_bills", "no_record_sent_twice"): True,
}
SYNC_JOBS = (f"qonto_sync_job__{WS}", f"deliver_approved_job__{WS}")
SENSORS = {f"qonto_sync_sensor__{WS}", f"melio_exports_sensor__{WS}", "run_health_sensor"}


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    """The code location as Dagster loads it: `@dg.definitions` called once for the module."""
    return definitions.defs()


def pipeline(defs: dg.Definitions) -> dg.AssetsDefinition:
    (found,) = [a for a in defs.assets if {k.to_user_string() for k in a.keys} & PARTITIONED]
    return found


def test_definitions_resolve(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {f"{WS}/{name}" for name in NAMES}
    assert {graph.get(key).group_name for key in graph.get_all_asset_keys()} == {WS}  # the workspace is the group
    assert {graph.get(key).tags.get("well/stage") for key in graph.get_all_asset_keys()} == {
        "qonto", "matching", "delivery", "melio"}
    # The three partitioned assets are one multi-asset: one step (ingest → checks → scoring → checks → delivery).
    step = pipeline(defs)
    assert step.node_def.name == f"invoice_pipeline__{WS}"
    assert {k.to_user_string() for k in step.keys} == PARTITIONED and step.can_subset
    assert {dep.to_user_string() for dep in graph.get(dg.AssetKey([WS, "scored_matches"])).parent_keys} == {
        f"{WS}/qonto_supplier_invoices", f"{WS}/melio_vendor_directory", f"{WS}/melio_ledger"}
    assert {dep.to_user_string() for dep in graph.get(dg.AssetKey([WS, "delivered_bills"])).parent_keys} == {
        f"{WS}/scored_matches"}
    assert {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys} == set(CHECKS)
    (checks,) = defs.asset_checks
    assert {(s.asset_key.to_user_string(), s.name): s.blocking for s in checks.check_specs} == CHECKS
    assert list(step.check_specs) == []  # declared apart: a range run plans no check row per partition
    for name in SYNC_JOBS:
        job = defs.resolve_job_def(name)
        assert job.executor_def is dg.in_process_executor, name  # one step: no process per step
        (op,) = job.graph.node_dict.values()
        assert op.definition.pool == f"well__{WS}", name
        assert job.tags["well/workspace"] == WS, name
    assert defs.resolve_job_def(f"melio_exports_job__{WS}").tags["well/workspace"] == WS
    assert {s.name for s in defs.sensors} == SENSORS


def configured(assets_def: dg.AssetsDefinition, key: str) -> dict:
    """The values a scoped resource of `assets_def` is configured with."""
    return assets_def.resource_defs[key].config_schema.as_field().default_value


def test_every_writer_is_in_its_workspace_pool(defs: dg.Definitions) -> None:
    for assets_def in defs.assets:
        assert assets_def.op.pool == f"well__{WS}", assets_def.keys
    # The checks are evaluated inside the pipeline step and logged; `pipeline_checks__<ws>` declares them and runs
    # them again on demand, in the same pool (it only reads, but it opens the file).
    (checks,) = defs.asset_checks
    assert checks.node_def.name == f"pipeline_checks__{WS}" and checks.op.pool == f"well__{WS}"
    assert {s.key for s in checks.check_specs} == set(defs.resolve_asset_graph().asset_check_keys)


def test_backfills_are_one_run_and_partitions_stay_few(defs: dg.Definitions) -> None:
    step = pipeline(defs)
    assert step.backfill_policy == dg.BackfillPolicy.single_run()
    partitions = step.partitions_def
    assert isinstance(partitions, dg.DailyPartitionsDefinition)
    count = len(partitions.get_partition_keys())
    assert 1000 <= count <= 1200, count  # three years of days, far under Dagster's advised 100,000
    assert partitions.get_last_partition_key() == datetime.now(UTC).strftime("%Y-%m-%d")


def test_the_sync_sensor_launches_the_sync_and_delivery_jobs(defs: dg.Definitions) -> None:
    """The sensor launches the two op jobs, never a partition: the old guarantee "one incremental run of today's
    partition per window" (the INCREMENTAL run tag) is gone by design (issue 10: a sync rewrites the days it
    touched and reports each). What a tick decides is tested in defs/test_sync_sensor.py."""
    sensor = next(s for s in defs.sensors if s.name == f"qonto_sync_sensor__{WS}")
    assert sorted(job.name for job in sensor.jobs) == sorted(SYNC_JOBS)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == round(load_settings().sync_interval_minutes * 60)
    # It holds its workspace's resources itself (the instances its jobs are bound to): it requires none.
    assert not sensor.required_resource_keys
    # Owners would be a beta parameter: none of Well's sensors sets them (see defs/__init__.py's filter).
    assert not any(s.owners for s in defs.sensors)


def test_resources_are_scoped_to_the_workspace_and_show_no_secret(defs: dg.Definitions) -> None:
    """No top-level resource (they would be bound to every job of every workspace): each asset, check and job
    carries its workspace's own, under keys suffixed with the workspace."""
    assert not defs.resources
    scoped = {f"{name}__{WS}" for name in RESOURCE_NAMES}
    for assets_def in defs.assets:
        assert assets_def.required_resource_keys - {"io_manager"} <= scoped, assets_def.keys
    step = pipeline(defs)
    assert {f"{name}__{WS}" for name in ("qonto", "storage", "scoring", "melio_delivery")} <= \
        step.required_resource_keys
    qonto = configured(step, f"qonto__{WS}")  # what a run's config shows of the resource
    assert not any("secret" in name and name != "secret_key_file" for name in qonto)  # a key file's path
    assert not any("token" in name for name in qonto)
    assert qonto["workspace_id"] == WS  # its secret store sees only this workspace's WELL_SECRET_* variables


def test_no_definition_is_defined_at_module_scope(defs: dg.Definitions) -> None:
    """Everything comes from the factory, per workspace: a definition at module scope below `defs/` would be one
    for all workspaces (and collected by `dg`'s defs-folder loader, which here finds nothing)."""
    raw = dg.load_from_defs_folder(path_within_project=definitions.DG_PROJECT_DIR)
    assert not (raw.assets or raw.asset_checks or raw.jobs or raw.sensors or raw.schedules), raw
    # The location: one pipeline step, the two Melio exports and review_queue; one checks definition; 3 jobs.
    assert len(defs.assets) == len({frozenset(a.keys) for a in defs.assets}) == 4
    assert len({key for a in defs.assets for key in a.keys}) == 6
    assert len(defs.asset_checks) == 1 and len(list(defs.asset_checks[0].check_specs)) == len(CHECKS)
    assert sorted(j.name for j in defs.jobs) == sorted([*SYNC_JOBS, f"melio_exports_job__{WS}"])


# -- several workspaces: one file each -----------------------------------------------------------------------------
def write_workspace(folder: Path, workspace_id: str, history_start: str, region: str = "eu") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{workspace_id}.toml").write_text(
        f'[workspace]\nid = "{workspace_id}"\ndisplay_name = "{workspace_id.title()} SAS"\n[settings]\n'
        f'storage_region = "{region}"\nhistory_start = "{history_start}"\n'
        f'melio_inbox_address = "{workspace_id}-ap@invoicesmelio.com"\n', encoding="utf-8")


STARTS = {"acme": "2024-01-01", "globex": "2023-06-01", "initech": "2025-02-15"}


@pytest.fixture
def three(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dg.Definitions]:
    """Three workspace files (their own history_start, region, inbox) and the code location loaded from them."""
    folder = tmp_path / "workspaces"
    for workspace_id, start in STARTS.items():
        write_workspace(folder, workspace_id, start, region="us" if workspace_id == "globex" else "eu")
    monkeypatch.setenv("WELL_WORKSPACES_DIR", str(folder))
    monkeypatch.setenv("WELL_DATA_DIR", str(tmp_path / "data"))
    return tmp_path, definitions.defs()


def test_each_workspace_has_its_own_keys_group_jobs_sensors_partitions_and_pool(
        three: tuple[Path, dg.Definitions]) -> None:
    _, loaded = three
    graph = loaded.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {
        f"{ws}/{name}" for ws in STARTS for name in NAMES}  # no implicit `main` once files exist
    assert sorted(j.name for j in loaded.jobs) == sorted(
        f"{job}__{ws}" for ws in STARTS for job in ("qonto_sync_job", "deliver_approved_job", "melio_exports_job"))
    assert {s.name for s in loaded.sensors} == {"run_health_sensor"} | {
        f"{sensor}__{ws}" for ws in STARTS for sensor in ("qonto_sync_sensor", "melio_exports_sensor")}
    assert not loaded.resources
    for ws, start in STARTS.items():
        (step,) = [a for a in loaded.assets if a.node_def.name == f"invoice_pipeline__{ws}"]
        assert {graph.get(key).group_name for key in step.keys} == {ws}
        assert step.partitions_def.get_first_partition_key() == start  # its own backfill window
        assert step.op.pool == f"well__{ws}"
        assert step.required_resource_keys - {"io_manager"} == {
            f"{name}__{ws}" for name in ("qonto", "storage", "scoring", "melio_delivery")}
        delivery = configured(step, f"melio_delivery__{ws}")
        assert (delivery["melio_inbox_address"], delivery["workspace_id"]) == (f"{ws}-ap@invoicesmelio.com", ws)
        (op,) = loaded.resolve_job_def(f"qonto_sync_job__{ws}").graph.node_dict.values()
        assert (op.definition.name, op.definition.pool) == (f"qonto_sync__{ws}", f"well__{ws}")
        sensor = next(s for s in loaded.sensors if s.name == f"qonto_sync_sensor__{ws}")
        assert sorted(job.name for job in sensor.jobs) == [f"deliver_approved_job__{ws}", f"qonto_sync_job__{ws}"]
    loaded.get_repository_def()  # the whole location resolves: no key, node or resource clash between them


def test_a_workspace_job_writes_only_its_own_store(three: tuple[Path, dg.Definitions]) -> None:
    """The merged location runs a workspace's job with that workspace's scoped resources: acme's Melio exports
    land in acme's store, nobody else's."""
    tmp_path, loaded = three
    acme = tmp_path / "data" / "regions" / "eu" / "acme"
    (acme / "melio").mkdir(parents=True)
    (acme / "melio" / "vendors.csv").write_text("company_name,vendor_id\nAcme Paper,V-1\n", encoding="utf-8")
    (acme / "melio" / "bills.csv").write_text(
        "bill_id,company_name,invoice_number,invoice_date,due_date,amount,currency,status\n", encoding="utf-8")
    with dg.instance_for_test() as instance:
        result = loaded.resolve_job_def("melio_exports_job__acme").execute_in_process(instance=instance)
        assert result.success
        assert result.dagster_run.tags["well/workspace"] == "acme"
        assert instance.get_latest_materialization_event(dg.AssetKey(["acme", "melio_vendor_directory"]))
        assert instance.get_latest_materialization_event(dg.AssetKey(["globex", "melio_vendor_directory"])) is None
    assert (acme / "well.duckdb").exists()
    assert sorted(p.name for p in (tmp_path / "data" / "regions").rglob("well.duckdb")) == ["well.duckdb"]


def test_a_new_workspace_file_appears_on_the_next_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "workspaces"
    monkeypatch.setenv("WELL_WORKSPACES_DIR", str(folder))
    monkeypatch.setenv("WELL_DATA_DIR", str(tmp_path / "data"))
    write_workspace(folder, "acme", "2024-01-01")
    before = {s.name for s in definitions.defs().sensors}
    write_workspace(folder, "globex", "2023-06-01")
    after = definitions.defs()  # what a reload of the code location does: the factory reads the folder again
    assert {s.name for s in after.sensors} - before == {"qonto_sync_sensor__globex", "melio_exports_sensor__globex"}
    (step,) = [a for a in after.assets if a.node_def.name == "invoice_pipeline__globex"]
    assert step.partitions_def.get_first_partition_key() == date(2023, 6, 1).isoformat()


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


def test_the_location_grows_linearly_with_the_workspaces(tmp_path: Path) -> None:
    """Resources scoped per workspace keep the repository snapshot (what the code server sends the webserver and
    the daemon on every load) linear in the number of workspaces: top-level resources are bound to every job, which
    made it quadratic (plan amendment A). Quadratic growth would make the step 4 → 8 four times the step 2 → 4."""
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster._serdes import serialize_value

    from well_pipeline.defs.workspace.factory import build_workspace, shared_definitions
    from well_pipeline.settings import Settings
    from well_pipeline.workspaces import Workspace

    def snapshot_bytes(count: int) -> int:
        bundles = [build_workspace(Workspace(f"w{n}", f"W{n}", Settings(data_dir=str(tmp_path / f"w{n}"),
                                                                         workspace_id=f"w{n}"), None))
                   for n in range(count)]
        merged = dg.Definitions.merge(shared_definitions(Settings()), *(b.definitions for b in bundles))
        return len(serialize_value(RepositorySnap.from_def(merged.get_repository_def())))

    two, four, eight = snapshot_bytes(2), snapshot_bytes(4), snapshot_bytes(8)
    assert eight - four <= 2.5 * (four - two), (two, four, eight)


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_every_asset_shows_the_kind_of_store_its_rows_are_in(tmp_path: Path, backend: str) -> None:
    settings = Settings(data_dir=str(tmp_path), storage_backend=backend,
                        postgres_dsn="host=127.0.0.1 dbname=well" if backend == "postgres" else "")
    specs = [spec for asset in bundle_for(settings).assets for spec in asset.specs]
    assert len(specs) == len(NAMES)
    for spec in specs:  # the UI's kind icons: where the rows are, never the other backend
        assert backend in spec.kinds and ({"duckdb", "postgres"} - {backend}).isdisjoint(spec.kinds), spec.key
