"""`qonto_sync_sensor__<ws>`: every sync interval, one small Qonto request decides whether a workspace needs a sync.

A tick, in order (each step can end it with a `SkipReason` that says why, shown on the sensor page):
1. a sync or "deliver approved" run is active → skip (a started run whose processes are all gone is failed on the
   spot and its DuckDB slot freed: the same sweep as `run_health_sensor`, so syncing heals with that sensor off);
2. the cursor (services/sync_cursor.py) holds the **sync marker** (an empty cursor, a new sensor, starts from the
   store's copy of the marker: `_seed_marker`); the run the last tick requested is settled
   (succeeded, failed, never launched), and markers that runs reported are adopted: a marker moves only when the
   run covering its window succeeded;
3. the Melio exports never loaded → wait: scoring against an empty directory would refuse almost everything;
4. Qonto disconnected → skip (the review queue and every record stay);
5. the probe: one request, page 1 of what Qonto updated since the marker minus the overlap
   (services/qonto_probe.py). A record the marker's window does not hold, or a Melio export loaded since the
   last sync → one `qonto_sync_job__<ws>` run for that window, with a run key built from the marker and what changed,
   so two ticks never launch the same work twice;
6. nothing changed in Qonto, but records wait for delivery (approved, pinned, a quota pause) → one
   `deliver_approved_job__<ws>` run. Read with a short read-only DuckDB open: the sensor never takes the write lock;
7. else skip: "no change since <marker>".

A quiet tick is therefore one Qonto request (plus an OAuth refresh at most hourly: the client and its access token
are kept between ticks, one client per workspace) and launches nothing. Each workspace has its own sensor, built
by the factory (defs/workspace/factory.py) around that workspace's names, resources and jobs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg

from well_pipeline.adapters.qonto import QontoError
from well_pipeline.adapters.secrets import SecretStoreError
from well_pipeline.defs.pipeline.jobs import SyncJobs
from well_pipeline.defs.pipeline.stages import SYNC_MARKER_KEY
from well_pipeline.defs.resources import WellStorageResource
from well_pipeline.defs.runs.health import claimed_slots_by_run, sweep_started_runs
from well_pipeline.defs.workspace.names import WorkspaceNames
from well_pipeline.defs.workspace.resources import WorkspaceResources
from well_pipeline.services.qonto_connection import QontoConnectionError
from well_pipeline.services.qonto_probe import ProbeResult, probe_changes
from well_pipeline.services.sync_cursor import (
    CursorError,
    MarkerReport,
    PendingRun,
    SyncCursor,
    digest,
)
from well_pipeline.services.sync_marker import last_sync
from well_pipeline.settings import SettingsError
from well_pipeline.workspaces import PlacementError, verify_placement

_ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
           dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
_FAILED = {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
_RUN_KEY_TAG = "dagster/run_key"
_REPORT_PAGE = 500
# How long the approvals read waits for a writer's lock: a sync run holds it for its whole step, and the tick (probe
# included) must end well inside Dagster's 60 s sensor timeout. Busy: the check is skipped this tick, and said.
_READ_WAIT_S = 2.0


@dataclass(frozen=True)
class _Sync:
    """What one workspace's sensor works with: its names, its resources (the instances its jobs are bound to;
    sensors cannot see scoped resources) with its own probe clients, and its two jobs."""

    names: WorkspaceNames
    res: WorkspaceResources
    jobs: SyncJobs


def build_sync_sensor(names: WorkspaceNames, res: WorkspaceResources, jobs: SyncJobs,
                      interval_s: int) -> dg.SensorDefinition:
    """The workspace's sync sensor (`qonto_sync_sensor__<ws>`), ticking every `interval_s` seconds."""
    sync = _Sync(names, res, jobs)

    @dg.sensor(
        name=names.sync_sensor,
        jobs=[jobs.sync, jobs.deliver],
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Asks Qonto (one request) what changed since the sync marker; launches a sync of that window "
                    "only when something did, and a delivery run when approved records wait. The cursor holds the "
                    "sync marker; to move it back, set the cursor to {\"marker\": \"2026-03-01T00:00:00+00:00\"} "
                    "(Edit cursor) or run `well qonto rewind 2026-03-01`.",
    )
    def qonto_sync_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        return evaluate_sync(context, sync)

    return qonto_sync_sensor


def evaluate_sync(context: dg.SensorEvaluationContext, sync: _Sync) -> dg.SensorResult | dg.SkipReason:
    """One tick of a workspace's sync sensor (the steps in the module docstring)."""
    instance, names, qonto, probe_clients = context.instance, sync.names, sync.res.qonto, sync.res.probe_clients
    active = _active_run(instance, sync.jobs)
    if active is not None:
        return dg.SkipReason(_skip_reason(instance, active, names.pool))
    try:  # data in another storage region: said first, before anything is read, asked or written
        verify_placement(sync.res.storage.placement(), stamp=False)
    except PlacementError as exc:
        return dg.SkipReason(f"{exc} Nothing was asked of Qonto or written; the marker is kept.")
    fresh = not context.cursor or _legacy_cursor(context.cursor)
    try:
        cursor = SyncCursor.parse(None if fresh else context.cursor)
    except CursorError as exc:
        return dg.SkipReason(f"The sensor's cursor cannot be read: {exc}. Nothing was changed; fix or clear it "
                             "(Edit cursor on this page, or `well qonto rewind`).")
    if fresh:
        seeded = _seed_marker(sync.res.storage)
        if isinstance(seeded, str):
            return dg.SkipReason(seeded)
        cursor = SyncCursor(marker=seeded)
    cursor = _settle(instance, cursor, names)
    marker_before = cursor.marker

    melio_load = _melio_load(instance, names)
    if melio_load is None:
        return _skip(context, cursor, "The sync waits for the first Melio export load (melio_vendor_directory and "
                     "melio_ledger are not materialised yet): scoring without the vendor directory would refuse "
                     f"almost every invoice. Put the exports in place ({names.melio_sensor} loads them) or "
                     f"materialise them (group {names.group}).")
    try:
        client = probe_clients.client(qonto.connection(), qonto.secret_store())
    except QontoConnectionError as exc:
        # Its message names what is missing (the connection, a setting) and the command that fixes it.
        return _skip(context, cursor, f"{_one_line(exc).rstrip('.')}. Syncing resumes from the marker "
                     f"({cursor.describe_marker()}) once it is fixed; the review queue is kept, like every record.")
    except (SecretStoreError, SettingsError) as exc:  # says how to recover (a bare WELL_SECRET_* with several
        # workspaces, an unreadable store) and never holds a secret
        return _skip(context, cursor, f"The secret store cannot be read ({_one_line(exc)}); nothing was asked of "
                     f"Qonto. Syncing resumes from the marker ({cursor.describe_marker()}) once it can.")
    since = cursor.marker - timedelta(minutes=qonto.sync_overlap_minutes) if cursor.marker else None
    try:
        probe = probe_changes(client, since, cursor.known)
    except (QontoError, OSError) as exc:
        probe_clients.forget()  # a refused token or a broken connection: start afresh next tick
        return _skip(context, cursor, f"Qonto did not answer the change probe ({_one_line(exc)}); the next tick "
                     f"asks again. Marker: {cursor.describe_marker()}.")

    melio_changed = melio_load > cursor.melio
    if probe.changed or melio_changed:
        return _request_sync(context, sync, cursor, probe, melio_load, melio_changed=melio_changed)
    waiting = _awaiting_delivery(sync.res.storage)
    if isinstance(waiting, str):
        note = waiting
    elif waiting and digest(waiting) != cursor.delivered:
        return _request_delivery(context, sync, cursor, waiting)
    elif waiting:
        note = (f" {len(waiting)} record(s) still wait for delivery after the last 'deliver approved' run: see "
                "delivered_bills' metadata and `well delivery status`.")
    else:
        note = ""
    moved = f" (adopted from a run; was {marker_before.isoformat()})" if marker_before != cursor.marker else ""
    return _skip(context, cursor, f"No change since {cursor.describe_marker()}{moved}: {probe.describe()}.{note}")


# -- the cursor's bookkeeping ----------------------------------------------------------------------------------
_LEGACY_SLOT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z")


def _legacy_cursor(text: str | None) -> bool:
    """A cursor of Well before the marker moved into it: a time-slot label ("2026-03-14T09:30Z") that held no
    marker. Read as a new sensor: the first sync after the upgrade lists everything once (rows are keyed on the
    Qonto id and the outbox sends each record version once, so nothing is duplicated)."""
    return bool(text) and _LEGACY_SLOT.fullmatch(text.strip()) is not None


def _seed_marker(storage: WellStorageResource) -> datetime | None | str:
    """A new sensor's first marker: the store's copy (`well qonto status` reads it too), so a sensor renamed by an
    upgrade or a workspace added on existing data goes on from where the data is instead of listing everything
    again. Safe: only a succeeded run writes that copy. None: no store or no sync yet. A str: the store is busy
    (a run holds its write lock): why this tick skips, leaving the cursor empty to try again."""
    if storage.storage_backend == "duckdb" and not storage.duckdb_path.exists():
        return None
    try:
        return last_sync(storage.storage(read_only=True, lock_timeout_s=_READ_WAIT_S).invoices)
    except Exception as exc:  # noqa: BLE001 - a busy or locked file: say so, try again next tick
        return (f"The sensor's first tick reads its marker from the store, which is busy ({_one_line(exc)}); "
                "the next tick tries again. Nothing was asked of Qonto.")


def _settle(instance: dg.DagsterInstance, cursor: SyncCursor, names: WorkspaceNames) -> SyncCursor:
    """The pending run judged, a person's edit respected, the runs' marker reports adopted."""
    if cursor.pending is not None:
        runs = instance.get_runs(dg.RunsFilter(tags={_RUN_KEY_TAG: cursor.pending.run_key}), limit=1)
        if not runs:
            cursor = cursor.settled("missing")
        elif runs[0].status == dg.DagsterRunStatus.SUCCESS:
            cursor = cursor.settled("success")
        elif runs[0].status in _FAILED:
            cursor = cursor.settled("failed")
    reports = _marker_reports(instance, cursor.adopted, names)
    if cursor.edited:
        # A person wrote this cursor: reports existing at the edit would undo the rewind.
        return cursor.ignoring_reports_up_to(max((r.storage_id for r in reports), default=cursor.adopted or 0))
    return cursor.adopt(reports)


def _marker_reports(instance: dg.DagsterInstance, after: int | None, names: WorkspaceNames) -> list[MarkerReport]:
    """Every marker report (an observation of the workspace's qonto_supplier_invoices with `sync_marker`) after
    storage id `after`, with its run's state."""
    reports: list[MarkerReport] = []
    states: dict[str, str] = {}
    last = after
    while True:
        result = instance.fetch_observations(dg.AssetRecordsFilter(names.invoices, after_storage_id=last),
                                             limit=_REPORT_PAGE, ascending=True)
        for record in result.records:
            last = record.storage_id
            observation = record.asset_observation
            value = observation.metadata.get(SYNC_MARKER_KEY) if observation else None
            if value is None:
                continue
            try:
                moment = datetime.fromisoformat(str(value.value)).astimezone(UTC)
            except ValueError:
                continue
            if record.run_id not in states:
                states[record.run_id] = _run_state(instance.get_run_by_id(record.run_id))
            reports.append(MarkerReport(record.storage_id, moment, states[record.run_id]))
        if len(result.records) < _REPORT_PAGE:
            return reports


def _run_state(run: dg.DagsterRun | None) -> str:
    if run is None or run.status in _FAILED:
        return "failed"
    return "success" if run.status == dg.DagsterRunStatus.SUCCESS else "active"


def _skip(context: dg.SensorEvaluationContext, cursor: SyncCursor, reason: str) -> dg.SensorResult:
    """A skip that keeps what this tick learned (a settled run, an adopted marker) in the cursor."""
    return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=cursor.dump())


# -- what to request ---------------------------------------------------------------------------------------------
def _request_sync(context: dg.SensorEvaluationContext, sync: _Sync, cursor: SyncCursor, probe: ProbeResult,
                  melio_load: int, *, melio_changed: bool) -> dg.SensorResult:
    """One sync of [marker − overlap, probe time): its key names the marker and what the probe saw, so the same
    change asked twice (two ticks, a re-evaluated tick) is one run. The last adopted report is in the key too: a
    rewind to a marker an earlier sync started from, with nothing changed since, is new work, and a reused key
    would be dropped by Dagster (and the earlier run taken for this one)."""
    start = cursor.marker.isoformat() if cursor.marker else "start"
    base = f"qonto-sync:{start}:{digest([*probe.seen, f'melio:{melio_load}', f'adopted:{cursor.adopted or 0}'])}"
    run_key = cursor.run_key(base)
    window_to = probe.asked_at.replace(microsecond=0)
    config = {"updated_from": probe.since.isoformat() if probe.since else None, "updated_to": window_to.isoformat()}
    why = probe.describe() if probe.changed else "no Qonto change"
    if melio_changed:
        why += "; Melio exports loaded since the last sync (stale days are scored again)"
    context.log.info(f"Sync requested since {cursor.describe_marker()}: {why}")
    job = sync.jobs.sync.name
    pending = PendingRun(job=job, run_key=run_key, window_to=window_to.isoformat(), seen=probe.seen,
                         melio=melio_load)
    request = dg.RunRequest(run_key=run_key, job_name=job,
                            run_config={"ops": {sync.names.sync_op: {"config": config}}},
                            tags={**sync.names.tags, "well/sync_marker": cursor.describe_marker(),
                                  "well/window_to": window_to.isoformat()})
    return dg.SensorResult(run_requests=[request], cursor=cursor.requesting(pending).dump())


def _request_delivery(context: dg.SensorEvaluationContext, sync: _Sync, cursor: SyncCursor, waiting: list[str]
                      ) -> dg.SensorResult:
    waiting_digest = digest(waiting)
    run_key = cursor.run_key(f"deliver-approved:{waiting_digest}")
    job = sync.jobs.deliver.name
    context.log.info(f"No Qonto change; {len(waiting)} record(s) wait for delivery: {job} requested")
    pending = PendingRun(job=job, run_key=run_key, digest=waiting_digest)
    request = dg.RunRequest(run_key=run_key, job_name=job,
                            tags={**sync.names.tags, "well/awaiting_delivery": str(len(waiting))})
    return dg.SensorResult(run_requests=[request], cursor=cursor.requesting(pending).dump())


def _awaiting_delivery(storage: WellStorageResource) -> list[str] | str:
    """The records waiting for delivery as `id@version` (read-only: no write lock), or why it could not be read."""
    if storage.storage_backend == "duckdb" and not storage.duckdb_path.exists():
        return []  # no file yet: nothing was ever stored (PostgreSQL creates its schema on first use)
    try:
        waiting = storage.storage(read_only=True, lock_timeout_s=_READ_WAIT_S).outbox.awaiting_delivery()
    except Exception as exc:  # noqa: BLE001 - a busy or locked file: say so, try again next tick
        return f" Records waiting for delivery not checked this tick (the database is busy: {_one_line(exc)})."
    return [f"{row.qonto_id}@{row.record_version}" for row in waiting]


# -- reading the instance ----------------------------------------------------------------------------------------
def _melio_load(instance: dg.DagsterInstance, names: WorkspaceNames) -> int | None:
    """Storage id of the workspace's latest Melio export load (the later of its two assets), None until both
    loaded once."""
    ids = []
    for key in (names.vendors, names.ledger):
        records = instance.fetch_materializations(key, limit=1).records
        if not records:
            return None
        ids.append(records[0].storage_id)
    return max(ids)


def _active_run(instance: dg.DagsterInstance, jobs: SyncJobs) -> dg.DagsterRun | None:
    for job in (jobs.sync.name, jobs.deliver.name):
        runs = instance.get_runs(filters=dg.RunsFilter(job_name=job, statuses=_ACTIVE), limit=1)
        if runs:
            return runs[0]
    return None


def _skip_reason(instance: dg.DagsterInstance, run: dg.DagsterRun, pool: str) -> str:
    """Why this tick launches nothing; a dead started run is failed (and its slot freed) on the way."""
    label = f"previous {run.job_name} run {run.run_id}"
    if run.status == dg.DagsterRunStatus.STARTED:
        report = sweep_started_runs(instance, [run])
        if report.failed:
            return f"{label} had lost its worker: {report.failed[0].describe()}. Syncing resumes on the next tick."
        if report.checked:
            return f"{label} is still started ({report.checked[0].describe()}){_pool_note(instance, run.run_id, pool)}"
    return f"{label} is still {run.status.value.lower()}{_pool_note(instance, run.run_id, pool)}"


def _pool_note(instance: dg.DagsterInstance, run_id: str, pool: str) -> str:
    """Which other runs hold the workspace's pool (the usual reason a sync waits), or nothing."""
    holders = sorted(r for r in claimed_slots_by_run(instance, pool) if r != run_id)
    return f"; waiting for pool {pool!r}, held by run {', '.join(holders)}" if holders else ""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__
