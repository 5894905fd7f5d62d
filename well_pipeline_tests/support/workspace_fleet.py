"""Several companies served by one Well deployment: their Qonto organisations, Melio inbox addresses, workspace
files, secrets and connections, and what the deployment must have done for each (the deployment test and the
workspaces benchmark share it).

For each workspace id: a generated dataset served as its own Qonto organisation by one sandbox (credentials
derived from the name: `OrgConfig`), its own Melio inbox address on one inbox sandbox, a workspace file
(`<workspaces_dir>/<id>.toml`, format of well_pipeline/workspaces.py), its secrets as `WELL_SECRET_<WS>__<NAME>`
variables, and its Qonto consent obtained with `well --workspace <id> qonto connect --sandbox-approve`, as an
operator would. Well's store is PostgreSQL, one schema per workspace (its id), or without a DSN each workspace's
DuckDB file (the one-process isolation test).

What each workspace must end with is computed from its dataset alone, not from the deployment: the records its
organisation serves, and the ones Well's scoring auto-links (the production core run straight on the files,
support/scoring_eval.py): exactly those reach its address, each once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from well_pipeline.core.scoring.model import Decision
from well_pipeline.sandbox.generator import generate_dataset
from well_pipeline.sandbox.melio import InboxConfig, MelioInbox
from well_pipeline.sandbox.qonto import QontoSandbox
from well_pipeline.sandbox.qonto.config import OrgConfig, derived_credentials
from well_pipeline_tests.support.qonto_sandbox import free_port, running_sandbox
from well_pipeline_tests.support.scoring_eval import load_dataset, score_dataset

WORKSPACE_TAG = "well/workspace"  # on every run Well launches (defs/workspace/names.py)
INBOX_DOMAIN = "invoicesmelio.com"
WELL_CLI = Path(sys.executable).parent / "well"


@dataclass(frozen=True)
class FleetWorkspace:
    """One company: its id (= Qonto organisation name, Postgres schema), dataset and inbox address, and what the
    deployment must deliver for it."""

    id: str
    dataset: Path
    inbox_address: str
    record_ids: frozenset[str]
    auto_link_ids: frozenset[str]

    @property
    def secret_prefix(self) -> str:
        return f"WELL_SECRET_{self.id.upper()}__"


@dataclass
class Fleet:
    """The companies, the two sandboxes serving them, and the `WELL_*` environment of the deployment."""

    root: Path
    workspaces: tuple[FleetWorkspace, ...]
    qonto: QontoSandbox
    inbox: MelioInbox
    well_env: dict[str, str]

    @property
    def invoices_total(self) -> int:
        return sum(len(ws.record_ids) for ws in self.workspaces)

    def delivered(self, ws: FleetWorkspace) -> Counter[str]:
        """How many messages reached `ws`'s address, per Qonto id."""
        return Counter(message.qonto_id for message in self.inbox.messages(to=ws.inbox_address))

    def all_delivered(self) -> bool:
        """Every auto-link record of every workspace is in its inbox (the condition the deployment test waits on)."""
        return all(ws.auto_link_ids <= set(self.delivered(ws)) for ws in self.workspaces)

    def store_complete(self, postgres_dsn: str) -> bool:
        """Every record stored (or kept as rejected) and scored, and every record the store auto-linked in its
        inbox: the benchmark's end, which does not depend on the offline scoring agreeing to the last record."""
        for ws in self.workspaces:
            counts = store_counts(postgres_dsn, ws.id)
            if ws.record_ids - set(counts.invoices) - counts.rejected or set(counts.invoices) - set(counts.scored):
                return False
            if counts.auto_linked - set(self.delivered(ws)):
                return False
        return True

    def progress(self) -> str:
        return ", ".join(f"{ws.id}: {len(ws.auto_link_ids & set(self.delivered(ws)))}/{len(ws.auto_link_ids)}"
                         for ws in self.workspaces)


def generate_workspace_dataset(folder: Path, *, invoices: int, seed: int) -> tuple[frozenset[str], frozenset[str]]:
    """A dataset in `folder`; its record ids and the ids scoring auto-links.

    One month of invoices from a vendor per ~8 invoices: about half auto-link (over a year most wait for review,
    too old to send unseen), so every workspace has e-mails to send and the delivery is exercised."""
    generate_dataset(folder, invoices=invoices, vendors=max(5, invoices // 8), years=0.08, seed=seed,
                     now=datetime.now(UTC).replace(second=0, microsecond=0))
    records = [json.loads(line) for line in (folder / "qonto" / "invoices.jsonl").read_text().splitlines() if line]
    matches, _ = score_dataset(load_dataset(folder))
    auto = frozenset(m.qonto_id for m in matches if m.decision == Decision.AUTO_LINK)
    return frozenset(r["id"] for r in records), auto


def workspace_file(ws: FleetWorkspace) -> str:
    """The workspace's TOML file: its Qonto organisation (client id, login, OAuth callback), Melio inbox and export
    files."""
    client_id = derived_credentials(ws.id)["client_id"]
    return "\n".join([
        "[workspace]",
        f'id = "{ws.id}"',
        f'display_name = "{ws.id.title()} SAS"',
        "[settings]",
        'storage_region = "eu"',
        f'melio_inbox_address = "{ws.inbox_address}"',
        f'qonto_client_id = "{client_id}"',
        f'qonto_api_login = "{ws.id}"',
        # Each company's own OAuth callback (a port of its own: the workspaces connect at the same time).
        f'qonto_redirect_uri = "http://127.0.0.1:{free_port()}/callback"',
        f'melio_vendors_csv = "{ws.dataset / "melio" / "vendors.csv"}"',
        f'melio_bills_csv = "{ws.dataset / "melio" / "bills.csv"}"',
        "",
    ])


def _deployment_env(root: Path, qonto: QontoSandbox, inbox: MelioInbox, postgres_dsn: str | None,
                    workspaces: Sequence[FleetWorkspace]) -> dict[str, str]:
    """The deployment's settings (the same for every workspace) and each workspace's secrets, prefixed.
    Without `postgres_dsn`, the default store: one DuckDB file per workspace (in its data folder)."""
    env = {
        "WELL_SETTINGS_FILE": str(root / "well.toml"),
        "WELL_DATA_DIR": str(root / "data"),
        "WELL_WORKSPACES_DIR": str(root / "workspaces"),
        **({"WELL_STORAGE_BACKEND": "postgres", "WELL_POSTGRES_DSN": postgres_dsn} if postgres_dsn else {}),
        "WELL_QONTO_API_URL": qonto.base_url,
        "WELL_QONTO_OAUTH_URL": qonto.base_url,
        "WELL_QONTO_AUTH_MODE": "oauth",
        # As the demo: a quiet tick every 15 s (the lowest the setting allows) keeps the test short.
        "WELL_SYNC_INTERVAL_MINUTES": "0.25",
        "WELL_SMTP_HOST": "127.0.0.1",
        "WELL_SMTP_PORT": str(inbox.port),
        "WELL_SMTP_SECURITY": "starttls",
        "WELL_SMTP_USERNAME": InboxConfig().username,
        "WELL_SMTP_FROM_ADDRESS": "well@fleet.example",
        "WELL_SMTP_CA_FILE": str(inbox.cert_path),
    }
    for ws in workspaces:
        credentials = derived_credentials(ws.id)
        env[ws.secret_prefix + "QONTO_CLIENT_SECRET"] = credentials["client_secret"]
        env[ws.secret_prefix + "SMTP_PASSWORD"] = InboxConfig().password
    return env


def connect(fleet: Fleet, ws: FleetWorkspace) -> None:
    """`well --workspace <id> qonto connect --sandbox-approve`: the organisation's consent, stored in the
    workspace's encrypted secret store (its data folder)."""
    result = subprocess.run([str(WELL_CLI), "--workspace", ws.id, "qonto", "connect", "--sandbox-approve"],
                            env=fleet_cli_env(fleet), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"connect {ws.id}: {result.stdout}\n{result.stderr}"


def fleet_cli_env(fleet: Fleet) -> dict[str, str]:
    """The `well` CLI's environment: the deployment's settings and secrets, none of the test process's `WELL_*`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("WELL_")}, **fleet.well_env}


@contextmanager
def running_fleet(root: Path, ids: Sequence[str], *, invoices: int, postgres_dsn: str | None,
                  seed: int = 41) -> Iterator[Fleet]:
    """Datasets, workspace files, the Qonto sandbox (one organisation per id) and the inbox, every workspace
    connected; the sandboxes stop on exit. `postgres_dsn` None: each workspace's store is its DuckDB file."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "well.toml").write_text("", encoding="utf-8")
    workspaces = []
    for offset, ws_id in enumerate(ids):
        folder = root / "datasets" / ws_id
        record_ids, auto = generate_workspace_dataset(folder, invoices=invoices, seed=seed + offset)
        workspaces.append(FleetWorkspace(ws_id, folder, f"{ws_id}-ap@{INBOX_DOMAIN}", record_ids, auto))
    (root / "workspaces").mkdir()
    for ws in workspaces:
        (root / "workspaces" / f"{ws.id}.toml").write_text(workspace_file(ws), encoding="utf-8")
    default_org = root / "datasets" / "_default"  # the sandbox's own organisation, which no workspace uses
    generate_dataset(default_org, invoices=1, vendors=1, years=1.0, seed=seed - 1)
    with ExitStack() as stack:
        qonto = stack.enter_context(running_sandbox(
            default_org, organizations=tuple(OrgConfig(ws.id, ws.dataset) for ws in workspaces)))
        inbox = stack.enter_context(MelioInbox(root / "inbox", InboxConfig(port=0, tls_port=0)))
        fleet = Fleet(root, tuple(workspaces), qonto, inbox,
                      _deployment_env(root, qonto, inbox, postgres_dsn, workspaces))
        with ThreadPoolExecutor(max_workers=4) as pool:  # independent CLI processes: 20 in a row take a minute
            list(pool.map(lambda ws: connect(fleet, ws), workspaces))
        yield fleet


# -- what the deployment did -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSpan:
    """One finished run: its workspace, job and status; when it was created (queued), started and ended."""

    run_id: str
    workspace: str
    job: str
    status: str
    created: float
    start: float
    end: float


def runs_settled(instance: dg.DagsterInstance) -> bool:
    """No run queued or in progress."""
    return all(record.dagster_run.is_finished for record in instance.get_run_records())


def run_spans(instance: dg.DagsterInstance) -> list[RunSpan]:
    """Every finished run with its workspace tag and its times (from the run records in PostgreSQL)."""
    spans = []
    for record in instance.get_run_records():
        run = record.dagster_run
        created = record.create_timestamp.timestamp()
        # A run that failed before it started (its launch failed) has no start: it ran no time at all.
        start = record.start_time if record.start_time is not None else record.end_time or created
        assert record.end_time is not None or run.is_finished, (run.run_id, run.status)
        spans.append(RunSpan(run.run_id, run.tags.get(WORKSPACE_TAG, ""), run.job_name, run.status.value,
                             created, start, record.end_time or start))
    return sorted(spans, key=lambda span: span.start)


def overlapping(a: RunSpan, b: RunSpan) -> bool:
    return a.start < b.end and b.start < a.end


def max_overlap(spans: Sequence[RunSpan]) -> int:
    """The most runs in progress at one moment (a sweep over start and end events; an end before a start at the
    same instant)."""
    events = sorted([(s.start, 1) for s in spans] + [(s.end, -1) for s in spans], key=lambda e: (e[0], e[1]))
    running = best = 0
    for _, step in events:
        running += step
        best = max(best, running)
    return best


def same_workspace_overlaps(spans: Sequence[RunSpan]) -> list[tuple[RunSpan, RunSpan]]:
    return [(a, b) for i, a in enumerate(spans) for b in spans[i + 1:]
            if a.workspace == b.workspace and overlapping(a, b)]


def cross_workspace_overlaps(spans: Sequence[RunSpan]) -> list[tuple[RunSpan, RunSpan]]:
    return [(a, b) for i, a in enumerate(spans) for b in spans[i + 1:]
            if a.workspace != b.workspace and overlapping(a, b)]


@dataclass(frozen=True)
class StoreCounts:
    """One workspace's rows in its PostgreSQL schema."""

    invoices: Counter[str]      # qonto_supplier_invoices, per id
    rejected: frozenset[str]    # record ids stored as rejected (unreadable records, kept with the reason)
    scored: Counter[str]        # scored_matches, per id
    auto_linked: frozenset[str]
    sent: Counter[str]          # outbox rows in state 'sent', per id
    to_addresses: frozenset[str]


def store_counts(postgres_dsn: str, schema: str) -> StoreCounts:
    import psycopg  # the `postgres` extra

    with psycopg.connect(postgres_dsn) as connection:
        # A workspace's schema appears with its first run (its migrations make every table in one transaction).
        if connection.execute("SELECT to_regclass(%s)", [f'"{schema}".outbox']).fetchone()[0] is None:
            return StoreCounts(Counter(), frozenset(), Counter(), frozenset(), Counter(), frozenset())
        return counts_in(connection, schema)


def duckdb_store_counts(path: Path) -> StoreCounts:
    """The same counts from a workspace's DuckDB file (its tables are in schema `main`), opened read-only."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as connection:
        return counts_in(connection, "main")


def counts_in(connection: Any, schema: str) -> StoreCounts:
    """The counts through `connection` (psycopg or DuckDB: both `execute(sql).fetchall()`), tables in `schema`."""
    def ids(sql: str) -> list[str]:
        return [row[0] for row in connection.execute(sql.format(s=schema)).fetchall()]

    return StoreCounts(
        invoices=Counter(ids('SELECT id FROM "{s}".qonto_supplier_invoices')),
        rejected=frozenset(i for i in ids('SELECT record_id FROM "{s}".qonto_rejected_records') if i),
        scored=Counter(ids('SELECT qonto_id FROM "{s}".scored_matches')),
        auto_linked=frozenset(ids(f'SELECT qonto_id FROM "{{s}}".scored_matches '
                                  f"WHERE decision = '{Decision.AUTO_LINK.value}'")),
        sent=Counter(ids("""SELECT qonto_id FROM "{s}".outbox WHERE state = 'sent'""")),
        to_addresses=frozenset(ids('SELECT DISTINCT to_address FROM "{s}".outbox')),
    )
