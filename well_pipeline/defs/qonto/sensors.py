"""`qonto_sync_sensor`: every sync interval, one small Qonto request decides whether a sync run is needed.

A tick, in order (each step can end it with a `SkipReason` that says why, shown on the sensor page):
1. a sync or "deliver approved" run is active → skip (a started run whose processes are all gone is failed on the
   spot and its DuckDB slot freed: the same sweep as `run_health_sensor`, so syncing heals with that sensor off);
2. the cursor (services/sync_cursor.py) holds the **sync marker**: the run the last tick requested is settled
   (succeeded, failed, never launched), and markers that runs reported are adopted: a marker moves only when the
   run covering its window succeeded;
3. the Melio exports never loaded → wait: scoring against an empty directory would refuse almost everything;
4. Qonto disconnected → skip (the review queue and every record stay);
5. the probe: one request, page 1 of what Qonto updated since the marker minus the overlap
   (services/qonto_probe.py). A record the marker's window does not hold, or a Melio export loaded since the
   last sync → one `qonto_sync_job` run for that window, with a run key built from the marker and what changed,
   so two ticks never launch the same work twice;
6. nothing changed in Qonto, but records wait for delivery (approved, pinned, a quota pause) → one
   `deliver_approved_job` run. Read with a short read-only DuckDB open: the sensor never takes the write lock;
7. else skip: "no change since <marker>".

A quiet tick is therefore one Qonto request (plus an OAuth refresh at most hourly: the client and its access token
are kept between ticks) and launches nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import dagster as dg

from well_pipeline.adapters.qonto import QontoError
from well_pipeline.adapters.secrets import SecretStoreError
from well_pipeline.defs.melio.assets import melio_ledger, melio_vendor_directory
from well_pipeline.defs.pipeline.jobs import SYNC_OP, deliver_approved_job, qonto_sync_job
from well_pipeline.defs.pipeline.stages import SYNC_MARKER_KEY
from well_pipeline.defs.qonto.assets import QONTO_SUPPLIER_INVOICES
from well_pipeline.defs.resources import QontoResource, WellStorageResource
from well_pipeline.defs.runs.health import claimed_slots_by_run, sweep_started_runs
from well_pipeline.services.qonto_connection import QontoConnectionError
from well_pipeline.services.qonto_probe import ProbeClients, ProbeResult, probe_changes
from well_pipeline.services.sync_cursor import (
    SENSOR_NAME,
    CursorError,
    MarkerReport,
    PendingRun,
    SyncCursor,
    digest,
)
from well_pipeline.settings import code_location_settings

_INTERVAL_S = round(code_location_settings().sync_interval_minutes * 60)
_ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
           dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
_FAILED = {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
_POOL = "duckdb"  # the pool of every step that writes the DuckDB file
_RUN_KEY_TAG = "dagster/run_key"
_REPORT_PAGE = 500
# How long the approvals read waits for a writer's lock: a sync run holds it for its whole step, and the tick (probe
# included) must end well inside Dagster's 60 s sensor timeout. Busy: the check is skipped this tick, and said.
_READ_WAIT_S = 2.0

# The probe's Qonto client, kept between ticks of this process (the daemon evaluates sensors in the code server).
_probe_clients = ProbeClients()


def forget_probe_client() -> None:
    """Drop the kept probe client: the next tick opens a new one (tests; a process serving several workspaces)."""
    _probe_clients.forget()


@dg.sensor(
    name=SENSOR_NAME,
    jobs=[qonto_sync_job, deliver_approved_job],
    minimum_interval_seconds=_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Asks Qonto (one request) what changed since the sync marker; launches a sync of that window only "
                "when something did, and a delivery run when approved records wait. The cursor holds the sync "
                "marker; to move it back, set the cursor to {\"marker\": \"2026-03-01T00:00:00+00:00\"} (Edit "
                "cursor) or run `well qonto rewind 2026-03-01`.",
)
def qonto_sync_sensor(context: dg.SensorEvaluationContext, qonto: QontoResource,
                      storage: WellStorageResource) -> dg.SensorResult | dg.SkipReason:
    instance = context.instance
    active = _active_run(instance)
    if active is not None:
        return dg.SkipReason(_skip_reason(instance, active))
    try:
        cursor = SyncCursor.parse(None if _legacy_cursor(context.cursor) else context.cursor)
    except CursorError as exc:
        return dg.SkipReason(f"The sensor's cursor cannot be read: {exc}. Nothing was changed; fix or clear it "
                             "(Edit cursor on this page, or `well qonto rewind`).")
    cursor = _settle(instance, cursor)
    marker_before = cursor.marker

    melio_load = _melio_load(instance)
    if melio_load is None:
        return _skip(context, cursor, "The sync waits for the first Melio export load (melio_vendor_directory and "
                     "melio_ledger are not materialised yet): scoring without the vendor directory would refuse "
                     "almost every invoice. Put the exports in place (melio_exports_sensor loads them) or "
                     "materialise the melio group.")
    try:
        client = _probe_clients.client(qonto.connection(), qonto.secret_store())
    except QontoConnectionError as exc:
        # Its message names what is missing (the connection, a setting) and the command that fixes it.
        return _skip(context, cursor, f"{_one_line(exc).rstrip('.')}. Syncing resumes from the marker "
                     f"({cursor.describe_marker()}) once it is fixed; the review queue is kept, like every record.")
    except SecretStoreError as exc:  # its message says how to recover and never holds a secret
        return _skip(context, cursor, f"The secret store cannot be read ({_one_line(exc)}); nothing was asked of "
                     f"Qonto. Syncing resumes from the marker ({cursor.describe_marker()}) once it can.")
    since = cursor.marker - timedelta(minutes=qonto.sync_overlap_minutes) if cursor.marker else None
    try:
        probe = probe_changes(client, since, cursor.known)
    except (QontoError, OSError) as exc:
        _probe_clients.forget()  # a refused token or a broken connection: start afresh next tick
        return _skip(context, cursor, f"Qonto did not answer the change probe ({_one_line(exc)}); the next tick "
                     f"asks again. Marker: {cursor.describe_marker()}.")

    melio_changed = melio_load > cursor.melio
    if probe.changed or melio_changed:
        return _request_sync(context, cursor, probe, melio_load, melio_changed=melio_changed)
    waiting = _awaiting_delivery(storage)
    if isinstance(waiting, str):
        note = waiting
    elif waiting and digest(waiting) != cursor.delivered:
        return _request_delivery(context, cursor, waiting)
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


def _settle(instance: dg.DagsterInstance, cursor: SyncCursor) -> SyncCursor:
    """The pending run judged, a person's edit respected, the runs' marker reports adopted."""
    if cursor.pending is not None:
        runs = instance.get_runs(dg.RunsFilter(tags={_RUN_KEY_TAG: cursor.pending.run_key}), limit=1)
        if not runs:
            cursor = cursor.settled("missing")
        elif runs[0].status == dg.DagsterRunStatus.SUCCESS:
            cursor = cursor.settled("success")
        elif runs[0].status in _FAILED:
            cursor = cursor.settled("failed")
    reports = _marker_reports(instance, cursor.adopted)
    if cursor.edited:
        # A person wrote this cursor: reports existing at the edit would undo the rewind.
        return cursor.ignoring_reports_up_to(max((r.storage_id for r in reports), default=cursor.adopted or 0))
    return cursor.adopt(reports)


def _marker_reports(instance: dg.DagsterInstance, after: int | None) -> list[MarkerReport]:
    """Every marker report (an observation of qonto_supplier_invoices with `sync_marker`) after storage id `after`,
    with its run's state."""
    reports: list[MarkerReport] = []
    states: dict[str, str] = {}
    last = after
    while True:
        result = instance.fetch_observations(dg.AssetRecordsFilter(QONTO_SUPPLIER_INVOICES, after_storage_id=last),
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
def _request_sync(context: dg.SensorEvaluationContext, cursor: SyncCursor, probe: ProbeResult, melio_load: int, *,
                  melio_changed: bool) -> dg.SensorResult:
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
    pending = PendingRun(job=qonto_sync_job.name, run_key=run_key, window_to=window_to.isoformat(), seen=probe.seen,
                         melio=melio_load)
    request = dg.RunRequest(run_key=run_key, job_name=qonto_sync_job.name,
                            run_config={"ops": {SYNC_OP: {"config": config}}},
                            tags={"well/sync_marker": cursor.describe_marker(),
                                  "well/window_to": window_to.isoformat()})
    return dg.SensorResult(run_requests=[request], cursor=cursor.requesting(pending).dump())


def _request_delivery(context: dg.SensorEvaluationContext, cursor: SyncCursor, waiting: list[str]
                      ) -> dg.SensorResult:
    waiting_digest = digest(waiting)
    run_key = cursor.run_key(f"deliver-approved:{waiting_digest}")
    context.log.info(f"No Qonto change; {len(waiting)} record(s) wait for delivery: deliver_approved_job requested")
    pending = PendingRun(job=deliver_approved_job.name, run_key=run_key, digest=waiting_digest)
    request = dg.RunRequest(run_key=run_key, job_name=deliver_approved_job.name,
                            tags={"well/awaiting_delivery": str(len(waiting))})
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
def _melio_load(instance: dg.DagsterInstance) -> int | None:
    """Storage id of the latest Melio export load (the later of the two assets), None until both loaded once."""
    ids = []
    for asset in (melio_vendor_directory, melio_ledger):
        records = instance.fetch_materializations(asset.key, limit=1).records
        if not records:
            return None
        ids.append(records[0].storage_id)
    return max(ids)


def _active_run(instance: dg.DagsterInstance) -> dg.DagsterRun | None:
    for job in (qonto_sync_job.name, deliver_approved_job.name):
        runs = instance.get_runs(filters=dg.RunsFilter(job_name=job, statuses=_ACTIVE), limit=1)
        if runs:
            return runs[0]
    return None


def _skip_reason(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    """Why this tick launches nothing; a dead started run is failed (and its slot freed) on the way."""
    label = f"previous {run.job_name} run {run.run_id}"
    if run.status == dg.DagsterRunStatus.STARTED:
        report = sweep_started_runs(instance, [run])
        if report.failed:
            return f"{label} had lost its worker: {report.failed[0].describe()}. Syncing resumes on the next tick."
        if report.checked:
            return f"{label} is still started ({report.checked[0].describe()}){_pool_note(instance, run.run_id)}"
    return f"{label} is still {run.status.value.lower()}{_pool_note(instance, run.run_id)}"


def _pool_note(instance: dg.DagsterInstance, run_id: str) -> str:
    """Which other runs hold the DuckDB pool (the usual reason a sync waits), or nothing."""
    holders = sorted(r for r in claimed_slots_by_run(instance, _POOL) if r != run_id)
    return f"; waiting for pool {_POOL!r}, held by run {', '.join(holders)}" if holders else ""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__
