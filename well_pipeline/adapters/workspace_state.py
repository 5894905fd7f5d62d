"""Facts about the workspace that the Dagster code location needs before any database: `<data_dir>/workspace.json`.

It holds the first day of the backfill window (the first daily partition), fixed when the workspace first
connects to Qonto, and when that was.

Why a small file of its own, not a DuckDB table: the code location reads it while it loads (to build the
partition set), in the webserver, the daemon, every code server and every run worker. DuckDB allows one
writing process and a run may hold the file for minutes; loading the definitions must never wait for it, take
its lock, or fail because it is busy. A JSON file is read without any lock and written atomically.

Why create-only: the start is fixed once. `pin` writes the file only when it is absent (an atomic create-only
link, so two `connect`s racing cannot both win) and otherwise returns what is stored: a reconnect never moves it. The
file is private like everything under `data_dir` (0600, `adapters/filesystem.py`), though it holds no secret.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from well_pipeline.adapters.filesystem import create_private, tighten, write_private

__all__ = ["FILE_NAME", "REGION_FILE", "WorkspaceState", "WorkspaceStateError", "pin", "read", "read_region",
           "region_file", "restamp_region", "stamp_region", "workspace_file"]

FILE_NAME = "workspace.json"
FORMAT = 1


class WorkspaceStateError(RuntimeError):
    """The workspace file exists but cannot be read; the message names the file and how to recover."""


@dataclass(frozen=True)
class WorkspaceState:
    """`history_start`: the first day of the backfill window; `first_connected_at`: when it was fixed (UTC)."""

    history_start: date
    first_connected_at: datetime

    def to_json(self) -> bytes:
        return json.dumps({"format": FORMAT, "history_start": self.history_start.isoformat(),
                           "first_connected_at": self.first_connected_at.astimezone(UTC).isoformat()},
                          indent=2).encode() + b"\n"


def workspace_file(data_dir: Path) -> Path:
    """Where the workspace file of the data directory `data_dir` is."""
    return Path(data_dir) / FILE_NAME


def _damaged(path: Path, problem: str) -> WorkspaceStateError:
    return WorkspaceStateError(
        f"workspace file {path} cannot be read ({problem}). It holds the first day of the backfill window, fixed "
        "by the first `well qonto connect`. Restore it from a backup, or set history_start (well.toml or "
        "WELL_HISTORY_START) to the first day you want and delete the file; the next `well qonto connect` then "
        "stores a new one.")


def read(path: Path) -> WorkspaceState | None:
    """The stored state, or None when the file does not exist yet (no connect so far).

    Raises `WorkspaceStateError` for a file that exists but is unreadable or malformed: guessing a start would
    silently change the partition set, so nothing is assumed.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _damaged(path, exc.strerror or type(exc).__name__) from None
    tighten(path)  # the rule for every file under data_dir; logs when it changed a mode
    try:
        document = json.loads(raw)
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError(f"expected a JSON object with \"format\": {FORMAT}")
        state = WorkspaceState(date.fromisoformat(document["history_start"]),
                               datetime.fromisoformat(document["first_connected_at"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise _damaged(path, f"{type(exc).__name__}: {exc}") from None
    if state.first_connected_at.tzinfo is None:
        raise _damaged(path, "first_connected_at has no time zone")
    return state


def pin(path: Path, state: WorkspaceState) -> tuple[WorkspaceState, bool]:
    """Store `state` unless a state is stored already; returns (the state in force, whether this call stored it).

    The folder is created private if missing. An existing file is never rewritten, and a damaged one raises
    `WorkspaceStateError` (it is left as it is).
    """
    path = Path(path)
    stored = read(path)
    if stored is not None:
        return stored, False
    if not create_private(path, state.to_json()):  # another process pinned it between our read and our link
        stored = read(path)
        if stored is None:
            raise _damaged(path, "it disappeared while another process created it") from None
        return stored, False
    return state, True


# ---- the storage region the data was placed in: `<data_dir>/region.json` ----------------------------------------
# Why a file of its own beside workspace.json: it is written on the workspace's first use (workspace.json only at
# the first Qonto connect), and rewritten only by `well workspace move` (the region of a copy).

REGION_FILE = "region.json"


def region_file(data_dir: Path) -> Path:
    return Path(data_dir) / REGION_FILE


def _region_json(region: str, workspace_id: str) -> bytes:
    return json.dumps({"format": FORMAT, "region": region, "workspace": workspace_id,
                       "stamped_at": datetime.now(UTC).isoformat()}, indent=2).encode() + b"\n"


def read_region(data_dir: Path) -> str | None:
    """The region the data in `data_dir` was placed in, or None when not stamped yet."""
    path = region_file(data_dir)
    try:
        document = json.loads(path.read_bytes())
        region = document["region"]
        if not isinstance(region, str) or document.get("format") != FORMAT:
            raise ValueError("not a region stamp")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WorkspaceStateError(f"region stamp {path} cannot be read ({type(exc).__name__}: {exc}); it records "
                                  "the storage region this data was placed in. Restore it from a backup, or delete "
                                  "it: the next use stamps the workspace's configured region.") from None
    return region


def stamp_region(data_dir: Path, region: str, workspace_id: str) -> str:
    """Record `region` unless a region is recorded already; returns the region recorded (create-only)."""
    path = region_file(data_dir)
    if create_private(path, _region_json(region, workspace_id)):
        return region
    stored = read_region(data_dir)
    return stored if stored is not None else region


def restamp_region(data_dir: Path, region: str, workspace_id: str) -> None:
    """Record `region` over any earlier stamp (a copy made by `well workspace move`), atomically."""
    path = region_file(data_dir)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
    write_private(draft, _region_json(region, workspace_id))
    os.replace(draft, path)
