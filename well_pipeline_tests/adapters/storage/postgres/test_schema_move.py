"""Moving a workspace's schema between two PostgreSQL databases (postgres/schema_move.py), on the real test server:
two databases on it stand for two regions' DSNs. Every failure before the switch must leave the source as it was
and no copy at the target."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from well_pipeline.adapters.storage.postgres import PostgresStorage, redacted
from well_pipeline.adapters.storage.postgres import schema_move as schema_move_module
from well_pipeline.adapters.storage.postgres.schema_move import WELL_TABLES, SchemaMove, SchemaMoveError
from well_pipeline.core.delivery.plan import OutboxState
from well_pipeline_tests.adapters.storage.conftest import new_schema
from well_pipeline_tests.support.delivery_records import release_records
from well_pipeline_tests.support.postgres_server import PostgresServer
from well_pipeline_tests.support.postgres_workspace import (
    TO,
    fill_workspace,
    region_databases,
    row_total,
    schema_exists,
    snapshot,
)
from well_pipeline_tests.support.qonto_sandbox import free_port


@pytest.fixture(scope="module")
def regions(postgres_server: PostgresServer) -> dict[str, str]:
    return region_databases(postgres_server, "eu", "us")


class Moving:
    """A filled workspace schema at the `eu` database, to be moved to the `us` one."""

    def __init__(self, regions: dict[str, str], attachments: Path) -> None:
        self.eu, self.us, self.schema = regions["eu"], regions["us"], new_schema()
        self.attachments = attachments
        fill_workspace(self.store("eu"))
        self.before = snapshot(self.store("eu"))

    def store(self, region: str) -> PostgresStorage:
        return PostgresStorage(self.eu if region == "eu" else self.us, self.schema, self.attachments)

    def move(self, **kwargs: object) -> SchemaMove:
        return SchemaMove(self.eu, self.us, self.schema, lock_timeout_s=0.3, **kwargs)  # type: ignore[arg-type]

    def refused(self) -> str:
        with pytest.raises(SchemaMoveError) as refused, self.move() as mover:
            mover.copy_and_verify()
        return str(refused.value)

    def assert_untouched(self) -> None:
        """The source reads as before and takes writes at once (its locks are gone); no rows at the target."""
        assert snapshot(self.store("eu")) == self.before
        self.store("eu").invoices.set_marker("after", "x")
        assert row_total(self.us, self.schema, WELL_TABLES) == 0


@pytest.fixture
def moving(regions: dict[str, str], tmp_path: Path) -> Moving:
    return Moving(regions, tmp_path / "attachments")


def test_a_schema_moves_whole_reads_back_equal_and_the_old_one_is_dropped(moving: Moving) -> None:
    # A DSN may carry a password (settings refuse one, libpq's trust ignores it here): never shown.
    with SchemaMove(moving.eu + " password=s3cret-pw", moving.us, moving.schema, lock_timeout_s=1) as mover:
        report = mover.copy_and_verify()
        assert report.copied and not report.same_database
        assert "password=***" in report.source and "s3cret-pw" not in repr(report)
        assert report.tables["qonto_supplier_invoices"] == 5 and report.tables["review_decisions"] == 1
        assert report.tables["delivery_holds"] == 2 and report.tables["outbox"] == 2
        assert report.sequences == {"review_decision_ids": 1}
        assert schema_exists(moving.eu, moving.schema)
        mover.commit_target()
        mover.switched()
        assert mover.drop_source() is None
    assert not schema_exists(moving.eu, moving.schema)
    moved = moving.store("us")
    assert snapshot(moved) == moving.before
    # The sequence came along: a new decision gets the next id, not 1 again (a duplicate key).
    moved.matches.record_decision(qonto_id="q-review", action="refuse", author="ops", reason="moved")
    assert [d.reason for d in moved.matches.decision_history("q-review")] == ["moved"]


def test_a_copy_that_does_not_verify_is_refused_and_rolled_back(moving: Moving) -> None:
    # A real fault: the target schema exists (empty, as a first use makes it) with triggers that change what it
    # receives: a decision's text is altered (same count, other content), each outbox row adds an attempt.
    with psycopg.connect(moving.us, autocommit=True) as con:
        PostgresStorage(moving.us, moving.schema, moving.attachments).invoices.count()  # Well's migrations
        con.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(moving.schema)))
        con.execute("CREATE FUNCTION tamper() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "NEW.reason := 'tampered'; RETURN NEW; END $$")
        con.execute("CREATE TRIGGER tamper BEFORE INSERT ON review_decisions FOR EACH ROW EXECUTE FUNCTION tamper()")
        con.execute("CREATE FUNCTION extra() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO "
                    "delivery_attempts VALUES (NEW.qonto_id, 1, 'x', 'sent', 250, 'x', false, now()); "
                    "RETURN NEW; END $$")
        con.execute("CREATE TRIGGER extra AFTER INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION extra()")
    refused = moving.refused()
    assert f"the copy of schema {moving.schema} at" in refused and "does not match the source" in refused
    assert "review_decisions (source 1 rows, copy 1 rows, digests differ)" in refused
    assert "delivery_attempts (source 2 rows, copy 4 rows)" in refused
    moving.assert_untouched()


def test_a_new_target_schema_is_gone_after_a_failed_verification(moving: Moving,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # No real fault can corrupt a schema only this transaction sees: the verification read of the target is
    # monkeypatched (only it), to show the rollback removes the schema it created.
    real = schema_move_module._table_digest
    target_db = psycopg.conninfo.conninfo_to_dict(moving.us)["dbname"]

    def digest(con: psycopg.Connection, schema: str, table: str) -> tuple[int, str]:
        rows, value = real(con, schema, table)
        return (rows, value + "!") if con.info.dbname == target_db and table == "outbox" else (rows, value)

    monkeypatch.setattr(schema_move_module, "_table_digest", digest)
    assert "outbox (source 2 rows, copy 2 rows, digests differ)" in moving.refused()
    assert not schema_exists(moving.us, moving.schema)
    moving.assert_untouched()


def test_a_failure_after_the_commit_but_before_the_switch_drops_the_copy(moving: Moving) -> None:
    with pytest.raises(OSError, match="the workspace file could not be rewritten"), moving.move() as mover:
        mover.copy_and_verify()
        mover.commit_target()
        assert row_total(moving.us, moving.schema, WELL_TABLES) > 0
        raise OSError("the workspace file could not be rewritten")  # the switch fails
    assert not schema_exists(moving.us, moving.schema)
    moving.assert_untouched()


@pytest.mark.parametrize("writer", ["a write transaction", "an ingest"])
def test_a_writer_on_the_workspace_makes_the_move_refuse(moving: Moving, writer: str) -> None:
    with psycopg.connect(moving.eu) as holder:  # a transaction left open, as a run in the middle of a write
        if writer == "an ingest":
            holder.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"well.ingest:{moving.schema}"])
        else:
            holder.execute(sql.SQL("UPDATE {} SET value = value").format(
                sql.Identifier(moving.schema, "sync_state")))
        refused = moving.refused()
        holder.rollback()
    assert (f"workspace {moving.schema}'s schema at {moving.store('eu').database.location} is in use by a writer "
            "(a run, a sensor or another `well` command) that did not finish within 0.3 s") in refused
    assert not schema_exists(moving.us, moving.schema)
    moving.assert_untouched()


def test_a_delivery_in_flight_makes_the_move_refuse(moving: Moving) -> None:
    source = moving.store("eu")
    row = release_records(source, ("q-next", "auto_link", 30))["q-next"]
    moving.before = snapshot(source)
    source.outbox.mark_sending(row, message_id="<m@x>", to_address=TO, dedup=None, resend=False)  # lease held
    try:
        refused = moving.refused()
    finally:
        source.outbox.complete(row, message_id="<m@x>", state=OutboxState.SENT, code=250, reply="OK", attempts=1,
                               resend=False)
    assert f"workspace {moving.schema} has 1 e-mail(s) to Melio in flight (q-next)" in refused
    assert row_total(moving.us, moving.schema, WELL_TABLES) == 0 and schema_exists(moving.eu, moving.schema)


def test_a_target_schema_holding_data_is_refused(moving: Moving) -> None:
    moving.store("us").invoices.set_marker("someone", "else")
    refused = moving.refused()
    assert (f"schema {moving.schema} at {moving.store('us').database.location} already holds data (table "
            "sync_state has rows): Well never copies over another copy") in refused
    assert moving.store("us").invoices.get_marker("someone") == "else"
    assert snapshot(moving.store("eu")) == moving.before


def test_relations_well_did_not_create_are_never_dropped(moving: Moving) -> None:
    with psycopg.connect(moving.eu, autocommit=True) as con:
        con.execute(sql.SQL("CREATE TABLE {} (note text)").format(sql.Identifier(moving.schema, "notes")))
    assert "holds relations Well did not create (notes)" in moving.refused()
    assert not schema_exists(moving.us, moving.schema)
    moving.assert_untouched()


def test_two_dsns_of_one_database_move_nothing(moving: Moving) -> None:
    with SchemaMove(moving.eu, moving.eu + " application_name=other", moving.schema, lock_timeout_s=1) as mover:
        report = mover.copy_and_verify()
        mover.commit_target()
        mover.switched()
        assert mover.drop_source() is None
    assert report.same_database and not report.copied
    assert snapshot(moving.store("eu")) == moving.before


def test_an_unreachable_target_is_refused_with_its_dsn_redacted(moving: Moving) -> None:
    unused_port = free_port()
    target = f"host=127.0.0.1 port={unused_port} dbname=well password=s3cret-pw"
    with pytest.raises(SchemaMoveError) as refused, \
            SchemaMove(moving.eu, target, moving.schema, lock_timeout_s=1) as mover:
        mover.copy_and_verify()
    message = str(refused.value)
    assert f"cannot connect to the target PostgreSQL database ({redacted(target)}): connection failed" in message
    assert "s3cret-pw" not in message and "password=***" in message
    moving.assert_untouched()

