"""Tick benchmark: what a sync tick costs when nothing changed, when ten invoices arrive, and in Dagster storage.

    python -m well_pipeline_tests.benchmarks.tick [--invoices 1000] [--quiet-ticks 20] [--samples 3]

Everything is real and on this machine: a generated dataset (3 years, history up to two hours ago) served by the
Qonto sandbox, the Melio inbox sandbox, Well's secret store and DuckDB file, `well qonto connect` (the sandbox
approves), and a Dagster instance in a temporary DAGSTER_HOME holding a copy of the project's `dagster.yaml`
(SQLite storage, so its size is measured). Nothing is simulated: the ticks are the daemon's own.

1. In this process: the Melio exports are loaded, then one `invoice_pipeline` run backfills every partition
   (3 years, with the range tags the UI's single-run backfill sets). `range_run_storage_mb`: growth of the
   instance folder over that run (in process, so without the few KB of compute logs a launched run adds);
   `range_run_planned_events` and `range_run_planned_check_rows` show where it goes. Every process runs with
   `DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=1`, as scripts/dev.py and the README set it (one planned event
   per asset for a range run); `--per-partition-planned-events` measures Dagster's default instead.
2. Dagster as `dagster dev` runs it: a `dagster code-server start` (lasting: the sync sensor's Qonto client and
   its access token live in it between ticks) and a `dagster-daemon run` whose workspace names that server; the
   daemon evaluates the sensors and launches each run as a process through the code server. The code location is
   Well's as it ships, except that `qonto_sync_sensor` ticks every `--interval-s` (10 s) instead of
   `sync_interval_minutes` (15 by default): `bench_defs` below swaps in the same sensor function with that
   interval. `--managed-code-server` lets the daemon load the code itself instead (Dagster then replaces that code
   server every 60 s, and each tick after it pays an OAuth refresh). The daemon settles first: its first ticks
   adopt the backfill's marker, the Melio sensor reloads the exports once and the sync sensor syncs after that.
3. Quiet ticks (`--quiet-ticks`, nothing changes anywhere): `no_change_requests` is the most requests the Qonto
   sandbox counted (its own counter, every path) between the end of one sync tick and the end of the next, with a
   valid access token; `no_change_requests_per_tick` has them all (`no_change_other_paths`: the paths of any tick
   that made other than one). `no_change_runs_launched` counts the runs created meanwhile; `no_change_seconds` is
   the median tick (tick start to end, as the instance recorded it).
4. `dagster_storage_mb_per_day`: what the quiet ticks cost in storage, extrapolated to a day at each sensor's
   default interval: each sensor's mean tick row in the quiet window, times the tick table's bytes on disk per
   byte of row (pages and indexes, from SQLite's dbstat), times its ticks a day: `qonto_sync_sensor` every
   `sync_interval_minutes` (96 at 15), `melio_exports_sensor` and `run_health_sensor` every minute (1,440 each).
   `sync_sensor_mb_per_day` is the sync sensor's part (the issue's "20 quiet ticks extrapolated to 96"). Quiet
   ticks launch no run, so they are all the growth; retention (dagster.yaml) then bounds it, which a window of
   minutes does not show. `quiet_window_growth_kb` is the folder's raw growth meanwhile (whole pages).
5. Ten changes: ten new invoices of a supplier Well auto-linked in the backfill are added to the Qonto dataset
   (the sandbox reloads it). `ten_changes_seconds`: from the start of the tick that saw them to the end of the run
   it launched (queued, dequeued, started as a process, ingested, scored, e-mailed); `ten_changes_requests`: every
   sandbox request from the previous tick's end to that run's end (probe, the run worker's token refresh,
   listing, attachments, downloads); `sync_run_seconds_few_changes`: that run alone (start to end);
   `sync_run_storage_kb`: what that run keeps (its event-log file, its rows in the shared asset index and run
   table, its compute logs), with `sync_run_storage_breakdown_kb`.
6. `new_invoice_to_inbox_seconds`: one invoice added to the dataset, until the inbox sandbox received its e-mail
   (`received_at`), `--samples` times, each after the previous run ended; the worst sample is reported, all are in
   `new_invoice_to_inbox_samples`.

Prints ONE JSON line. Goals (issue 10): no_change_requests 1, no_change_runs_launched 0, ten_changes_seconds
<= 15, dagster_storage_mb_per_day <= 3, new_invoice_to_inbox_seconds <= interval + 30. Exit status 1 when a run
failed, an invoice was not delivered, or the daemon died (the JSON line is still printed when it can be).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

ROOT = Path(__file__).resolve().parents[2]
SYNC_SENSOR = "qonto_sync_sensor__main"  # the default workspace's (services/sync_cursor.sensor_name)
MELIO_SENSOR = "melio_exports_sensor__main"
MODULE = "well_pipeline_tests.benchmarks.tick"  # what the daemon imports (this file runs as __main__)
# Read by `bench_defs` in the daemon's code server: the sync sensor's interval in seconds.
INTERVAL_ENV = "TICK_BENCH_INTERVAL_S"
INBOX_ADDRESS = "bench_1234@invoicesmelio.com"
# Dagster: one planned event per asset for a range run instead of one per partition (see the README, Operations).
SUBSET_ENV = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"
MB = 1024 * 1024
SKIPPED, FAILURE = "SKIPPED", "FAILURE"  # tick statuses (TickStatus values)
_TERMINAL = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


# -- the code location the benchmark's daemon loads --------------------------------------------------------------
@dg.definitions
def bench_defs() -> dg.Definitions:
    """Well's code location (`well_pipeline.definitions`) with `qonto_sync_sensor` every `$TICK_BENCH_INTERVAL_S`.

    Why a copy: the sensor's interval is `sync_interval_minutes`, at least 0.25 minutes, and the issue measures a 10 s
    interval. The copy is the same evaluation function (`_raw_fn`, the decorated function itself), jobs, status
    and description; only `minimum_interval_seconds` differs. Every other definition is Well's own object.
    """
    from well_pipeline.definitions import defs

    well = defs()
    interval = int(os.environ.get(INTERVAL_ENV, "0"))
    sensors = [_every(sensor, interval) if sensor.name == SYNC_SENSOR and interval else sensor
               for sensor in well.sensors or ()]
    return dg.Definitions(assets=well.assets, asset_checks=well.asset_checks, jobs=well.jobs,
                          schedules=well.schedules, sensors=sensors, resources=well.resources,
                          executor=well.executor, loggers=well.loggers, metadata=well.metadata)


def _every(sensor: dg.SensorDefinition, seconds: int) -> dg.SensorDefinition:
    return dg.sensor(name=sensor.name, jobs=list(sensor.jobs), minimum_interval_seconds=seconds,
                     default_status=sensor.default_status, description=sensor.description)(sensor._raw_fn)


# -- arguments, dataset, environment -----------------------------------------------------------------------------
def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--vendors", type=int, default=300)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--interval-s", type=int, default=10, help="the sync sensor's interval in the daemon")
    parser.add_argument("--quiet-ticks", type=int, default=20)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--samples", type=int, default=3, help="new-invoice-to-inbox measurements")
    parser.add_argument("--per-partition-planned-events", action="store_true", help=f"leave {SUBSET_ENV} unset "
                        "(Dagster's default: a range run plans one event per partition and asset)")
    parser.add_argument("--managed-code-server", action="store_true", help="let the daemon load the code itself "
                        "(it then replaces its code server every minute) instead of a lasting code server")
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it (default: a "
                        "temporary folder, removed)")
    return parser.parse_args(argv)


def _well_env(work: Path, dataset: Path, qonto_url: str, client_id: str, inbox: Any, redirect_port: int
              ) -> dict[str, str]:
    """The environment of this process and of the daemon: Well's settings, nothing inherited from the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WELL_") and k != "DAGSTER_HOME"}
    env.update({
        "DAGSTER_HOME": str(work / "dagster"),
        "WELL_SETTINGS_FILE": str(work / "well.toml"),  # absent: defaults + the variables below
        "WELL_DATA_DIR": str(work / "data"),
        "WELL_QONTO_API_URL": qonto_url,
        "WELL_QONTO_OAUTH_URL": qonto_url,
        "WELL_QONTO_AUTH_MODE": "oauth",
        "WELL_QONTO_CLIENT_ID": client_id,
        "WELL_QONTO_REDIRECT_URI": f"http://127.0.0.1:{redirect_port}/callback",
        "WELL_MELIO_VENDORS_CSV": str(dataset / "melio" / "vendors.csv"),
        "WELL_MELIO_BILLS_CSV": str(dataset / "melio" / "bills.csv"),
        "WELL_MELIO_INBOX_ADDRESS": INBOX_ADDRESS,
        "WELL_SMTP_HOST": "127.0.0.1",
        "WELL_SMTP_PORT": str(inbox.port),
        "WELL_SMTP_SECURITY": "starttls",
        "WELL_SMTP_USERNAME": inbox.config.username,
        "WELL_SMTP_FROM_ADDRESS": "bills@well-bench.example.com",
        "WELL_SMTP_CA_FILE": str(inbox.cert_path),
        # As scripts/dev.py and the README (Operations) set it: a range run plans one event per asset.
        SUBSET_ENV: "1",
    })
    return env


def _connect(env: dict[str, str], client_secret: str, smtp_password: str) -> None:
    """The secrets, then `well qonto connect` as a person runs it (the sandbox approves; the start is fixed)."""
    from well_pipeline.adapters.secrets import QONTO_CLIENT_SECRET, SMTP_PASSWORD, SecretStore
    from well_pipeline.settings import load_settings

    store = SecretStore(load_settings().secrets_path, environ={})
    store.set(QONTO_CLIENT_SECRET, client_secret)
    store.set(SMTP_PASSWORD, smtp_password)
    well = Path(sys.executable).with_name("well")
    done = subprocess.run([str(well), "qonto", "connect", "--sandbox-approve", "--timeout", "60"], env=env,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"well qonto connect failed: {done.stdout}{done.stderr}")


def _folder_bytes(home: Path) -> int:
    """What the Dagster instance keeps on disk: every file under DAGSTER_HOME but its dagster.yaml, its workspace
    file and SQLite's transient files (rollback journals, WAL indexes), after moving each write-ahead log into its
    database (`wal_checkpoint(TRUNCATE)`; a database busy with a writer keeps its log, which is then counted)."""
    for wal in home.rglob("*.db-wal"):
        with contextlib.suppress(sqlite3.Error), sqlite3.connect(wal.with_name(wal.name[:-4]), timeout=5) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    total = 0
    for path in home.rglob("*"):
        if path.name in ("dagster.yaml", "bench-workspace.yaml") or path.name.endswith(("-journal", "-shm")):
            continue
        with contextlib.suppress(FileNotFoundError):  # a transient file gone meanwhile
            total += path.stat().st_size if path.is_file() else 0
    return total


def _query(db_file: Path, sql: str, *params: object) -> list[tuple]:
    """Read-only, beside the daemon (SQLite serialises the writers; a reader waits up to 30 s)."""
    with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=30) as db:
        return db.execute(sql, params).fetchall()


def _run_storage(instance: dg.DagsterInstance, run_id: str) -> dict[str, int]:
    """What one run keeps, in bytes: its own event-log file, its rows in the shared asset index (asset events, check
    executions; row bytes, no page slack) and in the run table, its compute logs; and, inside those, the bytes of
    its `review_queue` materialisation (stored in both the run's file and the index)."""
    from dagster._serdes import serialize_value

    home = Path(instance.root_directory)
    history = home / "history"
    (indexed,) = _query(history / "runs" / "index.db",
                        "SELECT (SELECT COALESCE(SUM(LENGTH(event)), 0) FROM event_logs WHERE run_id = ?) + "
                        "(SELECT COALESCE(SUM(LENGTH(evaluation_event)), 0) FROM asset_check_executions "
                        "WHERE run_id = ?)", run_id, run_id)[0]
    (run_row,) = _query(history / "runs.db", "SELECT COALESCE(SUM(LENGTH(run_body)), 0) FROM runs WHERE run_id = ?",
                        run_id)[0]
    queue = sum(len(serialize_value(record.event_log_entry)) for record in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=10_000).records
        if record.event_log_entry.asset_materialization
        and record.event_log_entry.asset_materialization.asset_key == dg.AssetKey(["main", "review_queue"]))
    parts = {"event_log_file": (history / "runs" / f"{run_id}.db").stat().st_size, "asset_index_rows": indexed,
             "run_row": run_row,
             "compute_logs": sum(p.stat().st_size for p in (home / "storage").rglob("*")
                                 if p.is_file() and run_id in str(p))}
    return {"total": sum(parts.values()), **parts, "review_queue_event": queue}


# -- the Qonto dataset, changed while the sandbox serves it ------------------------------------------------------
class Dataset:
    """The sandbox's `qonto/` folder. New invoices copy one Well auto-linked (same supplier, IBAN, VAT, status),
    with a new id, a new invoice number (not a duplicate), today's dates and a document of their own."""

    def __init__(self, root: Path) -> None:
        self.qonto = root / "qonto"
        self.jsonl = self.qonto / "invoices.jsonl"
        self.records = {r["id"]: r for r in map(json.loads, self.jsonl.read_text("utf-8").splitlines())}
        self.template: dict[str, Any] | None = None
        self.added = 0

    def use_template(self, qonto_id: str) -> None:
        self.template = self.records[qonto_id]

    def add(self, count: int) -> list[str]:
        """`count` new invoices, created and updated now: attachments first, then the listing, atomically."""
        assert self.template is not None
        source = self._attachment(self.template["attachment_id"])
        now = datetime.now(UTC).replace(microsecond=0)
        lines = []
        ids = []
        for _ in range(count):
            self.added += 1
            record = copy.deepcopy(self.template)
            record_id, attachment_id = str(uuid.uuid4()), str(uuid.uuid4())
            record.update(id=record_id, attachment_id=attachment_id, display_attachment_id=attachment_id,
                          invoice_number=f"TICK-{self.added:05d}", issue_date=now.date().isoformat(),
                          due_date=(now.date() + timedelta(days=30)).isoformat(), created_at=now.isoformat(),
                          updated_at=now.isoformat(), analyzed_at=now.isoformat())
            (self.qonto / "attachments" / f"{attachment_id}{source.suffix}").write_bytes(
                source.read_bytes() + f"\n% tick benchmark copy {self.added}\n".encode())
            lines.append(json.dumps(record, ensure_ascii=False) + "\n")
            ids.append(record_id)
        tmp = self.jsonl.with_suffix(".jsonl.tmp")
        with tmp.open("w", encoding="utf-8") as out:
            out.write(self.jsonl.read_text("utf-8"))
            out.writelines(lines)
        tmp.replace(self.jsonl)
        return ids

    def _attachment(self, attachment_id: str) -> Path:
        (path,) = [p for p in (self.qonto / "attachments").glob(f"{attachment_id}*") if p.stem == attachment_id]
        return path


# -- the daemon and what it records -----------------------------------------------------------------------------
@contextmanager
def _process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A child in its own session, stopped with its children (code servers, run workers) by its process group."""
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=env["DAGSTER_HOME"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)


@contextmanager
def running_dagster(env: dict[str, str], log: Path, *, managed: bool) -> Iterator[subprocess.Popen]:
    """`dagster-daemon run` on `bench_defs`, and the code server it evaluates sensors in.

    By default as `dagster dev` (and a production deployment) runs it: a `dagster code-server start` that lives as
    long as the daemon, named in the daemon's workspace, so the sync sensor's Qonto client survives between ticks.
    `managed`: the daemon loads the module itself; Dagster's daemon then replaces its code server every 60 s
    (`RELOAD_WORKSPACE_INTERVAL`), and with it that client.
    """
    bin_dir = Path(sys.executable).parent
    target = ["-m", MODULE, "-a", "bench_defs", "-d", str(ROOT)]
    daemon = [str(bin_dir / "dagster-daemon"), "run", "--log-level", "warning"]
    if managed:
        with _process([*daemon, *target], env, log) as process:
            yield process
        return
    from well_pipeline_tests.support.qonto_sandbox import free_port, port_listening

    port = free_port()
    workspace = Path(env["DAGSTER_HOME"]) / "bench-workspace.yaml"
    workspace.write_text(json.dumps({"load_from": [{"grpc_server": {
        "host": "127.0.0.1", "port": port, "location_name": "well_pipeline"}}]}))  # JSON is YAML
    with _process([str(bin_dir / "dagster"), "code-server", "start", *target, "-h", "127.0.0.1", "-p", str(port),
                   "--location-name", "well_pipeline", "--log-level", "warning"], env, log) as server:
        _wait(lambda: port_listening(port), 300, "the code server to listen", server, log)
        with _process([*daemon, "-w", str(workspace)], env, log) as process:
            yield process


@dataclass
class Sensor:
    """One sensor's ticks in the instance, by the ids Dagster keeps its state under."""

    instance: dg.DagsterInstance
    name: str
    origin_id: str = ""
    selector_id: str = ""

    def found(self) -> bool:
        for state in self.instance.all_instigator_state():
            if state.name == self.name:
                self.origin_id, self.selector_id = state.instigator_origin_id, state.selector_id
                return True
        return False

    def ticks(self, limit: int = 5) -> list:
        """The latest ticks, newest first."""
        return list(self.instance.get_ticks(self.origin_id, self.selector_id, limit=limit))

    def finished_after(self, moment: float) -> list:
        """Finished ticks that started after `moment`, oldest first."""
        ticks = self.instance.get_ticks(self.origin_id, self.selector_id, after=moment)
        return sorted((t for t in ticks if t.end_timestamp is not None), key=lambda t: t.timestamp)


def _tick_table_bytes(home: Path) -> int:
    """Bytes of the pages holding the tick table and its indexes (SQLite's dbstat), else of the whole file."""
    db_file = home / "schedules" / "schedules.db"
    try:
        ((pages,),) = _query(db_file, "SELECT SUM(pgsize) FROM dbstat WHERE name = 'job_ticks' OR name IN "
                             "(SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'job_ticks')")
        return int(pages)
    except sqlite3.OperationalError:  # an SQLite built without dbstat
        return db_file.stat().st_size


def _tick_rows(home: Path, after_id: int = 0) -> tuple[int, dict[str, tuple[int, int]]]:
    """The newest tick row id, and per selector id (ticks, bytes of tick bodies) of the rows after `after_id`."""
    db_file = home / "schedules" / "schedules.db"
    ((newest,),) = _query(db_file, "SELECT COALESCE(MAX(id), 0) FROM job_ticks")
    rows = _query(db_file, "SELECT selector_id, COUNT(*), SUM(LENGTH(tick_body)) FROM job_ticks WHERE id > ? "
                  "GROUP BY selector_id", after_id)
    return newest, {selector: (count, size) for selector, count, size in rows}


def _wait(predicate: Callable[[], Any], timeout_s: float, what: str | Callable[[], str],
          daemon: subprocess.Popen | None = None, log: Path | None = None) -> Any:
    """Poll `predicate` (support/waiting.py); a dead daemon ends the wait at once, with its log's tail."""
    from well_pipeline_tests.support.waiting import wait_until

    def holds() -> Any:
        if daemon is not None and daemon.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise SystemExit(f"{daemon.args[0]} exited with {daemon.returncode} while waiting for {what}:\n{tail}")
        return predicate()

    return wait_until(holds, timeout_s, what)


# -- the measurements --------------------------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace, work: Path, qonto: Any, inbox: Any, dataset: Dataset,
                 instance: dg.DagsterInstance) -> None:
        self.args, self.work, self.qonto, self.inbox, self.dataset = args, work, qonto, inbox, dataset
        self.instance = instance
        self.home = Path(instance.root_directory)
        self.result: dict[str, Any] = {}
        self.failures: list[str] = []
        self.daemon: subprocess.Popen | None = None
        self.log = work / "dagster-daemon.log"

    # -- 1. Melio, then the 3-year backfill, in this process ------------------------------------------------------
    def backfill(self) -> None:
        from well_pipeline.defs.workspace.factory import build_workspace
        from well_pipeline.workspaces import load_workspaces

        (workspace,) = load_workspaces()  # the default workspace `main`, with the benchmark's settings
        ws = build_workspace(workspace)
        qonto_daily_partitions = ws.partitions
        if not dg.materialize(list(ws.melio_assets), instance=self.instance).success:
            raise SystemExit("the Melio exports did not load")
        first = qonto_daily_partitions.get_first_partition_key()
        last = qonto_daily_partitions.get_last_partition_key()
        before = _folder_bytes(self.home)
        started = time.perf_counter()
        result = dg.materialize([ws.pipeline], instance=self.instance, raise_on_error=False,
                                tags={"dagster/asset_partition_range_start": first,
                                      "dagster/asset_partition_range_end": last})
        seconds = time.perf_counter() - started
        if not result.success:
            raise SystemExit(f"the backfill run {result.run_id} failed: see {self.home}")
        sent = [m.qonto_id for m in self.inbox.messages() if m.qonto_id]
        if not sent:
            raise SystemExit("the backfill delivered nothing: no auto-linked invoice to copy for the changes")
        self.dataset.use_template(sent[0])
        self.result.update(
            range_run_storage_mb=round((_folder_bytes(self.home) - before) / MB, 2),
            range_run_seconds=round(seconds, 1),
            range_run_partitions=len(qonto_daily_partitions.get_partition_keys()),
            range_run_invoices=len(self.dataset.records),
            range_run_emails=len(sent),
            range_run_events=len(self.instance.all_logs(result.run_id)),
            # Where a range run's storage goes: Dagster plans each asset (one event per partition unless
            # DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS is set) and each check (one row per partition).
            range_run_planned_events=len(self.instance.get_records_for_run(
                result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, limit=100_000).records),
            range_run_planned_check_rows=_query(
                self.home / "history" / "runs" / "index.db",
                "SELECT COUNT(*) FROM asset_check_executions WHERE run_id = ? AND execution_status = 'PLANNED'",
                result.run_id)[0][0],
            planned_events_one_per_asset=bool(os.environ.get(SUBSET_ENV)),
        )

    # -- 2. the daemon settles ------------------------------------------------------------------------------------
    def settle(self, sensors: dict[str, Sensor]) -> None:
        """No run in flight, the Melio sensor's latest tick skipped, the sync sensor's last two ticks skipped after
        the last run ended."""
        sync = sensors[SYNC_SENSOR]

        def quiet() -> bool:
            runs = self.instance.get_runs(limit=50)
            if any(r.status not in _TERMINAL for r in runs):
                return False
            last_end = max((self.instance.get_run_record_by_id(r.run_id).end_time or 0 for r in runs), default=0)
            melio = sensors[MELIO_SENSOR].ticks(1)
            ticks = sync.ticks(2)
            return (bool(melio) and melio[0].status.value == SKIPPED and len(ticks) == 2
                    and all(t.status.value == SKIPPED and t.timestamp > last_end for t in ticks))

        _wait(quiet, 600, lambda: f"the daemon to settle; runs: {self._runs()}; sync ticks: "
              f"{[(t.status.value, t.skip_reason) for t in sync.ticks(3)]}", self.daemon, self.log)
        self._check_runs()
        self.result["settle_runs"] = len(self.instance.get_runs())

    # -- 3 and 4. quiet ticks and storage ---------------------------------------------------------------------------
    def quiet(self, sensors: dict[str, Sensor], daily_ticks: dict[str, float]) -> None:
        sync = sensors[SYNC_SENSOR]
        last = self._latest_finished(sync)
        runs_before = len(self.instance.get_runs())
        row_id, _ = _tick_rows(self.home, 0)
        size_before = _folder_bytes(self.home)
        requests: list[int] = []
        seconds: list[float] = []
        reasons: list[str] = []
        extra: list[dict[str, int]] = []
        counted = self.qonto.stats()
        previous = last.timestamp
        for n in range(self.args.quiet_ticks):
            ticks = _wait(lambda after=previous: sync.finished_after(after), 20 * self.args.interval_s + 120,
                          f"quiet sync tick {n + 1}", self.daemon, self.log)
            tick = ticks[0]
            now = self.qonto.stats()
            requests.append(now["requests"] - counted["requests"])
            if requests[-1] != 1:  # which paths: a token refresh, a retry...
                extra.append({path: count - counted["by_path"].get(path, 0) for path, count in now["by_path"].items()
                              if count != counted["by_path"].get(path, 0)})
            counted, previous = now, tick.timestamp
            seconds.append(tick.end_timestamp - tick.timestamp)
            reasons.append(tick.skip_reason or f"{tick.status.value}: {list(tick.run_ids)}")
            if tick.status.value != SKIPPED:
                self.failures.append(f"quiet tick {n + 1} was {tick.status.value}: {reasons[-1]}")
        growth = _folder_bytes(self.home) - size_before
        _, window = _tick_rows(self.home, row_id)
        _, every = _tick_rows(self.home)
        # File bytes per tick-body byte: the pages of the tick table and its indexes over the bodies they hold
        # (SQLite fills pages about half with rows of 1-4 KB). A window of a few minutes grows the file by whole
        # pages, too coarse to extrapolate from alone.
        factor = _tick_table_bytes(self.home) / sum(b for _, b in every.values())
        skipped = {selector: (count, size) for selector, count, size in _query(
            self.home / "schedules" / "schedules.db", "SELECT selector_id, COUNT(*), SUM(LENGTH(tick_body)) "
            "FROM job_ticks WHERE status = 'SKIPPED' GROUP BY selector_id")}
        per_day = {}
        for name, sensor in sensors.items():
            # A sensor that did not tick in a short window: its skipped ticks so far stand for its quiet ones.
            count, size = window.get(sensor.selector_id) or skipped.get(sensor.selector_id, (0, 0))
            per_day[name] = factor * daily_ticks[name] * size / count / MB if count else 0.0
        sync_count, sync_size = window[sync.selector_id]
        self.result.update(
            no_change_requests=max(requests),
            no_change_requests_per_tick=requests,
            no_change_other_paths=extra,
            no_change_runs_launched=len(self.instance.get_runs()) - runs_before,
            no_change_seconds=round(statistics.median(seconds), 3),
            no_change_ticks=len(requests),
            no_change_skip_reason=reasons[-1][:200],
            dagster_storage_mb_per_day=round(sum(per_day.values()), 2),
            sync_sensor_mb_per_day=round(per_day[SYNC_SENSOR], 3),
            storage_mb_per_day_by_sensor={k: round(v, 3) for k, v in per_day.items()},
            ticks_per_day=daily_ticks,
            sync_tick_bytes=round(factor * sync_size / sync_count),
            quiet_window_ticks={name: window.get(sensor.selector_id, (0, 0))[0] for name, sensor in sensors.items()},
            quiet_window_growth_kb=round(growth / 1024, 1),
        )

    # -- 5. ten changes -----------------------------------------------------------------------------------------
    def changes(self, sync: Sensor) -> None:
        last = self._latest_finished(sync)
        runs_before = {r.run_id for r in self.instance.get_runs()}
        counted = self.qonto.stats()
        ids = self.dataset.add(self.args.changes)
        tick = self._tick_with_run(sync, last.timestamp)
        run = self._run_ends(tick.run_ids[0])
        after = self.qonto.stats()
        delivered = self._delivered(ids, 120)
        record = self.instance.get_run_record_by_id(run.run_id)
        # The tick after the run: it must adopt the run's marker and launch nothing more.
        next_tick = _wait(lambda: sync.finished_after(record.end_time), 5 * self.args.interval_s + 120,
                          "the tick after the sync", self.daemon, self.log)[0]
        if next_tick.status.value != SKIPPED:
            self.failures.append(f"the tick after the ten-change sync was {next_tick.status.value}: "
                                 f"{list(next_tick.run_ids)}")
        self.result.update(
            sync_run_storage_kb=round((storage := _run_storage(self.instance, run.run_id))["total"] / 1024, 1),
            sync_run_storage_breakdown_kb={k: round(v / 1024, 1) for k, v in storage.items() if k != "total"},
            ten_changes_requests=after["requests"] - counted["requests"],
            ten_changes_api_requests=after["api_requests"] - counted["api_requests"],
            ten_changes_runs_launched=len({r.run_id for r in self.instance.get_runs()} - runs_before),
            ten_changes_seconds=round(record.end_time - tick.timestamp, 2),
            sync_run_seconds_few_changes=round(record.end_time - record.start_time, 2),
            ten_changes_delivered=len(delivered),
        )
        if len(delivered) != len(ids):
            self.failures.append(f"{len(ids) - len(delivered)} of the {len(ids)} changes were not e-mailed")

    # -- 6. one new invoice to the inbox ----------------------------------------------------------------------------
    def new_invoice(self, sync: Sensor) -> None:
        samples: list[float] = []
        run_sizes: list[float] = []
        for _ in range(self.args.samples):
            last = self._latest_finished(sync)
            added = datetime.now(UTC)
            (qonto_id,) = self.dataset.add(1)
            tick = self._tick_with_run(sync, last.timestamp)
            received = self._delivered([qonto_id], self.args.interval_s + 300)
            run = self._run_ends(tick.run_ids[0])  # before the next sample, or before the daemon stops
            run_sizes.append(_run_storage(self.instance, run.run_id)["total"] / 1024)
            if not received:
                self.failures.append(f"invoice {qonto_id} never reached the inbox")
                continue
            samples.append(round((received[qonto_id] - added).total_seconds(), 2))
        self._check_runs()
        self.result.update(new_invoice_to_inbox_seconds=max(samples) if samples else None,
                           new_invoice_to_inbox_samples=samples, interval_s=self.args.interval_s,
                           one_invoice_run_storage_kb=round(statistics.median(run_sizes), 1))

    # -- helpers --------------------------------------------------------------------------------------------------
    def _latest_finished(self, sensor: Sensor) -> Any:
        """The sensor's newest tick once it has ended (a tick in progress could see what is added next)."""
        return _wait(lambda: (ticks := sensor.ticks(1)) and ticks[0].end_timestamp is not None and ticks[0], 120,
                     f"{sensor.name}'s tick to end", self.daemon, self.log)

    def _tick_with_run(self, sync: Sensor, after: float) -> Any:
        def requested() -> Any:
            for tick in sync.finished_after(after):
                if tick.run_ids:
                    return tick
                if tick.status.value == FAILURE:
                    raise SystemExit(f"the sync sensor's tick failed: {tick.error}")
            return None

        return _wait(requested, 5 * self.args.interval_s + 120, "a tick that launches the sync", self.daemon,
                     self.log)

    def _run_ends(self, run_id: str) -> dg.DagsterRun:
        run = _wait(lambda: (r := self.instance.get_run_by_id(run_id)) and r.status in _TERMINAL and r, 600,
                    f"run {run_id} to end", self.daemon, self.log)
        if run.status != dg.DagsterRunStatus.SUCCESS:
            raise SystemExit(f"run {run_id} ({run.job_name}) ended {run.status.value}: {self._failure(run_id)}")
        return run

    def _delivered(self, ids: list[str], timeout_s: float) -> dict[str, datetime]:
        """qonto id → when the inbox received it, once every id arrived (or what arrived by the deadline)."""
        wanted = set(ids)

        def arrived() -> dict[str, datetime]:
            return {m.qonto_id: m.received_at for m in self.inbox.messages() if m.qonto_id in wanted}

        try:
            return _wait(lambda: (found := arrived()) and len(found) == len(wanted) and found, timeout_s,
                         f"{len(wanted)} e-mails", self.daemon, self.log)
        except AssertionError:
            return arrived()

    def _runs(self) -> list[tuple[str, str]]:
        return [(r.job_name, r.status.value) for r in self.instance.get_runs(limit=10)]

    def _check_runs(self) -> None:
        for run in self.instance.get_runs():
            if run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
                raise SystemExit(f"run {run.run_id} ({run.job_name}) ended {run.status.value}: "
                                 f"{self._failure(run.run_id)}")

    def _failure(self, run_id: str) -> str:
        errors = [e.message for e in self.instance.all_logs(run_id) if e.is_dagster_event and e.dagster_event
                  and e.dagster_event.is_failure]
        return " | ".join(errors)[-2000:] or "(no failure event)"


def _daily_ticks() -> dict[str, float]:
    """How often each sensor ticks a day at its default interval (Well's definitions as they ship)."""
    from well_pipeline.definitions import defs

    return {s.name: round(86400 / s.minimum_interval_seconds, 1) for s in defs().sensors or ()}


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    from well_pipeline.sandbox.generator import generate_dataset
    from well_pipeline.sandbox.melio import InboxConfig, MelioInbox
    from well_pipeline.sandbox.qonto import QontoSandbox, SandboxConfig
    from well_pipeline_tests.support.qonto_sandbox import free_port

    work = args.keep or Path(tempfile.mkdtemp(prefix="well-bench-tick-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        dataset_dir = work / "dataset"
        if not (dataset_dir / "manifest.json").exists():
            # History up to two hours ago: no generated record falls in a later sync's overlap window, so the
            # measured syncs carry only the changes the benchmark makes.
            generate_dataset(dataset_dir, invoices=args.invoices, vendors=args.vendors, years=args.years,
                             seed=args.seed, now=datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2))
        (work / "dagster").mkdir(exist_ok=True)
        shutil.copyfile(ROOT / "dagster.yaml", work / "dagster" / "dagster.yaml")
        config = SandboxConfig(port=0, exposure_years=0)
        with QontoSandbox(dataset_dir, config) as qonto, \
                MelioInbox(work / "inbox", InboxConfig(port=0, tls_port=0)) as inbox:
            env = _well_env(work, dataset_dir, qonto.base_url, config.client_id, inbox, free_port())
            if args.per_partition_planned_events:
                del env[SUBSET_ENV]
            for name in [n for n in os.environ if n.startswith("WELL_") or n == SUBSET_ENV]:
                del os.environ[name]
            os.environ.update(env)  # before Well's definitions are imported: they read the settings once
            _connect(env, config.client_secret, inbox.config.password)
            daily = _daily_ticks()
            env[INTERVAL_ENV] = str(args.interval_s)
            dataset = Dataset(dataset_dir)
            with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
                bench = Bench(args, work, qonto, inbox, dataset, instance)
                with contextlib.redirect_stdout(sys.stderr):  # the in-process runs' Dagster log: stdout is the line
                    bench.backfill()
                print(f"backfill done after {time.perf_counter() - started:.0f} s: {bench.result}", file=sys.stderr)
                with running_dagster(env, bench.log, managed=args.managed_code_server) as daemon:
                    bench.daemon = daemon
                    sensors = {name: Sensor(instance, name) for name in daily}
                    _wait(lambda: all(s.found() for s in sensors.values()), 180, "the daemon's first ticks",
                          daemon, bench.log)
                    bench.settle(sensors)
                    print(f"settled after {time.perf_counter() - started:.0f} s", file=sys.stderr)
                    bench.quiet(sensors, daily)
                    bench.changes(sensors[SYNC_SENSOR])
                    bench.new_invoice(sensors[SYNC_SENSOR])
                bench.result["code_server"] = "daemon-managed" if args.managed_code_server else "lasting"
                bench.result["benchmark_seconds"] = round(time.perf_counter() - started, 1)
                print(json.dumps(bench.result), flush=True)
                for failure in bench.failures:
                    print(f"FAILED: {failure}", file=sys.stderr)
                return 1 if bench.failures else 0
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
