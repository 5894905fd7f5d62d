"""Copy a workspace's data folder and prove the copy is whole, before anything is deleted (`well workspace move`).

Why so careful: the folder holds the only copy of a company's records, review decisions, delivery outbox,
documents and encrypted secrets. The copy is verified file by file (SHA-256 of the source read before it was
copied against the copy read back) and, for the DuckDB file, table by table (row counts read from the source under
its write lock against the copy reopened on its own). Only a verified copy is put in place (renamed from a staging
folder beside it); the caller deletes the source only after that.

Why the source's write lock is held throughout: DuckDB lets one process write; holding the lock (after a
CHECKPOINT, so the main file holds everything) keeps every run from changing the file while it is copied, and a
writer already holding it makes the move refuse instead of copying a moving target.
"""

from __future__ import annotations

import hashlib
import shutil
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from well_pipeline.adapters.filesystem import private_dir, tighten_tree
from well_pipeline.adapters.storage.duckdb.database import Database, DatabaseLockedError

__all__ = ["CopyError", "CopyReport", "copy_verified", "file_digest"]

_CHUNK = 1 << 20


class CopyError(RuntimeError):
    """The copy was refused or did not verify; the source is untouched and no partial copy is left."""


@dataclass(frozen=True)
class CopyReport:
    """What was copied and verified: files and bytes, and DuckDB row counts per table."""

    source: Path
    target: Path
    files: int
    bytes: int
    tables: dict[str, int]


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _row_counts(con: object) -> dict[str, int]:
    tables = [name for (name,) in con.execute(  # type: ignore[attr-defined]
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_type = 'BASE TABLE' ORDER BY 1").fetchall()]
    return {name: con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]  # type: ignore[attr-defined]
            for name in tables}


def copy_verified(source: Path, target: Path, *, duckdb_file: Path | None = None,
                  lock_timeout_s: float = 2.0) -> CopyReport:
    """Copy the folder `source` to `target` (which must not hold anything yet) and verify it.

    `duckdb_file`: the workspace's DuckDB file inside `source`, if it has one: its write lock is taken (refused
    with `CopyError` when a writer keeps it past `lock_timeout_s`) and held until every file is copied.
    """
    source, target = Path(source), Path(target)
    if not source.is_dir():
        raise CopyError(f"there is no data folder at {source} to copy")
    if target.exists() and any(target.iterdir()):
        raise CopyError(f"{target} already holds data: Well never copies over another copy. Look at it, and "
                        "remove it yourself if it is stale")
    staging = target.with_name(f".{target.name}.moving")
    if staging.exists():
        shutil.rmtree(staging)  # a move interrupted before: never put in place, so never trusted
    private_dir(staging.parent)
    counts: dict[str, int] = {}
    files = size = 0
    try:
        with ExitStack() as held:
            if duckdb_file is not None and Path(duckdb_file).exists():
                try:
                    con = held.enter_context(Database(Path(duckdb_file), lock_timeout_s=lock_timeout_s).connect())
                except DatabaseLockedError:
                    raise CopyError(f"{duckdb_file} is locked by a writer (a run or another `well` command): "
                                    "wait for it to finish (or stop the sensors), then move again") from None
                con.execute("CHECKPOINT")
                counts = _row_counts(con)
            private_dir(staging)
            for path in sorted(source.rglob("*")):
                relative = path.relative_to(source)
                copy = staging / relative
                if path.is_symlink():
                    raise CopyError(f"{path} is a symbolic link: Well does not follow links out of a data folder; "
                                    "replace it by what it points to, then move again")
                if path.is_dir():
                    private_dir(copy)
                    continue
                if relative.name.endswith(".wal") and path.stat().st_size == 0:
                    continue  # an empty write-ahead log after the CHECKPOINT: nothing in it
                before = file_digest(path)
                private_dir(copy.parent)
                shutil.copy2(path, copy)
                if file_digest(copy) != before:
                    raise CopyError(f"the copy of {path} differs from it (SHA-256): the source changed while it "
                                    "was copied, or the disk is failing")
                files, size = files + 1, size + copy.stat().st_size
        if duckdb_file is not None and counts:
            copied_db = staging / Path(duckdb_file).relative_to(source)
            with Database(copied_db, read_only=True).connect() as con:
                copied = _row_counts(con)
            if copied != counts:
                raise CopyError(f"the copied database {copied_db} does not hold the same rows (source {counts}, "
                                f"copy {copied})")
        tighten_tree(staging)
        if target.exists():
            target.rmdir()  # empty (checked above)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return CopyReport(source, target, files, size, counts)
