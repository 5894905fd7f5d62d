"""`well workspace add | list | show | remove | move`: the companies this deployment serves (docs/workspaces.md).

A workspace is one file, `<workspaces_dir>/<id>.toml` (well_pipeline/workspaces.py reads them). These commands
write and delete only those files, except `move`, which copies a workspace's data to another storage region,
verifies the copy and then deletes the old one. The Dagster code location picks a change up on its next reload.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click

from well_pipeline.adapters import workspace_state
from well_pipeline.adapters.filesystem import create_private, private_dir, write_private
from well_pipeline.adapters.workspace_copy import CopyError, copy_verified
from well_pipeline.cli.common import WellGroup, open_storage_for, printable
from well_pipeline.services.workspace_admin import unsettled
from well_pipeline.settings import Settings, load_settings
from well_pipeline.workspaces import (
    DEFAULT_DISPLAY_NAME,
    DEFAULT_WORKSPACE_ID,
    Workspace,
    WorkspaceError,
    check_workspace_id,
    holds_data,
    load_workspaces,
    misplaced_data,
    parse_workspace,
    region_root,
    select_workspace,
    workspace_file_text,
    workspaces_path,
)

_PASSWORD_KEY = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


def masked_dsn(dsn: str) -> str:
    """A DSN as it may be printed: any password replaced by `***` (settings refuse one, but a DSN is still masked)."""
    return _URL_PASSWORD.sub(r"\1***@", _PASSWORD_KEY.sub(r"\1***", dsn))


def data_location(settings: Settings) -> str:
    """Where the workspace's records are: its data folder, and the PostgreSQL DSN and schema when that is the store."""
    folder = str(settings.data_path.absolute())
    if settings.storage_backend == "postgres":
        return f"{folder} (tables: PostgreSQL {masked_dsn(settings.postgres_dsn)} schema={settings.postgres_schema})"
    return folder


def _toml_value(text: str) -> Any:
    """`--set key=value`: a TOML number or boolean when the value reads as one, else the text."""
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    return value if isinstance(value, bool | int | float) else text


@click.group(cls=WellGroup)
def workspace() -> None:
    """Workspaces: one per company (its Qonto account, Melio inbox, thresholds, storage region)."""


@workspace.command("add")
@click.argument("workspace_id", metavar="ID")
@click.option("--name", "display_name", required=True, help="Display name of the company.")
@click.option("--region", help="Storage region (eu, us, or one configured under [regions.NAME]); default: "
                               "the storage_region setting.")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
              help="A setting of this workspace (repeatable), e.g. --set melio_inbox_address=ap@invoicesmelio.com.")
def add(workspace_id: str, display_name: str, region: str | None, assignments: tuple[str, ...]) -> None:
    """Declare workspace ID: writes <workspaces_dir>/ID.toml (never over an existing one)."""
    check_workspace_id(workspace_id)
    base = load_settings()
    folder = workspaces_path(base)
    path = folder / f"{workspace_id}.toml"
    if path.exists():
        raise click.ClickException(f"workspace {workspace_id} exists already ({path}); edit that file to change it")
    values: dict[str, Any] = {"storage_region": region or base.storage_region}
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key.strip():
            raise click.ClickException(f"--set {assignment!r}: expected KEY=VALUE")
        values[key.strip()] = _toml_value(value.strip())
    text = workspace_file_text(workspace_id, display_name, values)
    added = parse_workspace(path, text, base)  # every rule of a loaded file, before anything is written
    elsewhere = misplaced_data(added.settings)
    if elsewhere is not None:
        raise click.ClickException(
            f"data of a workspace {workspace_id} already exists in region {elsewhere[0]!r} at {elsewhere[1]}: add it "
            f"with --region {elsewhere[0]} (and move it later with `well workspace move {workspace_id} --to "
            f"{added.region}`)")
    existing = sorted(folder.glob("*.toml")) if folder.is_dir() else []
    private_dir(folder)
    if not existing and workspace_id != DEFAULT_WORKSPACE_ID:
        # Only the implicit default existed: it gets a file, or it would vanish once another file exists.
        main_text = workspace_file_text(DEFAULT_WORKSPACE_ID, DEFAULT_DISPLAY_NAME,
                                        {"storage_region": base.storage_region})
        if create_private(folder / f"{DEFAULT_WORKSPACE_ID}.toml", main_text.encode()):
            click.echo(f"wrote {folder / (DEFAULT_WORKSPACE_ID + '.toml')}: the default workspace keeps its data "
                       f"({data_location(base)})")
    if not create_private(path, text.encode()):
        raise click.ClickException(f"workspace {workspace_id} exists already ({path}); edit that file to change it")
    click.echo(f"added workspace {workspace_id} ({printable(display_name)}): {path}")
    click.echo(f"region {added.region}; data in {data_location(added.settings)}")
    click.echo("Reload the Dagster code location to see its assets and sensors; choose it in the CLI with "
               f"`well --workspace {workspace_id} ...`.")


def _describe(ws: Workspace) -> list[tuple[str, str]]:
    settings = ws.settings
    return [("id", ws.id), ("name", printable(ws.display_name)), ("region", settings.storage_region),
            ("data", data_location(settings)),
            ("inbox", printable(settings.melio_inbox_address) or "(not set: delivery is off)")]


@workspace.command("list")
def list_workspaces() -> None:
    """Every workspace: id, name, region, data location and Melio inbox address."""
    for ws in load_workspaces():
        click.echo("  ".join(f"{key}={value}" for key, value in _describe(ws)))


@workspace.command("show")
@click.argument("workspace_id", metavar="ID")
def show(workspace_id: str) -> None:
    """One workspace in detail (its settings file, data, secrets, attachments)."""
    ws = select_workspace(load_workspaces(), workspace_id)
    settings = ws.settings
    rows = _describe(ws) + [
        ("file", str(ws.source) if ws.source else "(none: the implicit default workspace, today's settings)"),
        ("storage", settings.storage_backend), ("attachments", settings.attachments_location),
        ("secrets", str(settings.secrets_path)),
        ("history_start", str(settings.history_start) if settings.history_start else "(fixed by the first connect)"),
        ("qonto", f"{settings.qonto_api_url} auth={settings.qonto_auth_mode} "
                  f"client_id={settings.qonto_client_id or '-'} api_login={settings.qonto_api_login or '-'}"),
        ("thresholds", f"auto_link={settings.auto_link_threshold} review={settings.review_threshold} "
                       f"max_auto_link_amount={settings.max_auto_link_amount or '-'}"),
    ]
    for key, value in rows:
        click.echo(f"{key:14}{value}")


@workspace.command("remove")
@click.argument("workspace_id", metavar="ID")
@click.option("--force", is_flag=True, help="Remove it even while records await delivery or review.")
def remove(workspace_id: str, force: bool) -> None:
    """Delete workspace ID's file (its data stays where it is); refused while records are unsettled."""
    ws = select_workspace(load_workspaces(), workspace_id)
    if ws.source is None:
        raise click.ClickException(f"workspace {workspace_id} is the implicit default (it has no file): there is "
                                   "nothing to remove")
    settings = ws.settings
    if not (settings.storage_backend == "duckdb" and not settings.duckdb_path.exists()):
        waiting = unsettled(open_storage_for(settings, read_only=True))
        if waiting.total and not force:
            raise click.ClickException(
                f"workspace {workspace_id} has unsettled records ({waiting.describe()}): settle them first (`well "
                f"-w {workspace_id} review list`, `well -w {workspace_id} delivery status`), or remove it anyway "
                "with --force")
        if waiting.total:
            click.echo(f"warning: removed with unsettled records ({waiting.describe()})")
    ws.source.unlink()
    click.echo(f"removed workspace {workspace_id} ({ws.source}). Its data stays in {data_location(settings)}; "
               "delete that yourself once you no longer need it. Runs of it already queued fail (job not found) "
               "after the code location reloads.")


@workspace.command("move")
@click.argument("workspace_id", metavar="ID")
@click.option("--to", "to_region", required=True, metavar="REGION", help="The storage region to move it to.")
def move(workspace_id: str, to_region: str) -> None:
    """Move workspace ID's data to region REGION: copy, verify, switch, then delete the old copy.

    Files are verified by SHA-256 (a DuckDB file also by row counts); with PostgreSQL on another DSN, the schema is
    copied there and verified by row counts and digests per table, and the old schema dropped last. Refused while
    a run or command holds the workspace's DuckDB file or PostgreSQL tables: stop its sensors first.
    """
    base = load_settings()
    ws = select_workspace(load_workspaces(base), workspace_id)
    if ws.id == DEFAULT_WORKSPACE_ID or ws.source is None:
        raise click.ClickException(f"workspace {ws.id} is the default workspace: its data stays in data_dir "
                                   f"({ws.settings.data_path}), which is not placed by region; move that folder and "
                                   "set data_dir instead")
    if to_region not in base.region_names:
        raise click.ClickException(f"unknown region {to_region!r}; the regions are {', '.join(base.region_names)}")
    settings = ws.settings
    found = None if holds_data(settings.data_path) else misplaced_data(settings)
    from_region, source = found if found is not None else (settings.storage_region, settings.data_path)
    target = region_root(settings, to_region) / ws.id
    if from_region == to_region or source.absolute() == target.absolute():
        raise click.ClickException(f"workspace {ws.id}'s data is in region {to_region} already ({source})")
    duckdb_file = None
    if settings.storage_backend == "duckdb":
        duckdb_file = source / settings.duckdb_path.relative_to(settings.data_path) \
            if settings.duckdb_path.is_relative_to(settings.data_path) else None
    schema_move = _schema_move(base, settings, ws.id, from_region, to_region)
    left_over: str | None = None
    with schema_move if schema_move is not None else nullcontext() as tables:
        try:
            schema_report = tables.copy_and_verify() if tables is not None else None
            report = copy_verified(source, target, duckdb_file=duckdb_file,
                                   lock_timeout_s=settings.database_busy_wait_s)
            try:
                if tables is not None:
                    tables.commit_target()
                workspace_state.restamp_region(target, to_region, ws.id)
                _set_region(ws.source, to_region)
            except BaseException:
                shutil.rmtree(target, ignore_errors=True)  # never switched to: the copy goes, the source stays
                raise
        except CopyError as exc:
            raise click.ClickException(f"move of workspace {ws.id} refused: {exc}") from None
        except Exception as exc:
            if tables is None or not isinstance(exc, tables.refusal):
                raise
            raise click.ClickException(f"move of workspace {ws.id} refused: {exc}") from None
        if tables is not None:
            tables.switched()
            left_over = tables.drop_source()
    shutil.rmtree(source)
    counts = ", ".join(f"{name} {count}" for name, count in report.tables.items()) or "no DuckDB file"
    click.echo(f"moved workspace {ws.id} from region {from_region} ({source}) to {to_region} ({target}): "
               f"{report.files} files, {report.bytes} bytes verified by SHA-256; rows per table: {counts}. "
               f"{ws.source} now says storage_region = {to_region!r}; the old copy is deleted.")
    if schema_report is not None:
        click.echo(_schema_summary(schema_report, dropped=left_over is None))
        if left_over:
            click.echo(f"warning: {left_over}")


def _schema_move(base: Settings, settings: Settings, workspace_id: str, from_region: str,
                 to_region: str) -> Any | None:
    """The PostgreSQL schema move to run with the files (`postgres/schema_move.py`), None when the tables stay:
    DuckDB (its file is one of the files), or both regions on one DSN (the schema does not move)."""
    if settings.storage_backend != "postgres":
        return None
    source_dsn = base.region(from_region).postgres_dsn or base.postgres_dsn
    target_dsn = base.region(to_region).postgres_dsn or base.postgres_dsn
    if source_dsn == target_dsn:
        return None
    from well_pipeline.adapters.storage.postgres.schema_move import SchemaMove  # psycopg: the `postgres` extra

    return SchemaMove(source_dsn, target_dsn, settings.postgres_schema, lock_timeout_s=settings.database_busy_wait_s)


def _schema_summary(report: Any, *, dropped: bool) -> str:
    """What the schema move did, DSNs redacted (`SchemaMoveReport`)."""
    if report.same_database:
        return (f"PostgreSQL: {report.source} and {report.target} reach the same database: schema {report.schema} "
                "stays where it is")
    if not report.copied:
        return (f"PostgreSQL: there was no schema {report.schema} at {report.source} (never used): nothing to copy; "
                f"it is created at {report.target}")
    rows = ", ".join(f"{name} {count}" for name, count in report.tables.items())
    return (f"PostgreSQL schema {report.schema} copied from {report.source} to {report.target} and verified (row "
            f"counts and MD5 digests per table, sequences): {rows}; the old schema is "
            f"{'dropped' if dropped else 'NOT dropped'}.")


def _set_region(path: Path, region: str) -> None:
    """Rewrite the workspace file's `storage_region` (atomically), keeping every other line as written."""
    lines = path.read_text(encoding="utf-8").splitlines()
    in_settings, done = False, False
    out: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            if in_settings and not done:
                out.append(f'storage_region = "{region}"')
                done = True
            in_settings = stripped == "[settings]"
        elif in_settings and re.match(r"storage_region\s*=", stripped):
            line, done = f'storage_region = "{region}"', True
        out.append(line)
    if not done:
        if not any(line.strip() == "[settings]" for line in lines):
            out.append("[settings]")
        out.append(f'storage_region = "{region}"')
    write_private(path, ("\n".join(out) + "\n").encode())
    parsed = tomllib.loads(path.read_text(encoding="utf-8"))
    if parsed.get("settings", {}).get("storage_region") != region:  # pragma: no cover (a file edited oddly)
        raise WorkspaceError(f"could not set storage_region in {path}: set storage_region = {region!r} by hand")

