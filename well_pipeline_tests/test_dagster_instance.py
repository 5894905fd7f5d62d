"""The project's `dagster.yaml` works wherever Dagster finds it, and the usual ways to start Dagster load Well.

- copied into any DAGSTER_HOME, with no Well variable set: storage lands under that home;
- `scripts/dev.py` (demo, test command) puts the instance under the data directory it is given;
- a bare `dagster definitions validate` from the project root (what `dagster dev` and `dg dev` resolve without
  `-w`): pyproject.toml's [tool.dg] names the code location, the root's `dagster.yaml` configures the instance.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import dagster as dg
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import TickStatus

ROOT = Path(__file__).resolve().parent.parent


def dev_script() -> ModuleType:
    """scripts/dev.py as a module (it is a standard-library script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("well_dev_script", ROOT / "scripts" / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_wells_instance(home: Path) -> None:
    """An instance opened from `home` has Well's settings and keeps its storage under `home`."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert Path(instance.root_directory) == home
        concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == 1  # one DuckDB writer
        assert concurrency.run_queue_config.max_concurrent_runs == 4
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 30
        assert not instance.telemetry_enabled
        # Quiet (skipped) sensor ticks are purged after a day, failed ones after 30, run-launching ones after 90:
        # with Dagster's defaults (skipped 7, others never) ticks alone grow without bound.
        retention = instance.get_tick_retention_settings(InstigatorType.SENSOR)
        assert (retention[TickStatus.SKIPPED], retention[TickStatus.FAILURE], retention[TickStatus.SUCCESS]) == \
            (1, 30, 90)
        assert instance.run_coordinator.dequeue_interval_seconds == 1  # a sensor's run starts within a second
    assert (home / "history" / "runs.db").is_file()


def test_dagster_yaml_copied_into_any_dagster_home_works_without_well_variables(tmp_path: Path) -> None:
    home = tmp_path / "elsewhere"
    home.mkdir()
    (home / "dagster.yaml").write_bytes((ROOT / "dagster.yaml").read_bytes())
    assert not [name for name in os.environ if name.startswith("WELL_DAGSTER")]  # conftest's isolation holds
    assert_wells_instance(home)


def test_the_dev_script_keeps_the_instance_under_the_data_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = dev_script().dagster_env(data_dir)
    home = Path(env["DAGSTER_HOME"])
    assert home == data_dir / "dagster" and env["WELL_DATA_DIR"] == str(data_dir)
    assert (home / "dagster.yaml").read_bytes() == (ROOT / "dagster.yaml").read_bytes()
    assert_wells_instance(home)


def test_dagster_without_a_target_or_dagster_home_loads_well_from_the_project_root() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    result = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Validation successful for code location well_pipeline." in output
    assert "WELL_DAGSTER_STORAGE" not in output and "not set" not in output


def test_the_demo_shell_points_the_cli_at_the_demo_data_and_instance(tmp_path: Path, monkeypatch) -> None:
    """`scripts/dev.py shell` runs with `demo_env()`: a second terminal's `well review list` reads the demo's
    DuckDB file (issue 11: it used to look in `.well_data` and say "no database")."""
    from click.testing import CliRunner

    from well_pipeline.cli.main import cli
    from well_pipeline_tests.support.review_queue import record, write_queue

    dev = dev_script()
    demo = tmp_path / ".well_demo"
    monkeypatch.setattr(dev, "DEMO_DIR", demo)
    env = dev.demo_env()
    assert Path(env["DAGSTER_HOME"]) == demo / "data" / "dagster" and env["WELL_DATA_DIR"] == str(demo / "data")
    assert_wells_instance(demo / "data" / "dagster")
    settings_env = {k: v for k, v in env.items() if k.startswith("WELL_")}
    before = CliRunner().invoke(cli, ["review", "list"], env=settings_env)
    assert before.exit_code != 0 and str(demo / "data" / "well.duckdb") in " ".join(before.output.split())
    write_queue(demo / "data" / "well.duckdb", [record("demo-record-1")])
    after = CliRunner().invoke(cli, ["review", "list"], env=settings_env)
    assert after.exit_code == 0, after.output
    assert "demo-record-1" in after.output
