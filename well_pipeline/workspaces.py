"""Workspaces: one company each (its Qonto account, Melio inbox, thresholds, backfill window, storage region).

A workspace is declared by one file, `<workspaces_dir>/<id>.toml`:

    [workspace]
    id = "acme"
    display_name = "Acme SAS"
    [settings]              # any setting but the deployment-wide ones (DEPLOYMENT_ONLY)
    storage_region = "eu"
    melio_inbox_address = "acme-ap@invoicesmelio.com"

Why files read by a definitions factory (not one Dagster component per workspace): the `well` CLI must read them
without Dagster, a company is added without editing code, and the same file feeds every process (code server,
run workers, CLI). See docs/workspaces.md.

A workspace's settings are the deployment's settings (defaults < well.toml < `WELL_*`) overlaid by its file, which
wins: a demo's `WELL_MELIO_INBOX_ADDRESS` must never redirect another company's mail. For the same reason a named
workspace never inherits `melio_inbox_address`: only its own file sets it. Its data lives in
`<region root>/<id>` and its PostgreSQL schema is its id. With no workspace file, there is exactly one workspace,
`main`, whose settings are today's settings unchanged; `main` keeps the deployment's `data_dir` and
`postgres_schema` also when it has a file (written by the first `well workspace add`), so its data never moves.

No Dagster here: the CLI imports this module, and the definitions factory builds one set of definitions per
`Workspace`.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from well_pipeline.adapters.secrets import SecretStore
from well_pipeline.adapters.secrets.store import KEY_ENV, SECRET_ENV_PREFIX
from well_pipeline.settings import (
    DEFAULT_SETTINGS_FILE,
    SETTINGS_FILE_ENV,
    Settings,
    SettingsError,
    load_settings,
)

__all__ = ["DEFAULT_WORKSPACE_ID", "DEFAULT_DISPLAY_NAME", "DEPLOYMENT_ONLY", "NOT_INHERITED", "Placement",
           "PlacementError",
           "Workspace", "WorkspaceError", "check_workspace_id", "holds_data", "load_workspaces", "misplaced_data",
           "parse_workspace", "region_root", "secret_store_for", "select_workspace", "verify_placement",
           "workspace_environ", "workspace_file_text", "workspace_ids", "workspaces_path"]

DEFAULT_WORKSPACE_ID = "main"
DEFAULT_DISPLAY_NAME = "My company"

# Settings of the deployment as a whole: one value for every workspace (where the store is, how runs are bounded,
# where the files are), or derived from the workspace id and region (data_dir, postgres_schema, workspace_id).
DEPLOYMENT_ONLY = frozenset({"workspaces_dir", "regions", "workspace_id", "data_dir", "postgres_schema",
                             "storage_backend", "postgres_dsn", "dead_run_check_seconds", "max_run_minutes",
                             "attachments_url", "attachments_s3_endpoint_url", "attachments_s3_region"})
# A company's own identity: a named workspace takes it from its file only, never from well.toml or `WELL_*`.
NOT_INHERITED = frozenset({"melio_inbox_address"})

_ID = re.compile(r"[a-z][a-z0-9_]{0,39}")


class WorkspaceError(SettingsError):
    """A workspace file, id or choice Well cannot use; the message names the file or lists the workspaces."""


def check_workspace_id(workspace_id: str) -> str:
    """The id rules: it is also a directory name, a PostgreSQL schema and a suffix of Dagster names."""
    if not _ID.fullmatch(workspace_id) or "__" in workspace_id:
        raise WorkspaceError(f"workspace id {workspace_id!r} must be 1-40 lower-case letters, digits or _, start "
                             "with a letter and not contain __")
    if workspace_id == "default":
        raise WorkspaceError("workspace id 'default' is reserved (it is Dagster's default group name)")
    return workspace_id


@dataclass(frozen=True)
class Workspace:
    """One company: its id, its display name, its fully resolved settings and the file declaring it."""

    id: str
    display_name: str
    settings: Settings
    source: Path | None  # None for the implicit default workspace

    @property
    def region(self) -> str:
        return self.settings.storage_region


def workspaces_path(settings: Settings) -> Path:
    """The workspaces folder: `workspaces_dir` as given when absolute, else beside the settings file."""
    given = Path(settings.workspaces_dir).expanduser()
    if given.is_absolute():
        return given
    settings_file = Path(os.environ.get(SETTINGS_FILE_ENV) or DEFAULT_SETTINGS_FILE)
    return settings_file.parent / given


def region_root(settings: Settings, region: str) -> Path:
    """Where region `region` keeps its workspaces: its `data_root`, else `<data_dir>/regions/<region>`."""
    configured = settings.region(region).data_root.strip()
    return Path(configured).expanduser() if configured else settings.data_path / "regions" / region


def workspace_ids(settings: Settings) -> tuple[str, ...]:
    """The ids of the declared workspaces (file names, unread), or `main` alone when there is none."""
    folder = workspaces_path(settings)
    found = sorted(path.stem for path in folder.glob("*.toml")) if folder.is_dir() else []
    return tuple(found) or (DEFAULT_WORKSPACE_ID,)


def load_workspaces(base: Settings | None = None) -> tuple[Workspace, ...]:
    """Every workspace, sorted by id; never empty (no file: the implicit `main` with `base` unchanged)."""
    base = base if base is not None else load_settings()
    folder = workspaces_path(base)
    files = sorted(folder.glob("*.toml")) if folder.is_dir() else []
    if not files:
        implicit = base if base.workspace_id == DEFAULT_WORKSPACE_ID else \
            base.replace(workspace_id=DEFAULT_WORKSPACE_ID)
        return (Workspace(DEFAULT_WORKSPACE_ID, DEFAULT_DISPLAY_NAME, implicit, None),)
    return tuple(sorted((_load_file(path, base) for path in files), key=lambda ws: ws.id))


def select_workspace(workspaces: Sequence[Workspace], workspace_id: str | None) -> Workspace:
    """The workspace `workspace_id`, or the only one when None; several and none chosen is an error listing them."""
    ids = ", ".join(ws.id for ws in workspaces)
    if workspace_id is None:
        if len(workspaces) == 1:
            return workspaces[0]
        raise WorkspaceError(f"there are {len(workspaces)} workspaces ({ids}): choose one with --workspace ID "
                             "(or WELL_WORKSPACE)")
    for ws in workspaces:
        if ws.id == workspace_id:
            return ws
    raise WorkspaceError(f"no workspace {workspace_id!r}; the workspaces are: {ids}")


def _load_file(path: Path, base: Settings) -> Workspace:
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        raise WorkspaceError(f"workspace file {path}: {exc}") from None
    return parse_workspace(path, text, base)


def parse_workspace(path: Path, text: str, base: Settings) -> Workspace:
    """The workspace the file `path` holding `text` declares, checked by every rule (also before a file exists:
    `well workspace add` checks what it would write)."""
    where = f"workspace file {path}"
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WorkspaceError(f"{where}: {exc}") from None
    unknown_tables = set(document) - {"workspace", "settings"}
    if unknown_tables:
        raise WorkspaceError(f"{where}: unknown table(s) {', '.join(sorted(unknown_tables))} (expected [workspace] "
                             "and [settings])")
    head, overrides = document.get("workspace"), document.get("settings", {})
    if not isinstance(head, dict) or not isinstance(overrides, dict):
        raise WorkspaceError(f"{where}: needs a [workspace] table (id, display_name) and an optional [settings] "
                             "table")
    unknown = set(head) - {"id", "display_name"}
    if unknown:
        raise WorkspaceError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} in [workspace] (expected id "
                             "and display_name)")
    workspace_id = head.get("id")
    if not isinstance(workspace_id, str):
        raise WorkspaceError(f"{where}: [workspace] id is missing")
    try:
        check_workspace_id(workspace_id)
    except WorkspaceError as exc:
        raise WorkspaceError(f"{where}: {exc}") from None
    if path.stem != workspace_id:
        raise WorkspaceError(f"{where}: its id is {workspace_id!r} but the file is named {path.name}; name it "
                             f"{workspace_id}.toml")
    display_name = head.get("display_name", workspace_id)
    if not isinstance(display_name, str) or not display_name.strip():
        raise WorkspaceError(f"{where}: [workspace] display_name must be non-empty text")
    known = list(Settings.model_fields)
    for key in overrides:
        if key in DEPLOYMENT_ONLY:
            raise WorkspaceError(f"{where}: setting {key!r} is deployment-wide (or derived from the workspace id "
                                 "and region) and cannot be set per workspace; set it in well.toml or "
                                 f"${'WELL_' + key.upper()} if it is a deployment setting")
        if key not in known:
            near = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise WorkspaceError(f"{where}: unknown setting {key!r} ({hint}`well settings` lists them)")
    return Workspace(workspace_id, display_name.strip(), _overlay(base, workspace_id, overrides, where), path)


def _overlay(base: Settings, workspace_id: str, overrides: Mapping[str, Any], where: str) -> Settings:
    """`base` with the file's settings on top, and the data placed by id and region (named workspaces)."""
    changes: dict[str, Any] = {**overrides, "workspace_id": workspace_id}
    if workspace_id != DEFAULT_WORKSPACE_ID:
        for key in NOT_INHERITED:
            changes.setdefault(key, Settings.model_fields[key].default)
        region = overrides.get("storage_region", base.storage_region)
        if region not in base.region_names:
            raise WorkspaceError(f"{where}: unknown storage_region {region!r}; the regions are "
                                 f"{', '.join(base.region_names)} (add others as [regions.NAME] in "
                                 "well.toml)")
        # Every region root resolved now: the workspace's own data_dir no longer says where the defaults are.
        changes["regions"] = {name: {"data_root": os.fspath(region_root(base, name)),
                                     "postgres_dsn": base.region(name).postgres_dsn,
                                     "attachments_url": base.region(name).attachments_url}
                              for name in base.region_names}
        changes["data_dir"] = os.fspath(region_root(base, region) / workspace_id)
        changes["postgres_schema"] = workspace_id
        changes["postgres_dsn"] = base.region(region).postgres_dsn or base.postgres_dsn
        # Documents too are the workspace's own and in its region: never one shared prefix of several companies.
        store = base.region(region).attachments_url or base.attachments_url
        changes["attachments_url"] = f"{store.rstrip('/')}/{workspace_id}" if store else ""
    try:
        return base.replace(**changes)
    except SettingsError as exc:
        raise WorkspaceError(str(exc.located({key: where for key in overrides}))) from None


def workspace_file_text(workspace_id: str, display_name: str, settings: Mapping[str, Any]) -> str:
    """A workspace file's text (what `well workspace add` writes); values are TOML strings, numbers or booleans."""
    def value(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, int | float):
            return repr(item)
        return _toml_string(str(item))

    lines = ["[workspace]", f"id = {_toml_string(workspace_id)}", f"display_name = {_toml_string(display_name)}",
             "", "[settings]"]
    lines += [f"{key} = {value(item)}" for key, item in settings.items()]
    return "\n".join(lines) + "\n"


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'"{escaped}"'


# ---- secrets from the environment, per workspace --------------------------------------------------------------

def workspace_environ(workspace_id: str, environ: Mapping[str, str], ids: Sequence[str]) -> dict[str, str]:
    """`environ` as workspace `workspace_id`'s secret store must see it.

    `WELL_SECRET_<WS>__<NAME>` becomes `WELL_SECRET_<NAME>` (and wins over a bare one); other workspaces'
    variables are dropped. A bare `WELL_SECRET_<NAME>` is kept only when `ids` holds exactly one workspace: with
    several it would reach every company's store, so it is refused. `WELL_SECRET_KEY` (the store's key, not a
    secret) may be shared; `WELL_SECRET_<WS>__KEY` overrides it for one workspace.
    """
    own = workspace_id.upper() + "__"
    mapped = {name: value for name, value in environ.items() if not name.startswith(SECRET_ENV_PREFIX)}
    bare: list[str] = []
    for name, value in environ.items():
        if not name.startswith(SECRET_ENV_PREFIX):
            continue
        rest = name[len(SECRET_ENV_PREFIX):]
        if rest.upper().startswith(own):
            mapped[SECRET_ENV_PREFIX + rest[len(own):]] = value
        elif "__" in rest:
            # Another workspace's (secret names hold no `__`), known here or not (removed, or this process reads
            # another workspaces folder): never this one's, and not a bare variable either.
            continue
        else:
            if name != KEY_ENV and value:
                bare.append(name)
            mapped.setdefault(name, value)
    if bare and len(ids) > 1:
        first = bare[0][len(SECRET_ENV_PREFIX):]
        raise WorkspaceError(
            f"{', '.join(sorted(bare))} is set but there are {len(ids)} workspaces ({', '.join(ids)}): a bare "
            f"WELL_SECRET_<NAME> would reach every one of them. Name it per workspace, e.g. "
            f"{SECRET_ENV_PREFIX}{workspace_id.upper()}__{first}")
    return mapped


def secret_store_for(settings: Settings, environ: Mapping[str, str] | None = None) -> SecretStore:
    """The secret store of the workspace `settings` belong to, seeing only that workspace's `WELL_SECRET_*`.

    The one way production code opens a secret store (the CLI, the Dagster resources), so a variable meant for
    one company never reaches another's store.
    """
    source = os.environ if environ is None else environ
    mapped = workspace_environ(settings.workspace_id, source, workspace_ids(settings))
    return SecretStore(settings.secrets_path, key_file=settings.secret_key_path, environ=mapped)


# ---- storage region: data placed where the workspace says, never moved silently -------------------------------

class PlacementError(WorkspaceError):
    """A workspace's existing data sits in another region than its `storage_region`: refused, never moved."""


def holds_data(folder: Path) -> bool:
    """Whether `folder` exists and holds anything (a workspace's data, attachments, secrets or stamps)."""
    try:
        return any(Path(folder).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return False


def _move_hint(workspace_id: str, configured: str, found: str) -> str:
    if workspace_id == DEFAULT_WORKSPACE_ID:
        # The default workspace keeps `data_dir` (it is not placed by region): there is nothing to move to.
        return (f"set storage_region back to {found!r}, or point data_dir at the data of region {configured!r}")
    return (f"run `well workspace move {workspace_id} --to {configured}` (copies, verifies, then deletes the old "
            f"copy), or set storage_region back to {found!r} in the workspace file")


@dataclass(frozen=True)
class Placement:
    """Where a workspace's data must be (`data_path`, in `region`) and where else it could sit (`elsewhere`:
    every other region -> this workspace's folder there): all `verify_placement` needs, in plain values, so the
    Dagster storage resource carries it as configuration and checks it in every process that opens the store."""

    workspace_id: str
    region: str
    data_path: Path
    elsewhere: Mapping[str, Path]

    @classmethod
    def of(cls, settings: Settings) -> Placement:
        # Only named workspaces are placed by region (`<region root>/<id>`); the default workspace keeps data_dir.
        elsewhere = {} if settings.workspace_id == DEFAULT_WORKSPACE_ID else {
            region: region_root(settings, region) / settings.workspace_id
            for region in settings.region_names if region != settings.storage_region}
        return cls(settings.workspace_id, settings.storage_region, settings.data_path, elsewhere)


def misplaced_data(settings: Settings | Placement) -> tuple[str, Path] | None:
    """(region, folder) of this workspace's data found in another region's root, or None."""
    placement = settings if isinstance(settings, Placement) else Placement.of(settings)
    here = placement.data_path.absolute()
    for region, folder in placement.elsewhere.items():
        if folder.absolute() != here and holds_data(folder):
            return region, folder
    return None


def verify_placement(settings: Settings | Placement, *, stamp: bool = True) -> None:
    """Refuse to use a workspace whose existing data sits in another region; else stamp its region on first use.

    Call it wherever the workspace's store is opened (the CLI, the Dagster storage resource). Raises
    `PlacementError` (a `SettingsError`) naming both regions, the folder and the move command. The stamp
    (`<data_dir>/region.json`, create-only) is what catches a changed `storage_region` on data that stayed put.
    `stamp=False` (a read-only look) creates nothing: only the checks.
    """
    from well_pipeline.adapters import workspace_state  # the stamp file's one reader and writer

    placement = settings if isinstance(settings, Placement) else Placement.of(settings)
    workspace_id, configured = placement.workspace_id, placement.region
    elsewhere = misplaced_data(placement)
    if elsewhere is not None:
        region, folder = elsewhere
        raise PlacementError(
            f"workspace {workspace_id} is configured for storage region {configured!r} but its existing data is in "
            f"region {region!r} at {folder}. Well does not move data silently: "
            f"{_move_hint(workspace_id, configured, region)}.")
    stamped = workspace_state.read_region(placement.data_path)
    if stamped is None:
        if not stamp:
            return
        stamped = workspace_state.stamp_region(placement.data_path, configured, workspace_id)
    if stamped != configured:
        raise PlacementError(
            f"workspace {workspace_id} is configured for storage region {configured!r} but its existing data at "
            f"{placement.data_path} was placed in region {stamped!r} "
            f"({workspace_state.region_file(placement.data_path)}). Well does not move data silently: "
            f"{_move_hint(workspace_id, configured, stamped)}.")
