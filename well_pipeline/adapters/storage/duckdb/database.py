"""The DuckDB file: opening it safely and keeping its schema current.

DuckDB allows one writing process at a time. Dagster guards every writer with the `duckdb` concurrency pool
(limit 1, see dagster.yaml); this module adds a short, bounded retry for the rare overlap with a reader
(the CLI, a notebook) and a clear error when the lock cannot be had.

The file holds IBANs and amounts, so its folder is 0700 and the file and its write-ahead log 0600, tightened
on every open and close (DuckDB creates both files itself, under the process umask: see
`adapters/filesystem.py` for why Well does not change the umask instead).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from well_pipeline.adapters.filesystem import private_dir, tighten
from well_pipeline.adapters.storage.duckdb.schema import MIGRATIONS
from well_pipeline.adapters.storage.rows import utc_now  # noqa: F401 (re-exported: the stores import it from here)


class DatabaseLockedError(RuntimeError):
    """Another process holds the DuckDB write lock for longer than we are willing to wait."""


class Database:
    """A DuckDB file with Well's schema. Use `connect()` for a connection, `transaction()` for a short write."""

    def __init__(self, path: Path, *, lock_timeout_s: float = 30.0, read_only: bool = False) -> None:
        self.path = Path(path)
        self._lock_timeout_s = lock_timeout_s
        self.read_only = read_only  # the default of `connect()`: a CLI read opens the file without locking writers out

    def __repr__(self) -> str:
        return f"Database(path={str(self.path)!r})"

    def _tighten_files(self, *, log: bool) -> None:
        """The database file and its write-ahead log (if one exists right now) to 0600.

        `log` for a database file found open before connecting (worth a line). Files DuckDB has just created
        under the umask, and the WAL, which it re-creates after every checkpoint, are tightened quietly.
        """
        tighten(self.path, log=log)
        tighten(self.path.with_name(self.path.name + ".wal"), log=False)

    @contextmanager
    def connect(self, *, read_only: bool | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        read_only = self.read_only if read_only is None else read_only
        if not read_only:
            private_dir(self.path.parent)
        elif not self.path.exists():
            raise FileNotFoundError(f"no Well database at {self.path}: materialise qonto_supplier_invoices first")
        else:
            tighten(self.path.parent)
        self._tighten_files(log=True)
        deadline = time.monotonic() + self._lock_timeout_s
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                    if "lock" in str(exc).lower():
                        raise DatabaseLockedError(
                            f"{self.path} is locked by another process (DuckDB allows one writer). "
                            "Wait for the running materialisation to finish, or close other connections."
                        ) from exc
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        self._tighten_files(log=False)
        try:
            if not read_only:
                migrate(con)
                self._tighten_files(log=False)
            yield con
        finally:
            con.close()
            self._tighten_files(log=False)



@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One short explicit transaction: commit on success, roll back on any error (then re-raise)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply pending schema migrations in order; returns the schema version. Idempotent."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)"
    )
    current = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
    for version, statements in MIGRATIONS:
        if version <= current:
            continue
        with transaction(con):
            for statement in statements:
                con.execute(statement)
            con.execute("INSERT INTO schema_migrations VALUES (?, now())", [version])
        current = version
    return current
