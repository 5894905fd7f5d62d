"""Find started runs whose processes are all gone; fail them and free their pool slots.

Which Dagster mechanism covers what (Dagster 1.13, `run_monitoring` enabled in dagster.yaml):
- a run stuck STARTING or CANCELING: run monitoring's start and cancel timeouts;
- a run worker that dies while its code server lives: the code server notices its child exited and fails the run;
- a run that ended (any way) still holding slots: `free_slots_after_run_end_seconds`;
- any sync or Melio reload still going after `max_run_minutes`, alive or not: the `dagster/max_runtime` tag.
Not covered: a run whose worker died *with* its code server (kill -9 of the process group, the OOM killer, a
reboot, a restarted `dagster dev`), or a killed run started from the command line (`dagster job execute`, which
no code server watches). The DefaultRunLauncher cannot check a worker's health, so run monitoring
leaves such a run STARTED until the max runtime, and its DuckDB slot blocks every sync, Melio reload and
delivery in between. This sweep closes that gap: a run is failed only when every process that reported itself
for it (the run worker and each step process, by pid in the event log) is gone, so a slow run is never touched.

Runs are judged only where a pid can be trusted: with the DefaultRunLauncher (workers are processes started by
the code server that also evaluates the sensor; other launchers run them in containers or pods and check their
health themselves) and SQLite run storage (a file on this machine, so no run executes on another host; with
shared storage such as Postgres, a `dagster job execute` on another machine would look dead here).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg
from dagster._core.events import EngineEventData, JobFailureData, RunFailureReason
from dagster._core.storage.runs import SqliteRunStorage

from well_pipeline.defs.runs.processes import process_alive

# Events a worker process writes about itself with its own pid in the metadata: "Started process for run",
# "Executing steps using multiprocess executor: parent process", "Executing steps in process" (ENGINE_EVENT),
# and each step process's "Executing step ... in subprocess" (STEP_WORKER_STARTED). Events written by other
# processes (the daemon, the webserver, this sweep) carry no pid metadata.
_WORKER_EVENTS = {dg.DagsterEventType.ENGINE_EVENT, dg.DagsterEventType.STEP_WORKER_STARTED}


@dataclass(frozen=True)
class WorkerProcess:
    """A process that reported itself for a run, and when (it was running then)."""

    pid: int
    reported_at: float


@dataclass(frozen=True)
class WorkerCheck:
    """What the event log says ran a started run, and which of those processes still run."""

    run_id: str
    workers: tuple[WorkerProcess, ...]
    alive: tuple[int, ...]

    @property
    def gone(self) -> bool:
        """Every known process of the run has ended (a run with no reported process is never 'gone')."""
        return bool(self.workers) and not self.alive

    def describe(self) -> str:
        if not self.workers:
            return "no worker process reported yet"
        pids = ", ".join(str(w.pid) for w in self.workers)
        if self.gone:
            return f"worker pid {pids} gone" if len(self.workers) == 1 else f"worker pids {pids} all gone"
        return f"worker pid {', '.join(map(str, self.alive))} alive"


@dataclass(frozen=True)
class DeadRun:
    """A run this sweep failed, and the pool slots it freed."""

    run_id: str
    job_name: str
    check: WorkerCheck
    freed_slots: dict[str, int]

    def describe(self) -> str:
        slots = ", ".join(f"{n} {pool!r}" for pool, n in sorted(self.freed_slots.items())) or "no"
        return (f"run {self.run_id} ({self.job_name}): {self.check.describe()}; marked failed, "
                f"freed {slots} pool slot{'s' if sum(self.freed_slots.values()) != 1 else ''}")


@dataclass
class SweepReport:
    """One sweep: the started runs looked at and those failed."""

    checked: list[WorkerCheck] = field(default_factory=list)
    failed: list[DeadRun] = field(default_factory=list)
    not_judged: str = ""

    def describe(self) -> str:
        if self.not_judged:
            return self.not_judged
        if self.failed:
            return "Failed dead runs: " + "; ".join(d.describe() for d in self.failed)
        if not self.checked:
            return "no started runs"
        return f"{len(self.checked)} started run(s), none dead: " + "; ".join(
            f"{c.run_id} {c.describe()}" for c in self.checked)


def why_not_judged(instance: dg.DagsterInstance) -> str:
    """Why the pids of this instance's runs cannot be checked here; empty when they can (see the module doc)."""
    if not isinstance(instance.run_launcher, dg.DefaultRunLauncher):
        return (f"the run launcher {type(instance.run_launcher).__name__} runs workers elsewhere (its own health "
                "checks apply)")
    if not isinstance(instance.run_storage, SqliteRunStorage):
        return (f"run storage {type(instance.run_storage).__name__} may be shared with other machines, whose "
                "processes cannot be seen here (the max-runtime bound applies)")
    return ""


def recorded_workers(instance: dg.DagsterInstance, run_id: str) -> tuple[WorkerProcess, ...]:
    """Every process that reported its pid for the run, with the first time it did."""
    first_seen: dict[int, float] = {}
    for entry in instance.all_logs(run_id, of_type=_WORKER_EVENTS):
        data = entry.dagster_event.event_specific_data if entry.dagster_event else None
        pid_value = (getattr(data, "metadata", None) or {}).get("pid")
        if pid_value is None:
            continue
        try:
            pid = int(str(getattr(pid_value, "value", pid_value)))
        except ValueError:
            continue
        first_seen[pid] = min(first_seen.get(pid, entry.timestamp), entry.timestamp)
    return tuple(WorkerProcess(pid, at) for pid, at in sorted(first_seen.items()))


def check_workers(instance: dg.DagsterInstance, run_id: str) -> WorkerCheck:
    """Which of the run's reported processes still run."""
    workers = recorded_workers(instance, run_id)
    alive = tuple(w.pid for w in workers if process_alive(w.pid, w.reported_at))
    return WorkerCheck(run_id, workers, alive)


def claimed_slots(instance: dg.DagsterInstance, run_id: str) -> dict[str, int]:
    """Pool slots the run holds, by pool."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return {}
    held: dict[str, int] = {}
    for pool, info in storage.get_concurrency_infos(sorted(storage.get_concurrency_keys())).items():
        count = sum(1 for slot in info.claimed_slots if slot.run_id == run_id)
        if count:
            held[pool] = count
    return held


def claimed_slots_by_run(instance: dg.DagsterInstance, pool: str) -> dict[str, int]:
    """Slots of one pool held, by run id."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return {}
    held: dict[str, int] = {}
    for slot in storage.get_concurrency_info(pool).claimed_slots:
        held[slot.run_id] = held.get(slot.run_id, 0) + 1
    return held


def fail_dead_run(instance: dg.DagsterInstance, run_id: str, check: WorkerCheck) -> DeadRun | None:
    """Fail a started run whose processes are all gone and free its slots; None if it is no longer started.

    The status is read again *after* the processes were found gone: a worker writes its run's end before it
    exits, so a run still STARTED now can no longer be finished by anyone.
    """
    run = instance.get_run_by_id(run_id)
    if run is None or run.status != dg.DagsterRunStatus.STARTED or not check.gone:
        return None
    slots = claimed_slots(instance, run_id)
    dead = DeadRun(run_id, run.job_name, check, slots)
    instance.report_engine_event(
        f"Well run health: {check.describe()} while the run was still marked started (its last event: "
        f"{_last_event_time(instance, run_id)}). Its processes ended without recording the run's end: killed with "
        "kill -9, by the OOM killer, a reboot or a restart of Dagster. Marking the run failed and freeing its "
        "pool slots so later runs are not blocked.",
        run,
        EngineEventData(metadata={
            "worker_pids": dg.MetadataValue.text(", ".join(str(w.pid) for w in check.workers)),
            "freed_pool_slots": dg.MetadataValue.json(slots),
        }),
    )
    instance.report_run_failed(
        run,
        f"Run worker gone ({check.describe()}): failed by Well's run health sweep. Work committed before the "
        "crash is kept; re-run to finish the rest (a sync resumes on the sync sensor's next tick).",
        JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION),
    )
    if instance.event_log_storage.supports_global_concurrency_limits:
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)  # its claimed slots and queued steps
    return dead


def _last_event_time(instance: dg.DagsterInstance, run_id: str) -> str:
    records = instance.get_records_for_run(run_id, limit=1, ascending=False).records
    if not records:
        return "none"
    return datetime.fromtimestamp(records[0].timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def sweep_started_runs(instance: dg.DagsterInstance, runs: Iterable[dg.DagsterRun] | None = None) -> SweepReport:
    """Check every started run (or the given ones) and fail those whose processes are all gone."""
    report = SweepReport()
    reason = why_not_judged(instance)
    if reason:
        report.not_judged = f"started runs not judged: {reason}"
        return report
    if runs is None:
        runs = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    for run in runs:
        if run.status != dg.DagsterRunStatus.STARTED:
            continue
        check = check_workers(instance, run.run_id)
        report.checked.append(check)
        dead = fail_dead_run(instance, run.run_id, check) if check.gone else None
        if dead is not None:
            report.failed.append(dead)
    return report
