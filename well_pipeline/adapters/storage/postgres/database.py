"""The PostgreSQL database: connections to one Postgres *schema* (namespace) and keeping that schema current.

Why a schema per store, not a database: several workspaces can later share one server and one database, each in
its own schema, invisible to the others (every connection's `search_path` is its schema and nothing else).

Unlike DuckDB, PostgreSQL lets several processes write at once. The stores therefore never rely on being the only
writer: exclusive steps take row locks (`SELECT ... FOR UPDATE`, `INSERT ... ON CONFLICT`) inside one short
transaction, and migrations take an advisory lock on the schema, so two processes opening a new schema at the same
moment apply each migration once. No transaction is held across network work (Qonto, SMTP): every store method
opens a connection, runs one short transaction (or a read) and closes it.

The DSN may carry a password; it is never printed: `location` and `repr` show the DSN without it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.string import TextLoader

from well_pipeline.adapters.storage.postgres.schema import MIGRATIONS
from well_pipeline.adapters.storage.records import DatabaseUnavailableError

# A plain lower-case identifier: never quoted differently by anyone, safe in messages and file names.
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
DEFAULT_SCHEMA = "well"


class PostgresConfigError(ValueError):
    """The DSN or schema name cannot be used (the message says which and why; never the password)."""


def redacted(dsn: str) -> str:
    """The DSN without its password (for logs, metadata and errors); the DSN itself when it cannot be parsed."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable PostgreSQL DSN>"
    if "password" in params:
        params["password"] = "***"
    return make_conninfo(**params)


def check_schema_name(schema: str) -> str:
    if not SCHEMA_NAME.fullmatch(schema):
        raise PostgresConfigError(
            f"PostgreSQL schema name {schema!r} is not a plain identifier: use lower-case letters, digits and _, "
            "starting with a letter or _, at most 63 characters")
    return schema


class PostgresDatabase:
    """One schema of a PostgreSQL database with Well's tables. `connect()` yields an autocommit connection whose
    `search_path` is the schema; wrap writes in `con.transaction()`."""

    def __init__(self, dsn: str, schema: str = DEFAULT_SCHEMA, *, connect_timeout_s: float = 10.0) -> None:
        self._dsn = dsn
        self.schema = check_schema_name(schema)
        self.location = redacted(dsn)
        try:
            conninfo_to_dict(dsn)
        except psycopg.ProgrammingError as exc:
            raise PostgresConfigError(f"the PostgreSQL DSN cannot be parsed: {type(exc).__name__}") from None
        self._connect_timeout_s = max(1, round(connect_timeout_s))
        self._migrated = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PostgresDatabase({self.location!r}, schema={self.schema!r})"

    def open_session(self) -> psycopg.Connection:
        """A connection the caller keeps and closes, for session advisory locks (the outbox's claim leases):
        PostgreSQL drops them when the connection ends, however its process ends. Server-side keepalives make a
        lost machine's connection end within about a minute rather than the operating system's two hours."""
        con = self._connect()
        try:
            for name, value in (("tcp_keepalives_idle", 30), ("tcp_keepalives_interval", 10),
                                ("tcp_keepalives_count", 3)):
                con.execute(sql.SQL("SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        except BaseException:
            con.close()
            raise
        return con

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self._dsn, autocommit=True, connect_timeout=self._connect_timeout_s)
        except psycopg.OperationalError as exc:  # down, unreachable, authentication, no such database
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise DatabaseUnavailableError(
                f"cannot connect to PostgreSQL at {self.location} (schema {self.schema}): {reason}. Check the server "
                "and the settings postgres_dsn (or the region's) and, for the password, PGPASSFILE or PGPASSWORD"
            ) from None

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        con = self._connect()
        try:
            # JSON comes back as its text, as from DuckDB: callers parse it where they need it.
            con.adapters.register_loader("json", TextLoader)
            if not self._migrated:
                with self._lock:
                    if not self._migrated:
                        migrate(con, self.schema)
                        self._migrated = True
            con.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            yield con
        finally:
            con.close()


def migrate(con: psycopg.Connection, schema: str) -> int:
    """Create `schema` if needed and apply its pending migrations in order, in one transaction under an advisory
    lock on the schema (two processes migrating at once: the second waits, then finds nothing to do). Returns the
    schema version. Idempotent."""
    check_schema_name(schema)
    with con.transaction():
        con.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"well.migrate:{schema}"])
        con.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        con.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                    "applied_at timestamp)")
        current = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
        for version, statements in MIGRATIONS:
            if version <= current:
                continue
            for statement in statements:
                con.execute(statement)
            con.execute("INSERT INTO schema_migrations VALUES (%s, now() AT TIME ZONE 'UTC')", [version])
            current = version
    return current
