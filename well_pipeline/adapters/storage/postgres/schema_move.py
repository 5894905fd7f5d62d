"""Move one workspace's schema from one PostgreSQL database to another (`well workspace move`, regions on other
DSNs), proving the copy whole before the old schema is dropped.

The steps, each on its own connection and transaction, both held open until the caller has switched the
workspace over:

1. **Close the source.** In the source transaction: the move's own advisory lock (`well.move:<schema>`, one move
   of a workspace at a time), the migration and ingest locks every Well process takes (`well.migrate:<schema>`,
   `well.ingest:<schema>`), then `LOCK TABLE … IN ACCESS EXCLUSIVE MODE` on every table of the schema. Each waits
   at most `lock_timeout_s` (PostgreSQL's `lock_timeout`): a run or command still reading or writing is a refusal,
   never a copy of a moving target. Why ACCESS EXCLUSIVE and not SHARE: a writer holding a row lock (`FOR UPDATE`)
   would otherwise deadlock with the final `DROP SCHEMA`. Then a delivery claim in flight (a `sending` row whose
   lease, `outbox._ClaimLeases`, a live process holds) is a refusal too: its e-mail may be on the wire.
2. **Create the target** with Well's own migrations (`migrate`), in an uncommitted transaction: a schema already
   holding rows is refused; every failure from here to the commit rolls back, leaving the target as it was.
3. **Copy** each table, in migration order, with `COPY (SELECT cols FROM t ORDER BY <primary key>) TO STDOUT` →
   `COPY t (cols) FROM STDIN` (binary), then set every sequence to the source's `last_value`/`is_called`.
4. **Verify**, each side in its own transaction: per table the row count and an MD5 digest of every row's text
   (`md5` of the sorted per-row `md5(ROW(cols)::text)`; both sessions pinned to the same DateStyle, float digits and
   time zone so equal rows print equally), and the sequences. Any difference: refused, target rolled back.
5. The caller copies the files, then `commit_target()`, switches the workspace (region stamp, TOML), calls
   `switched()` and `drop_source()` (`DROP SCHEMA … CASCADE` in the still-locked source transaction). Leaving the
   `with` block before `switched()` rolls the source back (untouched, unlocked) and removes the target: rolled
   back, or dropped when already committed.

Both DSNs reaching the same database (written differently): detected by the move's advisory lock being taken
already when the target tries it; nothing is copied (`same_database`), the caller moves only the files.

DSNs appear in messages only through `redacted` (never a password).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from types import TracebackType
from typing import ClassVar

import psycopg
from psycopg import sql

from well_pipeline.adapters.storage.postgres.database import check_schema_name, migrate, redacted
from well_pipeline.adapters.storage.postgres.outbox import _ClaimLeases
from well_pipeline.adapters.storage.postgres.schema import MIGRATIONS

__all__ = ["SchemaMove", "SchemaMoveError", "SchemaMoveReport", "WELL_TABLES"]

# Well's tables in the order the migrations create them (the copy's order); `schema_migrations` is migrate()'s own.
WELL_TABLES: tuple[str, ...] = tuple(
    match.group(1) for _, statements in MIGRATIONS for statement in statements
    for match in [re.search(r"CREATE TABLE\s+(?:IF NOT EXISTS\s+)?(\w+)", statement)] if match)
_MIGRATIONS_TABLE = "schema_migrations"

# Settings that make both sessions print the same row the same way (the digests compare text).
_SESSION = {"DateStyle": "ISO, YMD", "IntervalStyle": "postgres", "extra_float_digits": "3", "TimeZone": "UTC",
            "client_encoding": "UTF8", "bytea_output": "hex"}
_CONNECT_TIMEOUT_S = 10


class SchemaMoveError(RuntimeError):
    """The move was refused or its copy did not verify: the source is untouched, the target as it was."""


@dataclass
class SchemaMoveReport:
    """What was copied and verified: rows per table (equal on both sides, as their digests) and sequences."""

    schema: str
    source: str  # redacted DSNs
    target: str
    same_database: bool = False
    copied: bool = False  # False: no schema at the source (never used), or the same database
    tables: dict[str, int] = field(default_factory=dict)
    sequences: dict[str, int | None] = field(default_factory=dict)


class SchemaMove:
    """One schema move between two databases; a context manager holding both transactions (see module doc)."""

    refusal: ClassVar[type[Exception]] = SchemaMoveError  # for callers that do not import psycopg's package

    def __init__(self, source_dsn: str, target_dsn: str, schema: str, *, lock_timeout_s: float) -> None:
        self.schema = check_schema_name(schema)
        self._dsns = {"source": source_dsn, "target": target_dsn}
        self.report = SchemaMoveReport(schema, redacted(source_dsn), redacted(target_dsn))
        self._lock_timeout_ms = max(1, round(lock_timeout_s * 1000))
        self._src: psycopg.Connection | None = None
        self._tgt: psycopg.Connection | None = None
        self._committed = self._switched = self._dropped = False

    # -- connections ---------------------------------------------------------------------------------------------
    def _connect(self, side: str) -> psycopg.Connection:
        dsn = self._dsns[side]
        try:
            con = psycopg.connect(dsn, autocommit=False, connect_timeout=_CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise SchemaMoveError(f"cannot connect to the {side} PostgreSQL database ({redacted(dsn)}): "
                                  f"{first}") from None
        for name, value in _SESSION.items():
            con.execute("SELECT set_config(%s, %s, false)", [name, value])
        con.execute("SELECT set_config('lock_timeout', %s, false)", [f"{self._lock_timeout_ms}ms"])
        con.commit()
        return con

    def __enter__(self) -> SchemaMove:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if not self._switched:
                self._undo_target()
        finally:
            for con in (self._src, self._tgt):
                if con is not None and not con.closed:
                    if not self._dropped:
                        _quietly(con.rollback)  # the source untouched: its locks go, nothing changed
                    con.close()

    def _undo_target(self) -> None:
        tgt = self._tgt
        if tgt is None or tgt.closed:
            return
        if not self._committed:
            _quietly(tgt.rollback)
            return
        # Committed, but the workspace was never switched to it: the copy goes, the source stays authoritative.
        _quietly(tgt.rollback)
        with suppress(psycopg.Error):  # the first error is the one reported
            tgt.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))
            tgt.commit()

    # -- 1-4: lock, create, copy, verify --------------------------------------------------------------------------
    def copy_and_verify(self) -> SchemaMoveReport:
        """Steps 1-4; the target's copy is left uncommitted (`commit_target()`). Raises `SchemaMoveError`."""
        self._src = src = self._connect("source")
        self._tgt = tgt = self._connect("target")
        move_key = f"well.move:{self.schema}"
        if not _try_lock(src, move_key):
            raise SchemaMoveError(f"another move of workspace {self.schema} is running (advisory lock {move_key} "
                                  f"is held at {self.report.source})")
        if not _try_lock(tgt, move_key):
            if _server_identity(src) == _server_identity(tgt):
                self.report.same_database = True  # the locks above are the source's: the same database
                return self.report
            raise SchemaMoveError(f"another move of workspace {self.schema} into {self.report.target} is running")
        self._lock_source(src)
        self._check_target_empty(tgt)
        present = _schema_exists(src, self.schema)
        if present:
            migrate(src, self.schema)  # as any Well process opening it would: both sides at the same version
        migrate(tgt, self.schema)
        if not present:
            return self.report  # never used: nothing to copy (the target has the empty schema a first use makes)
        self._check_same_shape(src, tgt)
        self._refuse_claims_in_flight(src)
        for table in WELL_TABLES:
            self._copy_table(src, tgt, table)
        self._copy_sequences(src, tgt)
        self._verify(src, tgt)
        self.report.copied = True
        return self.report

    def _lock_source(self, src: psycopg.Connection) -> None:
        where = f"workspace {self.schema}'s schema at {self.report.source}"
        try:
            for key in (f"well.migrate:{self.schema}", f"well.ingest:{self.schema}"):
                src.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])
            tables = _relations(src, self.schema, "rp")
            if tables:
                src.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                    sql.SQL(", ").join(sql.Identifier(self.schema, name) for name in sorted(tables))))
        except psycopg.errors.LockNotAvailable:
            raise SchemaMoveError(
                f"{where} is in use by a writer (a run, a sensor or another `well` command) that did not finish "
                f"within {self._lock_timeout_ms / 1000:g} s: stop the workspace's sensors, wait for its runs, then "
                "move again") from None

    def _refuse_claims_in_flight(self, src: psycopg.Connection) -> None:
        prefix = f"{_ClaimLeases.PREFIX}{self.schema}:"
        rows = src.execute(sql.SQL(
            "SELECT qonto_id FROM {} WHERE state = 'sending' "
            "AND NOT pg_try_advisory_xact_lock(hashtextextended(%s || qonto_id, 0)) ORDER BY qonto_id").format(
                sql.Identifier(self.schema, "outbox")), [prefix]).fetchall()
        if rows:
            ids = ", ".join(qonto_id for (qonto_id,) in rows[:5])
            raise SchemaMoveError(f"workspace {self.schema} has {len(rows)} e-mail(s) to Melio in flight ({ids}): "
                                  "a delivery run is handing them over; wait for it to finish, then move again")

    def _check_target_empty(self, tgt: psycopg.Connection) -> None:
        for name in sorted(_relations(tgt, self.schema, "rp") - {_MIGRATIONS_TABLE}):
            table = sql.Identifier(self.schema, name)
            if tgt.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(table)).fetchone()[0]:
                raise SchemaMoveError(
                    f"schema {self.schema} at {self.report.target} already holds data (table {name} has rows): "
                    "Well never copies over another copy. Look at it, and drop it yourself if it is stale")

    def _check_same_shape(self, src: psycopg.Connection, tgt: psycopg.Connection) -> None:
        # DROP SCHEMA CASCADE would take anything else in the source schema with it: refused, never dropped.
        extra = sorted(_relations(src, self.schema, "rpvmfS") - _relations(tgt, self.schema, "rpvmfS"))
        if extra:
            raise SchemaMoveError(f"schema {self.schema} at {self.report.source} holds relations Well did not "
                                  f"create ({', '.join(extra)}): move or drop them yourself first")
        for table in WELL_TABLES:
            if _columns(src, self.schema, table) != _columns(tgt, self.schema, table):
                raise SchemaMoveError(f"table {table} has other columns at {self.report.source} than Well's "
                                      "migrations create: it was changed by hand; the move is refused")
        versions = [con.execute(sql.SQL("SELECT max(version) FROM {}").format(
            sql.Identifier(self.schema, _MIGRATIONS_TABLE))).fetchone()[0] for con in (src, tgt)]
        if versions[0] != versions[1]:
            raise SchemaMoveError(f"schema version {versions[0]} at {self.report.source} but {versions[1]} at "
                                  f"{self.report.target}: both sides must run the same Well version")

    def _copy_table(self, src: psycopg.Connection, tgt: psycopg.Connection, table: str) -> None:
        columns = sql.SQL(", ").join(sql.Identifier(name) for name in _columns(tgt, self.schema, table))
        key = _primary_key(tgt, self.schema, table)
        order = sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(map(sql.Identifier, key))) if key else sql.SQL("")
        read = sql.SQL("COPY (SELECT {} FROM {}{}) TO STDOUT (FORMAT BINARY)").format(
            columns, sql.Identifier(self.schema, table), order)
        write = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(sql.Identifier(self.schema, table), columns)
        with src.cursor().copy(read) as out, tgt.cursor().copy(write) as into:
            for chunk in out:
                into.write(chunk)

    def _copy_sequences(self, src: psycopg.Connection, tgt: psycopg.Connection) -> None:
        for name in sorted(_relations(src, self.schema, "S")):
            last, called = _sequence(src, self.schema, name)
            tgt.execute("SELECT pg_catalog.setval(format('%%I.%%I', %s::text, %s::text)::regclass, %s, %s)",
                        [self.schema, name, last, called])
            self.report.sequences[name] = last if called else None

    def _verify(self, src: psycopg.Connection, tgt: psycopg.Connection) -> None:
        differences = []
        for table in WELL_TABLES:
            here, there = (_table_digest(con, self.schema, table) for con in (src, tgt))
            if here != there:
                differences.append(f"{table} (source {here[0]} rows, copy {there[0]} rows"
                                   f"{', digests differ' if here[0] == there[0] else ''})")
            self.report.tables[table] = here[0]
        for name in sorted(_relations(src, self.schema, "S")):
            if _sequence(src, self.schema, name) != _sequence(tgt, self.schema, name):
                differences.append(f"sequence {name}")
        if differences:
            raise SchemaMoveError(f"the copy of schema {self.schema} at {self.report.target} does not match the "
                                  f"source: {'; '.join(differences)}. Nothing was changed; the copy is removed")

    # -- 5: commit, switch, drop ---------------------------------------------------------------------------------
    def commit_target(self) -> None:
        """Commit the verified copy (the workspace is not switched to it yet)."""
        if self._tgt is None or self.report.same_database:
            return
        try:
            self._tgt.commit()
        except psycopg.Error as exc:
            raise SchemaMoveError(f"the copy at {self.report.target} could not be committed "
                                  f"({type(exc).__name__}); nothing was changed") from None
        self._committed = True

    def switched(self) -> None:
        """The workspace now points at the target: from here the target is kept whatever happens."""
        self._switched = True

    def drop_source(self) -> str | None:
        """`DROP SCHEMA … CASCADE` at the source (still locked); None, or why it was not dropped (then the copy
        stays authoritative and the old schema is left for a person to drop)."""
        if self._src is None or self.report.same_database or not self._switched:
            return None
        try:
            if _schema_exists(self._src, self.schema):
                self._src.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(self.schema)))
            self._src.commit()
        except psycopg.Error as exc:
            _quietly(self._src.rollback)
            return (f"the old schema {self.schema} at {self.report.source} could not be dropped "
                    f"({type(exc).__name__}): drop it yourself (DROP SCHEMA {self.schema} CASCADE)")
        self._dropped = True
        return None


# ---- catalog reads --------------------------------------------------------------------------------------------------

def _try_lock(con: psycopg.Connection, key: str) -> bool:
    return bool(con.execute("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", [key]).fetchone()[0])


def _server_identity(con: psycopg.Connection) -> tuple:
    """Which database of which running server (readable without privileges: `data_directory` is not)."""
    return con.execute("SELECT current_database(), pg_postmaster_start_time(), current_setting('port')").fetchone()


def _schema_exists(con: psycopg.Connection, schema: str) -> bool:
    return con.execute("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)", [schema]).fetchone()[0]


def _relations(con: psycopg.Connection, schema: str, kinds: str) -> set[str]:
    """Names of the schema's relations of the given `relkind`s (r table, p partitioned, v view, m materialized
    view, f foreign table, S sequence)."""
    return {name for (name,) in con.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind = ANY(%s)", [schema, list(kinds)]).fetchall()}


def _columns(con: psycopg.Connection, schema: str, table: str) -> list[str]:
    return [name for (name,) in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
        "ORDER BY ordinal_position", [schema, table]).fetchall()]


def _primary_key(con: psycopg.Connection, schema: str, table: str) -> list[str]:
    return [name for (name,) in con.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = format('%%I.%%I', %s::text, %s::text)::regclass "
        "AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)", [schema, table]).fetchall()]


def _sequence(con: psycopg.Connection, schema: str, name: str) -> tuple[int, bool]:
    return tuple(con.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(
        sql.Identifier(schema, name))).fetchone())  # type: ignore[return-value]


def _table_digest(con: psycopg.Connection, schema: str, table: str) -> tuple[int, str]:
    """(rows, digest): the MD5 of the sorted per-row MD5s, so the digest needs 32 bytes a row, not the table."""
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in _columns(con, schema, table))
    row = con.execute(sql.SQL(
        "SELECT count(*), coalesce(md5(string_agg(h, '' ORDER BY h COLLATE \"C\")), '') "
        "FROM (SELECT md5(ROW({})::text) AS h FROM {}) rows").format(columns, sql.Identifier(schema, table))
    ).fetchone()
    return int(row[0]), str(row[1])


def _quietly(action: Callable[[], object]) -> None:
    """Clean-up after a failure: the first error is the one reported."""
    with suppress(psycopg.Error):
        action()
