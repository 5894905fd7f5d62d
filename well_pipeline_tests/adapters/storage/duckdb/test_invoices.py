"""`DuckDBInvoiceStore` beyond the contract: what its tables keep (untouched rows, version history, counters) and
that one page is written at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from well_pipeline.adapters.qonto.records import RejectedRecord, parse_supplier_invoice
from well_pipeline.adapters.storage import Database, DuckDBStorage
from well_pipeline.adapters.storage.duckdb.invoices import DuckDBInvoiceStore
from well_pipeline.adapters.storage.records import FailedAttachment
from well_pipeline_tests.support.qonto_records import make_invoice

T0 = datetime(2026, 3, 14, 23, 30, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(tmp_path / "well.duckdb")


@pytest.fixture
def store(db: Database) -> DuckDBInvoiceStore:
    return DuckDBInvoiceStore(db)


def rows(db: Database) -> list[tuple]:
    with db.connect() as con:
        return con.execute("SELECT id, version, total_amount, created_date, last_changed_at "
                           "FROM qonto_supplier_invoices ORDER BY id").fetchall()


def test_unchanged_rows_are_not_rewritten_and_every_version_is_kept(db: Database, store: DuckDBInvoiceStore) -> None:
    raw = make_invoice(invoice_id="inv-1", created_at=T0)
    store.upsert_invoices([parse_supplier_invoice(raw)])
    before = rows(db)
    store.upsert_invoices([parse_supplier_invoice(dict(raw))])
    assert rows(db) == before  # not even last_changed_at moved

    edited = dict(raw, total_amount={"value": "99.90", "currency": "EUR"},
                  updated_at=(T0 + timedelta(hours=2)).isoformat())
    store.upsert_invoices([parse_supplier_invoice(edited)])
    with db.connect() as con:
        versions = con.execute("SELECT version, raw_json LIKE '%99.90%' FROM qonto_supplier_invoice_versions "
                               "ORDER BY version").fetchall()
    assert versions == [(1, False), (2, True)]


def test_counters_accumulate(db: Database, store: DuckDBInvoiceStore) -> None:
    reject = RejectedRecord(raw_text='{"id": "bad"}', reason="no created_at", record_id="bad")
    store.upsert_invoices([], [reject])
    store.upsert_invoices([], [reject])
    store.upsert_invoices([parse_supplier_invoice(make_invoice(invoice_id="b", attachment_id="att-b"))])
    store.record_attachments([], [FailedAttachment("att-b", "b", "HTTP 404 from Qonto")])
    store.record_attachments([], [FailedAttachment("att-b", "b", "HTTP 404 from Qonto")])
    with db.connect() as con:
        assert con.execute("SELECT seen_count FROM qonto_rejected_records").fetchall() == [(2,)]
        assert con.execute("SELECT attempts FROM qonto_attachment_failures").fetchall() == [(2,)]


def test_a_page_is_written_at_once(db: Database, store: DuckDBInvoiceStore) -> None:
    # A reject the table refuses (no text: NOT NULL) fails the page: none of its invoices is left behind.
    broken = RejectedRecord(raw_text=None, reason="x", record_id="r")  # type: ignore[arg-type]
    with pytest.raises(duckdb.ConstraintException):
        store.upsert_invoices([parse_supplier_invoice(make_invoice(invoice_id="inv-1"))], [broken])
    assert rows(db) == [] and store.count() == 0


def test_reads_of_a_read_only_storage_never_write(tmp_path: Path) -> None:
    DuckDBStorage(tmp_path / "well.duckdb", tmp_path / "a").invoices.upsert_invoices(
        [parse_supplier_invoice(make_invoice(invoice_id="inv-1"))])
    before = (tmp_path / "well.duckdb").read_bytes()
    reader = DuckDBStorage(tmp_path / "well.duckdb", tmp_path / "a", read_only=True).invoices
    assert reader.count() == 1 and reader.get_marker("qonto") is None and reader.unparsed_records() == []
    assert (tmp_path / "well.duckdb").read_bytes() == before
    with pytest.raises(duckdb.Error):
        reader.set_marker("qonto", "x")
