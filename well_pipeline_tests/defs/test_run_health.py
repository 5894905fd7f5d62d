"""A killed run never blocks Well: real sync runs (`qonto_sync_job`, one in-process step) in subprocesses, a real
instance with the project's pool and run-monitoring settings, `kill -9`, then the sweep, the freed DuckDB slot and
the next sync.

The sensors are evaluated by the test, tick by tick, where the daemon would evaluate them; everything they
touch (runs, event log, pool slots, processes) is real.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from dagster._core.events import EngineEventData

from well_pipeline.definitions import defs
from well_pipeline.defs.runs.health import (
    check_workers,
    claimed_slots,
    claimed_slots_by_run,
    fail_dead_run,
    sweep_started_runs,
)
from well_pipeline.defs.runs.limits import MAX_RUNTIME_TAG, max_runtime_tags
from well_pipeline.defs.runs.processes import process_alive
from well_pipeline.defs.runs.sensors import build_run_health_sensor
from well_pipeline.defs.workspace.factory import shared_definitions
from well_pipeline.services.sync_marker import SYNC_MARKER
from well_pipeline.settings import Settings, SettingsError, load_settings
from well_pipeline_tests.defs.conftest import BILLS, VENDORS, WellEnv, load_melio
from well_pipeline_tests.support.waiting import wait_until
from well_pipeline_tests.support.workspace_defs import MAIN, bundle_for

ROOT = Path(__file__).resolve().parents[2]
POOL = MAIN.pool  # the default workspace's pool: `well__main`
SYNC_JOB, SYNC_OP = MAIN.sync_job, MAIN.sync_op
run_health_sensor = build_run_health_sensor(60)
LIST_ROUTE = "/v2/supplier_invoices"


@pytest.fixture
def dagster_home(tmp_path: Path) -> Path:
    """A DAGSTER_HOME with the project's dagster.yaml settings that matter (pools, run monitoring) on sqlite."""
    project = yaml.safe_load((ROOT / "dagster.yaml").read_text(encoding="utf-8"))
    home = tmp_path / "dagster_home"
    home.mkdir()
    config = {key: project[key] for key in ("telemetry", "concurrency", "run_monitoring")}
    config["storage"] = {"sqlite": {"base_dir": str(home / "storage")}}
    (home / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return home


@pytest.fixture
def dagster_instance(dagster_home: Path) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        yield instance


@dataclass
class SyncRunner:
    """Runs `qonto_sync_job__main` the way a worker does, in its own process group, against the test's instance."""

    env: WellEnv
    home: Path
    instance: dg.DagsterInstance
    workers: list[subprocess.Popen] = field(default_factory=list)

    def environ(self) -> dict[str, str]:
        settings = self.env.settings
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("WELL_") and k != "DAGSTER_HOME"}
        return {**inherited, "DAGSTER_HOME": str(self.home), "WELL_SETTINGS_FILE": str(self.home / "absent.toml"),
                "WELL_DATA_DIR": str(settings.data_dir), "WELL_QONTO_API_URL": settings.qonto_api_url,
                "WELL_QONTO_OAUTH_URL": settings.qonto_oauth_url, "WELL_QONTO_CLIENT_ID": settings.qonto_client_id}

    def command(self, tags: dict[str, str], run_config: dict | None) -> list[str]:
        """`dagster job execute` of the sync job; no run config: the window from DuckDB's marker (here, none:
        everything). Delivery is not configured here: the sync ingests and scores, warns, and succeeds."""
        command = [sys.executable, "-m", "dagster", "job", "execute", "-m", "well_pipeline.definitions",
                   "-j", SYNC_JOB, "--tags", json.dumps(tags)]
        if run_config is None:
            return command
        config = self.home / f"run-config-{len(self.workers) + 1}.yaml"
        config.write_text(yaml.safe_dump(run_config), encoding="utf-8")
        return [*command, "-c", str(config)]

    def start(self, tags: dict[str, str] | None = None, *, run_config: dict | None = None) -> subprocess.Popen:
        """A worker in its own session (so `killpg` reaches it and anything it starts); output goes to a file,
        never to a pipe nobody reads."""
        command = self.command(tags or {}, run_config)
        with (self.home / f"worker-{len(self.workers) + 1}.log").open("w") as log:
            worker = subprocess.Popen(command, env=self.environ(), cwd=ROOT,
                                      start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
        self.workers.append(worker)
        return worker

    def finish(self, worker: subprocess.Popen) -> None:
        """Wait for a worker that should succeed; fail with the end of its output otherwise."""
        code = worker.wait(timeout=120)
        log = self.home / f"worker-{self.workers.index(worker) + 1}.log"
        assert code == 0, log.read_text()[-3000:]

    def stop_all(self) -> None:
        """Teardown: a test that failed half-way leaves no worker behind."""
        for worker in self.workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()

    def holding_the_slot_while_listing(self) -> dg.DagsterRun:
        """Wait until a sync run holds the DuckDB slot and its Qonto listing request has reached the sandbox."""
        def probe() -> dg.DagsterRun | None:
            runs = self.instance.get_runs(filters=dg.RunsFilter(job_name=SYNC_JOB,
                                                                statuses=[dg.DagsterRunStatus.STARTED]))
            listing = self.env.sandbox.stats()["by_path"].get(LIST_ROUTE, 0)
            if runs and listing and claimed_slots_by_run(self.instance, POOL).get(runs[0].run_id):
                return runs[0]
            return None
        return wait_until(probe, message="a sync run holding the DuckDB slot while it lists Qonto")

    def status(self, run_id: str) -> dg.DagsterRunStatus:
        run = self.instance.get_run_by_id(run_id)
        assert run is not None
        return run.status

    def sync_tick(self):  # noqa: ANN201 - a SkipReason or a SensorResult
        return sensor_tick(self.env.ws.sync_sensor, self.instance)


def with_melio_loaded(env: WellEnv, instance: dg.DagsterInstance) -> WellEnv:
    """The Melio exports in place and loaded once in `instance`: the sync sensor waits for that (issue 10 item 4)."""
    melio = env.settings.data_path / "melio"
    melio.mkdir(parents=True, exist_ok=True)
    (melio / "vendors.csv").write_text(VENDORS, encoding="utf-8")
    (melio / "bills.csv").write_text(BILLS, encoding="utf-8")
    load_melio(env, instance)
    return env


@pytest.fixture
def runner(well_env: WellEnv, dagster_home: Path, dagster_instance: dg.DagsterInstance) -> Iterator[SyncRunner]:
    sync_runner = SyncRunner(with_melio_loaded(well_env, dagster_instance), dagster_home, dagster_instance)
    yield sync_runner
    sync_runner.stop_all()


def sensor_tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance):  # noqa: ANN201 - SkipReason or result
    return sensor(dg.build_sensor_context(instance=instance))


def stored_rows(env: WellEnv) -> tuple[int, int, str | None]:
    """(rows, distinct Qonto ids, sync marker) in the run's DuckDB file."""
    with duckdb.connect(str(env.settings.duckdb_path), read_only=True) as con:
        rows, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM qonto_supplier_invoices").fetchone()
        marker = con.execute("SELECT value FROM sync_state WHERE name = ?", [SYNC_MARKER]).fetchone()
        return rows, distinct, marker[0] if marker else None


# ---- the fault scenarios -----------------------------------------------------------------------------------


@pytest.mark.fault(
    scenario="Sync run killed with kill -9 (its worker, which runs the step in process) while it holds the "
             "DuckDB slot",
    expected="run marked failed on the next health tick, slot freed, explained in the event log; the sync sensor "
             "requests a new sync, which runs and moves the marker",
)
def test_killed_sync_run_is_failed_its_slot_freed_and_syncing_resumes(runner: SyncRunner,
                                                                      fault_outcome) -> None:
    instance, env = runner.instance, runner.env
    env.sandbox.add_fault(LIST_ROUTE, kind="timeout", times=1, delay_s=300)  # the listing stalls until killed
    worker = runner.start()
    run = runner.holding_the_slot_while_listing()
    alive = check_workers(instance, run.run_id)
    # One process: the in-process executor runs the step in the run worker.
    assert len(alive.workers) == 1 and set(alive.alive) == {w.pid for w in alive.workers} == {worker.pid}
    assert sweep_started_runs(instance).failed == []  # alive, so left alone

    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    assert runner.status(run.run_id) == dg.DagsterRunStatus.STARTED  # Dagster alone leaves it "running"
    assert claimed_slots(instance, run.run_id) == {POOL: 1}

    ticks = []
    wait_until(lambda: ticks.append(sensor_tick(run_health_sensor, instance))
               or runner.status(run.run_id) != dg.DagsterRunStatus.STARTED,
               message="the health sensor to fail the run")
    assert runner.status(run.run_id) == dg.DagsterRunStatus.FAILURE
    assert f"Failed dead runs: run {run.run_id} ({SYNC_JOB})" in ticks[-1].skip_message
    assert "freed 1 'well__main' pool slot" in ticks[-1].skip_message
    assert claimed_slots_by_run(instance, POOL) == {}
    assert instance.event_log_storage.get_concurrency_info(POOL).pending_steps == []

    logs = instance.all_logs(run.run_id)
    (alert,) = [e for e in logs if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.ENGINE_EVENT
                and e.dagster_event.message.startswith("Well run health")]
    pids = {str(w.pid) for w in alive.workers}
    assert set(alert.dagster_event.event_specific_data.metadata["worker_pids"].value.split(", ")) == pids
    assert alert.dagster_event.event_specific_data.metadata["freed_pool_slots"].value == {POOL: 1}
    (failure,) = [e for e in logs if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.RUN_FAILURE]
    assert "Run worker gone" in failure.dagster_event.message
    assert stored_rows(env)[2] is None  # the killed sync never moved the marker

    tick = runner.sync_tick()  # syncing resumes on its own: a sync of the window since the (unmoved) marker
    (request,) = tick.run_requests
    assert request.job_name == SYNC_JOB and request.run_key.startswith("qonto-sync:start:")
    assert request.run_config["ops"][SYNC_OP]["config"]["updated_from"] is None  # no marker: everything
    resumed = runner.start(request.tags, run_config=request.run_config)  # what the daemon would launch
    runner.finish(resumed)
    (latest,) = instance.get_runs(filters=dg.RunsFilter(job_name=SYNC_JOB), limit=1)
    assert latest.run_id != run.run_id and latest.status == dg.DagsterRunStatus.SUCCESS
    rows, distinct, marker = stored_rows(env)
    expected = len({r["id"] for r in env.invoices}) - 1  # one record is unparseable and kept as a reject
    assert marker is not None and rows == distinct == expected
    fault_outcome.record(
        observed=f"run FAILURE after {len(ticks)} health tick(s) with its worker pid gone; 1 'well__main' slot freed; "
                 "engine event + run failure explain it; next sync requested, SUCCESS, marker moved",
        lost=expected - distinct, duplicated=rows - distinct)


@pytest.mark.fault(
    scenario="Sync run alive but slow (Qonto listing stalled) while the health sweeps run",
    expected="never failed by a sweep; the sync sensor says which worker is alive; the run finishes SUCCESS",
)
def test_live_slow_sync_run_is_never_swept(runner: SyncRunner, fault_outcome) -> None:
    instance, env = runner.instance, runner.env
    # A stall shorter than the client's timeout: slow, not broken.
    env.sandbox.add_fault(LIST_ROUTE, kind="timeout", times=1, delay_s=6)
    worker = runner.start()
    run = runner.holding_the_slot_while_listing()

    judged_alive = named_alive = 0
    for _ in range(3):
        if runner.status(run.run_id) != dg.DagsterRunStatus.STARTED:
            break
        health = sensor_tick(run_health_sensor, instance)
        judged_alive += f"{run.run_id} worker pid" in health.skip_message and "alive" in health.skip_message
        sync = runner.sync_tick()  # a SensorResult instead once the run has finished
        named_alive += isinstance(sync, dg.SkipReason) and sync.skip_message.startswith(
            f"previous {SYNC_JOB} run {run.run_id} is still started (worker pid") \
            and "alive)" in sync.skip_message
        assert runner.status(run.run_id) in {dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.SUCCESS}
    assert judged_alive >= 1 and named_alive >= 1  # the sweeps did look at the live run, and left it

    runner.finish(worker)
    assert runner.status(run.run_id) == dg.DagsterRunStatus.SUCCESS
    rows, distinct, marker = stored_rows(env)
    expected = len({r["id"] for r in env.invoices}) - 1  # one record is unparseable and kept as a reject
    assert marker is not None and rows == distinct == expected
    fault_outcome.record(observed=f"{judged_alive} health sweep(s) and {named_alive} sync sensor tick(s) judged the "
                                  "stalled run alive and left it; run SUCCESS, marker moved",
                         lost=expected - distinct, duplicated=rows - distinct)


# ---- the sweep's judgement, on real processes and a real instance -------------------------------------------


def dead_pid() -> int:
    """The pid of a process that ran and was reaped."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def started_sync_run(instance: dg.DagsterInstance, pid: int | None, *, hold_slot: bool = True) -> dg.DagsterRun:
    """A started qonto_sync_job__main run whose worker reported `pid`, holding the DuckDB slot."""
    run = instance.create_run_for_job(defs().resolve_job_def(SYNC_JOB), status=dg.DagsterRunStatus.STARTED)
    if pid is not None:
        instance.report_engine_event(f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid))
    if hold_slot:
        instance.event_log_storage.set_concurrency_slots(POOL, 1)
        assert instance.event_log_storage.claim_concurrency_slot(POOL, run.run_id, SYNC_OP)
    return run


def test_process_probe_knows_live_dead_zombie_and_reused_pids() -> None:
    assert process_alive(os.getpid(), time.time())
    assert not process_alive(dead_pid(), time.time())
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    wait_until(lambda: Path(f"/proc/{zombie.pid}/stat").read_text().split(")")[-1].split()[0] == "Z",
               message="the child to exit unreaped")
    assert not process_alive(zombie.pid, time.time())  # exited, not yet reaped: runs no code
    zombie.wait()
    # This process reported an hour before it started: the pid now belongs to another process.
    assert not process_alive(os.getpid(), time.time() - 3600)


def test_sync_sensor_fails_its_own_dead_run_says_so_then_resumes(runner: SyncRunner) -> None:
    instance = runner.instance
    run = started_sync_run(instance, dead_pid())
    tick = runner.sync_tick()
    label = f"previous {SYNC_JOB} run {run.run_id}"
    assert tick.skip_message.startswith(f"{label} had lost its worker: run {run.run_id}")
    assert "marked failed, freed 1 'well__main' pool slot" in tick.skip_message
    assert tick.skip_message.endswith("Syncing resumes on the next tick.")
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    assert claimed_slots_by_run(instance, POOL) == {}
    (request,) = runner.sync_tick().run_requests
    assert request.job_name == SYNC_JOB


def test_sync_sensor_names_the_run_holding_the_pool(dagster_instance: dg.DagsterInstance, tmp_path: Path) -> None:
    holder = started_sync_run(dagster_instance, dead_pid())
    dagster_instance.report_run_failed(holder)  # it ended, its slot is still claimed (freed 30 s later)
    waiting = started_sync_run(dagster_instance, os.getpid(), hold_slot=False)  # alive: this process
    tick = sensor_tick(bundle_for(Settings(data_dir=tmp_path / "data")).sync_sensor, dagster_instance)
    assert tick.skip_message == (f"previous {SYNC_JOB} run {waiting.run_id} is still started (worker pid "
                                 f"{os.getpid()} alive); waiting for pool 'well__main', held by run {holder.run_id}")


def test_a_run_without_a_reported_worker_is_left_to_the_max_runtime(dagster_instance: dg.DagsterInstance) -> None:
    run = started_sync_run(dagster_instance, None)
    report = sweep_started_runs(dagster_instance)
    assert report.failed == [] and report.checked[0].workers == ()
    assert "no worker process reported yet" in report.describe()
    assert dagster_instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED


def test_a_run_that_finished_meanwhile_is_not_failed(dagster_instance: dg.DagsterInstance) -> None:
    run = started_sync_run(dagster_instance, dead_pid(), hold_slot=False)
    check = check_workers(dagster_instance, run.run_id)
    assert check.gone
    dagster_instance.report_run_canceled(run)  # its worker wrote the end just before exiting
    assert fail_dead_run(dagster_instance, run.run_id, check) is None
    assert dagster_instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.CANCELED


def test_runs_of_other_launchers_are_not_judged() -> None:
    overrides = {"run_launcher": {"module": "dagster._core.launcher.sync_in_memory_run_launcher",
                                  "class": "SyncInMemoryRunLauncher"}}
    with dg.instance_for_test(overrides=overrides) as instance:
        run = started_sync_run(instance, dead_pid())
        report = sweep_started_runs(instance)
        assert report.failed == [] and "SyncInMemoryRunLauncher" in report.describe()
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED


def test_runs_in_storage_other_machines_may_share_are_not_judged(tmp_path: Path) -> None:
    # Postgres cannot run here; in-memory run storage stands in for "not a file on this machine".
    from dagster._core.instance import InstanceType
    from dagster._core.run_coordinator import DefaultRunCoordinator
    from dagster._core.storage.event_log import InMemoryEventLogStorage
    from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager
    from dagster._core.storage.root import LocalArtifactStorage
    from dagster._core.storage.runs import InMemoryRunStorage

    instance = dg.DagsterInstance(
        instance_type=InstanceType.EPHEMERAL, local_artifact_storage=LocalArtifactStorage(str(tmp_path)),
        run_storage=InMemoryRunStorage(), event_storage=InMemoryEventLogStorage(),
        compute_log_manager=NoOpComputeLogManager(), run_coordinator=DefaultRunCoordinator(),
        run_launcher=dg.DefaultRunLauncher())
    run = started_sync_run(instance, dead_pid(), hold_slot=False)
    report = sweep_started_runs(instance)
    assert report.failed == [] and "run storage InMemoryRunStorage may be shared" in report.describe()
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED


def test_bounds_are_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(tmp_path / "absent.toml")
    (health,) = shared_definitions(settings).sensors
    assert health.minimum_interval_seconds == settings.dead_run_check_seconds <= 600
    bundle = bundle_for(settings.replace(data_dir=tmp_path / "data"))
    for job in (bundle.sync_job, bundle.deliver_job, bundle.melio_job):
        assert job.tags[MAX_RUNTIME_TAG] == str(settings.max_run_minutes * 60), job.name
        assert job.tags["well/workspace"] == "main", job.name  # every run Well launches says whose it is
    assert max_runtime_tags(Settings(max_run_minutes=0)) == {}
    monkeypatch.setenv("WELL_DEAD_RUN_CHECK_SECONDS", "0")
    with pytest.raises(SettingsError, match=r"dead_run_check_seconds \(\$WELL_DEAD_RUN_CHECK_SECONDS\): must be "
                                            "positive"):
        load_settings(tmp_path / "absent.toml")
    monkeypatch.setenv("WELL_DEAD_RUN_CHECK_SECONDS", "60")
    monkeypatch.setenv("WELL_MAX_RUN_MINUTES", "-5")
    with pytest.raises(SettingsError, match=r"max_run_minutes \(\$WELL_MAX_RUN_MINUTES\): must be zero or "
                                            "positive"):
        load_settings(tmp_path / "absent.toml")
