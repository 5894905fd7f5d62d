"""`well qonto`: connect (OAuth approval in Qonto), disconnect (revoke), status, and rewind the sync marker.

The use cases live in services/qonto_connection.py (connect, disconnect, status) and services/sync_marker.py
(the rewind rules); these commands read the settings, call them and print the result. The rewind moves the sync
sensor's cursor through Dagster's own CLI (cli/sensor_cursor.py).
"""

from __future__ import annotations

import webbrowser
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click
import httpx

from well_pipeline.adapters.qonto import QontoError
from well_pipeline.adapters.secrets import QONTO_STAGING_TOKEN, Secret
from well_pipeline.adapters.storage import DatabaseLockedError
from well_pipeline.adapters.workspace_state import WorkspaceStateError, workspace_file
from well_pipeline.cli import sensor_cursor
from well_pipeline.cli.common import current_settings, open_storage, printable, storage_if_any
from well_pipeline.cli.secrets import SecretErrorsGroup, open_store
from well_pipeline.cli.sensor_cursor import SensorCursorError
from well_pipeline.services import qonto_connection, sync_marker
from well_pipeline.services.history_window import resolve_history_start
from well_pipeline.services.qonto_connection import QontoConnectionError
from well_pipeline.services.sync_cursor import rewind_cursor, sensor_name
from well_pipeline.services.sync_marker import MarkerRewindError
from well_pipeline.workspaces import verify_placement


class QontoGroup(SecretErrorsGroup):
    """`well qonto`: besides secret-store problems, what Qonto or the connection flow refused is one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (QontoConnectionError, MarkerRewindError, SensorCursorError, WorkspaceStateError) as exc:
            raise click.ClickException(str(exc)) from None
        except QontoError as exc:  # redacted by construction; may quote Qonto's own text, so shown inert
            raise click.ClickException(printable(str(exc))) from None


def _approve_in_sandbox(url: str, staging: Secret | None) -> None:
    """What the user's browser does, for the local Qonto sandbox: visit the URL, follow the redirect home."""
    headers = {"X-Qonto-Staging-Token": staging.reveal()} if staging else {}
    answer = httpx.get(url, headers=headers, follow_redirects=False, timeout=30)
    if answer.status_code != 302:
        raise click.ClickException(f"the sandbox did not approve (HTTP {answer.status_code})")
    httpx.get(answer.headers["location"], timeout=30)


@click.group(cls=QontoGroup)
def qonto() -> None:
    """Connection to the Qonto Business API."""


@qonto.command()
@click.option("--no-browser", is_flag=True, help="Only print the authorize URL.")
@click.option("--sandbox-approve", is_flag=True,
              help="Approve automatically by visiting the URL here (the local Qonto sandbox only).")
@click.option("--timeout", default=600, show_default=True, help="Seconds to wait for the approval (code lives 10 min).")
def connect(no_browser: bool, sandbox_approve: bool, timeout: int) -> None:
    """Approve Well in Qonto (OAuth 2.0) and store the refresh token, encrypted (API-key mode: check the key).

    The first connect also fixes the first day of the backfill window (the first daily partition); a reconnect
    keeps it, and only the history_start setting changes it.
    """
    settings = current_settings()
    verify_placement(settings)  # the first connect writes into the workspace's data folder
    store = open_store(settings)

    def show(url: str) -> None:
        click.echo("Open this URL and approve Well in Qonto:\n  " + url)
        if sandbox_approve:
            _approve_in_sandbox(url, store.get(QONTO_STAGING_TOKEN))
        elif not no_browser:
            webbrowser.open(url)

    outcome = qonto_connection.connect(settings.connection(), store, show_url=show, timeout_s=timeout,
                                       state_file=workspace_file(settings.data_path))
    if settings.qonto_auth_mode == "api_key":
        click.echo("Connected to Qonto: the API key works.")
    else:
        click.echo(f"Connected to Qonto. Granted scopes: {printable(' '.join(outcome.scopes))}")
    fixed = "fixed now" if outcome.history_start_stored else "kept from the first connect"
    click.echo(f"Backfill window starts {outcome.history_start.day} ({fixed}).")
    if settings.history_start is not None:
        click.echo(f"The history_start setting ({settings.history_start}) overrides it while it is set.")


@qonto.command()
def disconnect() -> None:
    """Revoke Well's access at Qonto and forget the token (stored records and the sync marker are kept)."""
    settings = current_settings()
    outcome = qonto_connection.disconnect(settings.connection(), open_store(settings))
    if not outcome.was_connected:
        click.echo("Qonto is not connected; nothing to revoke")
        return
    if outcome.note:
        click.echo(f"note: {outcome.note}")
    click.echo("Disconnected from Qonto. Stored invoices, the review queue and the sync marker are kept.")


@qonto.command()
def status() -> None:
    """Connection state and the last successful sync (reads only: creates no key, no file)."""
    settings = current_settings()
    storage = storage_if_any(read_only=True)
    state = qonto_connection.connection_status(settings.connection(), open_store(settings),
                                               storage.invoices if storage else None)
    click.echo(f"api: {state.api_url}  auth: {state.auth_mode}")
    connected = {True: "yes", False: "no", None: "unknown (secret store problem, below)"}[state.connected]
    click.echo(f"connected: {connected}")
    click.echo(f"secret store: {f'{len(state.problems)} problem(s), below' if state.problems else 'ok'}")
    problems = list(state.problems)
    try:
        start = resolve_history_start(settings.history_start, workspace_file(settings.data_path),
                                      today=datetime.now(UTC).date())
        click.echo(f"backfill window starts: {start.describe()}")
    except WorkspaceStateError as exc:
        click.echo("backfill window starts: unknown (workspace file problem, below)")
        problems.append(str(exc))
    if state.invoices_stored is None:
        click.echo("no data yet")
    else:
        click.echo(f"last successful sync: {state.last_sync.isoformat() if state.last_sync else 'never'}")
        click.echo(f"invoices stored: {state.invoices_stored}")
    if problems:
        raise click.ClickException("\n\n".join(problems))


def _moment(value: str) -> datetime:
    """ISO 8601 as given (an offset or Z is required: the service refuses a naive time), or a date: 00:00 UTC."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (2026-03-01) or a time (2026-03-01T08:00:00Z)",
                                 param_hint="SINCE") from None


@qonto.command()
@click.argument("since")
@click.option("--print-only", is_flag=True, help="Change nothing: check SINCE and print the command that moves the "
              "sensor's marker.")
def rewind(since: str, print_only: bool) -> None:
    """Move the sync marker back to SINCE, so the next sync re-reads what Qonto changed since then.

    SINCE is a date (2026-03-01, midnight UTC) or a time with Z or an offset (2026-03-01T08:00:00+01:00). Only
    backwards and after a first successful sync; re-reading is safe (records are keyed on their Qonto id, and an
    e-mail already sent is never sent again).

    The live marker is the workspace's sync sensor's cursor in the Dagster instance: with DAGSTER_HOME set, this
    runs `dagster sensor cursor qonto_sync_sensor__<workspace> --set '{"marker": ...}'` against it, then moves
    DuckDB's copy (what `well qonto status` shows). Without DAGSTER_HOME, or with --print-only, it changes nothing
    and prints that command. The sensor's next tick asks Qonto for everything updated since SINCE minus
    sync_overlap_minutes.
    """
    moment = _moment(since)
    workspace_id = current_settings().workspace_id
    storage = open_storage()
    before = sync_marker.last_sync(storage.invoices)
    to = sync_marker.check_rewind(before, moment, now=datetime.now(UTC))
    assert before is not None  # check_rewind refuses a rewind before the first sync
    cursor = rewind_cursor(to)
    home = sensor_cursor.dagster_home()
    if print_only or home is None:
        why = "--print-only" if print_only else "DAGSTER_HOME is not set, so the Dagster instance is unknown"
        click.echo(f"Nothing changed ({why}). To move the sync marker back from {before.isoformat()} to "
                   f"{to.isoformat()}, run from the project directory:\n  "
                   f"{sensor_cursor.shell_command(cursor, home, workspace_id)}"
                   "\n(or paste the cursor with Edit cursor on the sensor's page). DuckDB's copy follows after the "
                   "next successful sync.")
        if not print_only:
            raise click.exceptions.Exit(1)
        return
    locations = sensor_cursor.set_cursor(cursor, home, cwd=Path.cwd(), workspace=workspace_id)
    try:
        sync_marker.rewind(storage.invoices, to, now=datetime.now(UTC))
        copy = "and DuckDB's copy"
    except DatabaseLockedError:  # a run is writing: it sets DuckDB's copy itself when it succeeds
        copy = "(DuckDB's copy, shown by `well qonto status`, is busy: the next successful sync writes it)"
    click.echo(f"Sync marker moved back from {before.isoformat()} to {to.isoformat()}: "
               f"{sensor_name(workspace_id)}'s cursor in "
               f"{home} (code location {', '.join(locations)}) {copy}. The sensor's next tick re-reads what Qonto "
               "updated since then (minus sync_overlap_minutes).")
