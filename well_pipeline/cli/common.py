"""Pieces shared by the `well` commands that read or write Well's DuckDB file."""

from __future__ import annotations

import getpass
import os
import unicodedata
from typing import Any

import click

from well_pipeline.adapters.storage import DatabaseLockedError, DatabaseUnavailableError, Storage
from well_pipeline.adapters.storage.choice import open_storage as choose_storage
from well_pipeline.core.scoring.display import text
from well_pipeline.services.sync_cursor import sensor_name
from well_pipeline.settings import DEFAULT_SETTINGS_FILE, SETTINGS_FILE_ENV, Settings, SettingsError
from well_pipeline.workspaces import Workspace, load_workspaces, misplaced_data, select_workspace, verify_placement

DATABASE_BUSY = "Well's database is busy (a run is writing); retry in a moment"
WORKSPACE_ENV = "WELL_WORKSPACE"
WORKSPACE_META = "well.workspace"  # the `--workspace` given to `well`, kept in the click context


def chosen_workspace_id() -> str | None:
    """The workspace asked for: `well --workspace ID`, else `WELL_WORKSPACE`, else None (the only one)."""
    ctx = click.get_current_context(silent=True)
    chosen = ctx.meta.get(WORKSPACE_META) if ctx is not None else None
    return chosen or os.environ.get(WORKSPACE_ENV) or None


def current_workspace() -> Workspace:
    """The workspace this command works on; its `.settings` are the settings every `well` command reads.

    With one workspace it is that one; with several, `--workspace` (or `WELL_WORKSPACE`) must choose, else the
    error lists them (a `SettingsError`, one line through `WellGroup`).
    """
    return select_workspace(load_workspaces(), chosen_workspace_id())


def current_settings() -> Settings:
    """The current workspace's settings (deployment settings overlaid by its workspace file)."""
    return current_workspace().settings


def open_storage(*, read_only: bool = False) -> Storage:
    """The current workspace's storage, or a clear error when nothing was materialised yet.

    `read_only` for commands that only look (see `Database.read_only`). Opening the file waits up to
    `database_busy_wait_s` for a run that is writing (runs hold it only for short steps); past that, `WellGroup`
    turns the lock error into one line. Data sitting in another storage region is refused (`verify_placement`).
    """
    settings = current_settings()
    if settings.storage_backend == "duckdb" and not settings.duckdb_path.exists():
        verify_placement_if_data(settings)
        raise click.ClickException(no_database_message(settings))
    verify_placement(settings)  # data in another region: refused, never opened there
    return open_storage_for(settings, read_only=read_only)


def verify_placement_if_data(settings: Settings) -> None:
    """`verify_placement` where looking must create nothing: only when the data folder exists (the other region's
    copy is checked either way, as that is the likely reason nothing is here)."""
    if settings.data_path.exists():
        verify_placement(settings)
    else:
        elsewhere = misplaced_data(settings)
        if elsewhere is not None:
            verify_placement(settings)  # raises, naming both regions


def open_storage_for(settings: Settings, *, read_only: bool = False) -> Storage:
    """The storage `settings` describe (a workspace's), opened as every `well` command opens it."""
    return choose_storage(settings.storage_backend, duckdb_path=settings.duckdb_path,
                          attachments_url=settings.attachments_location, postgres_dsn=settings.postgres_dsn,
                          postgres_schema=settings.postgres_schema, read_only=read_only,
                          lock_timeout_s=settings.database_busy_wait_s,
                          s3_endpoint_url=settings.attachments_s3_endpoint_url,
                          s3_region=settings.attachments_s3_region)


def no_database_message(settings: Settings) -> str:
    """Where `well` looked, which setting moves it, and the usual cause (another data directory, e.g. the demo's)."""
    data_dir = settings.data_path.resolve()
    source = os.environ.get(SETTINGS_FILE_ENV) or DEFAULT_SETTINGS_FILE
    return (f"no Well database at {settings.duckdb_path} (data directory {data_dir}, setting data_dir: "
            f"WELL_DATA_DIR or data_dir in {source}). Point it at the directory that holds well.duckdb (the demo "
            "keeps its data in .well_demo/data: WELL_DATA_DIR=.well_demo/data), or run a first sync (the Dagster "
            f"UI, {sensor_name(settings.workspace_id)}) with these settings.")


def storage_if_any(*, read_only: bool = True) -> Storage | None:
    """The configured storage, or None when nothing was materialised yet (for commands that then say "no data")."""
    settings = current_settings()
    if settings.storage_backend == "duckdb" and not settings.duckdb_path.exists():
        verify_placement_if_data(settings)  # "no data" must not hide data sitting in another region
        return None  # (a PostgreSQL schema is created on first use: an empty one just reads empty)
    return open_storage(read_only=read_only)


class WellGroup(click.Group):
    """The `well` group: a DuckDB file another process keeps locked, or a bad setting, is one line, not a traceback.

    DuckDB lets one process write the file, and while it does, no other process may even read it. Delivery and
    the other runs hold it only for short steps, so `Database.connect` waits a little; if the file is still
    locked after that (a long write, a notebook holding it), every command says so the same way. A setting Well
    cannot use names itself and where its value came from, whichever command read the settings.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DatabaseLockedError:
            raise click.ClickException(DATABASE_BUSY) from None
        except DatabaseUnavailableError as exc:
            raise click.ClickException(str(exc)) from None
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None


def default_author() -> str:
    return os.environ.get("WELL_REVIEWER") or getpass.getuser()


author_option = click.option("--author", default=default_author, show_default="$WELL_REVIEWER or your user name",
                             help="Who decides (kept with the decision).")


# Characters a terminal may act on instead of showing: C0/C1 controls (CR, LF, ESC...), DEL, format characters
# (bidi overrides and isolates, zero-width marks), line/paragraph separators, lone surrogates.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def printable(value: object) -> str:
    """`value` as one line of inert text for a terminal: control and bidi characters escaped, empty as `""`.

    Supplier names, invoice numbers and reason texts come from OCR and e-mail; printed raw, `"\\x1b[2J"` clears
    the screen, `"\\r"` overwrites the line and U+202E reverses it, so a forged record could look harmless. Each
    such character is shown as its Python escape (`\\x1b`, `\\r`, `\\u202e`); a backslash is doubled so an escape
    in the output always means an escaped character. None, NaN and NaT print as nothing.
    """
    shown = text(value)
    if shown.isascii() and shown.isprintable() and "\\" not in shown:
        return shown  # the common case: plain ASCII, nothing to escape
    out = []
    for char in shown:
        if char in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[char])
        elif unicodedata.category(char) in _UNSAFE_CATEGORIES:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)
