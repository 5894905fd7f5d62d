"""The PostgreSQL schema: the same tables and columns as DuckDB's, migrations that apply once (even when several
processes open a new schema at once), schemas that see nothing of each other, and a DSN whose password is never
shown."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import psycopg
import pytest

from well_pipeline.adapters.storage.duckdb import tables_doc
from well_pipeline.adapters.storage.postgres import PostgresConfigError, PostgresStorage, migrate, redacted
from well_pipeline.adapters.storage.postgres.schema import MIGRATIONS
from well_pipeline_tests.adapters.storage.conftest import new_schema
from well_pipeline_tests.support.delivery_records import release_records


def _columns(dsn: str, schema: str) -> dict[str, list[str]]:
    with psycopg.connect(dsn) as con:
        rows = con.execute("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s "
                           "ORDER BY table_name, ordinal_position", [schema]).fetchall()
    found: dict[str, list[str]] = {}
    for table, column in rows:
        found.setdefault(table, []).append(column)
    return found


def test_tables_and_columns_are_duckdbs_in_the_same_order(postgres_dsn: str, tmp_path: Path) -> None:
    """So docs/tables.md (generated from DuckDB's catalog) describes both stores; types may differ."""
    storage = PostgresStorage(postgres_dsn, new_schema(), tmp_path)
    assert storage.invoices.count() == 0  # the first connection creates the schema
    with tables_doc.fresh_schema() as con:
        duck = {name: [c.name for c in relation.columns] for name, relation in tables_doc.read_catalog(con).items()}
    postgres = _columns(postgres_dsn, storage.database.schema)
    assert len(postgres) == 16 and "outbox" in postgres  # 15 tables and schema_migrations
    assert postgres == duck


def test_migrations_apply_once_and_again_change_nothing(postgres_dsn: str) -> None:
    schema = new_schema()
    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        assert migrate(con, schema) == MIGRATIONS[-1][0]
        con.execute(f"INSERT INTO {schema}.sync_state VALUES ('marker', 'kept', now())")
        assert migrate(con, schema) == MIGRATIONS[-1][0]
        assert con.execute(f"SELECT version FROM {schema}.schema_migrations").fetchall() == [(MIGRATIONS[-1][0],)]
        assert con.execute(f"SELECT value FROM {schema}.sync_state").fetchall() == [("kept",)]


def _open(dsn: str, schema: str, results: multiprocessing.Queue) -> None:
    try:
        results.put(PostgresStorage(dsn, schema, Path("/nonexistent-unused")).invoices.count())
    except BaseException as exc:
        results.put(repr(exc))


def test_processes_opening_a_new_schema_at_once_migrate_it_once(postgres_dsn: str) -> None:
    schema, context = new_schema(), multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [context.Process(target=_open, args=(postgres_dsn, schema, results)) for _ in range(4)]
    for worker in workers:
        worker.start()
    assert [results.get(timeout=60) for _ in workers] == [0, 0, 0, 0]  # no "already exists" error anywhere
    for worker in workers:
        worker.join(timeout=30)
    with psycopg.connect(postgres_dsn) as con:
        assert con.execute(f"SELECT count(*) FROM {schema}.schema_migrations").fetchone()[0] == len(MIGRATIONS)


def test_two_schemas_of_one_database_see_nothing_of_each_other(postgres_dsn: str, tmp_path: Path) -> None:
    first = PostgresStorage(postgres_dsn, new_schema(), tmp_path / "a")
    second = PostgresStorage(postgres_dsn, new_schema(), tmp_path / "b")
    release_records(first, ("q-1", "auto_link", 0))
    first.invoices.set_marker("qonto", "cursor-1")
    first.outbox.approve_resend("q-1", "ops")
    assert (first.invoices.count(), first.invoices.get_marker("qonto")) == (1, "cursor-1")
    assert (second.invoices.count(), second.invoices.get_marker("qonto")) == (0, None)
    assert second.matches.queue(decisions=["auto_link"]).entries == ()
    assert second.outbox.approved_resends() == [] and second.outbox.awaiting_delivery() == []
    with pytest.raises(KeyError):
        second.matches.record_decision(qonto_id="q-1", action="refuse", author="ana")


def test_the_password_of_a_dsn_is_never_shown(postgres_dsn: str, tmp_path: Path) -> None:
    secret = "s3cret-Pa55"
    dsn = f"postgresql://well:{secret}@db.example:5432/well"
    storage = PostgresStorage(dsn, "acme", tmp_path)  # nothing connects until a method is called
    for text in (storage.location, repr(storage), repr(storage.database), redacted(dsn),
                 redacted(f"host=db user=well password={secret}")):
        assert secret not in text
    assert "db.example" in storage.location and "schema=acme" in storage.location
    with pytest.raises(PostgresConfigError, match="not a plain identifier"):
        PostgresStorage(postgres_dsn, "Acme; DROP SCHEMA public", tmp_path)
