"""DuckDB storage of invoices: one row per Qonto id, versions on change, untouched rows when unchanged."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from well_pipeline.adapters.qonto.records import RejectedRecord, parse_supplier_invoice
from well_pipeline.adapters.storage import AttachmentStore, Database, InvoiceRepository
from well_pipeline_tests.support.qonto_records import make_invoice

T0 = datetime(2026, 3, 14, 23, 30, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(tmp_path / "well.duckdb")


def rows(con) -> list[tuple]:
    return con.execute(
        "SELECT id, version, total_amount, created_date, last_changed_at FROM qonto_supplier_invoices ORDER BY id"
    ).fetchall()


def test_upsert_is_idempotent_and_versions_changes(db: Database) -> None:
    repo = InvoiceRepository()
    raw = make_invoice(invoice_id="inv-1", created_at=T0)
    with db.connect() as con:
        first = repo.upsert_invoices(con, [parse_supplier_invoice(raw)])
        assert first.new == ["inv-1"]
        before = rows(con)
        again = repo.upsert_invoices(con, [parse_supplier_invoice(dict(raw))])
        assert again.unchanged == ["inv-1"]
        assert rows(con) == before  # not even last_changed_at moved

        edited = dict(raw, total_amount={"value": "99.90", "currency": "EUR"},
                      updated_at=(T0 + timedelta(hours=2)).isoformat())
        changed = repo.upsert_invoices(con, [parse_supplier_invoice(edited)])
        assert changed.changed == ["inv-1"]
        (row,) = rows(con)
        assert row[1] == 2 and row[2] == Decimal("99.90")
        versions = con.execute("SELECT version FROM qonto_supplier_invoice_versions ORDER BY version").fetchall()
        assert versions == [(1,), (2,)]

        # A stale copy (older updated_at, different content) never overwrites the newer row.
        stale = repo.upsert_invoices(con, [parse_supplier_invoice(raw)])
        assert stale.stale == ["inv-1"]
        assert rows(con)[0][2] == Decimal("99.90")


def test_created_date_is_the_utc_day(db: Database) -> None:
    # 00:30 in Paris (+02:00) on the 15th is 22:30 UTC on the 14th: the UTC day decides the partition.
    raw = make_invoice(invoice_id="paris", created_at=datetime(2026, 6, 14, 22, 30, tzinfo=UTC))
    raw["created_at"] = "2026-06-15T00:30:00+02:00"
    with db.connect() as con:
        InvoiceRepository().upsert_invoices(con, [parse_supplier_invoice(raw)])
        assert rows(con)[0][3] == date(2026, 6, 14)


def test_rejects_are_kept_and_counted(db: Database) -> None:
    repo = InvoiceRepository()
    reject = RejectedRecord(raw_text='{"id": "bad", "total_amount": {"value": "12,00"}}',
                            reason="total_amount.value is not a decimal", record_id="bad")
    with db.connect() as con:
        repo.record_rejects(con, [reject])
        repo.record_rejects(con, [reject])
        assert con.execute("SELECT record_id, seen_count, reason FROM qonto_rejected_records").fetchall() == [
            ("bad", 2, "total_amount.value is not a decimal")]
        repo.clear_rejects(con, ["bad"])
        assert con.execute("SELECT count(*) FROM qonto_rejected_records").fetchone()[0] == 0


def test_attachments_needed_skips_stored_and_retries_failures(db: Database, tmp_path: Path) -> None:
    repo = InvoiceRepository()
    store = AttachmentStore(tmp_path / "attachments")
    a = make_invoice(invoice_id="a", attachment_id="att-a", created_at=T0)
    b = make_invoice(invoice_id="b", attachment_id="att-b", created_at=T0)
    with db.connect() as con:
        repo.upsert_invoices(con, [parse_supplier_invoice(a), parse_supplier_invoice(b)])
        day = (date(2026, 3, 14), date(2026, 3, 15))
        assert [n.attachment_id for n in repo.attachments_needed(con, *day)] == ["att-a", "att-b"]
        digest = store.put(b"%PDF-1.4 a")
        repo.record_attachments(con, [("att-a", digest, 10, "application/pdf", "a.pdf",
                                       str(store.relative_path(digest)))])
        repo.record_attachment_failures(con, [("att-b", "b", "HTTP 404 from Qonto")])
        repo.record_attachment_failures(con, [("att-b", "b", "HTTP 404 from Qonto")])
        assert [n.attachment_id for n in repo.attachments_needed(con, *day)] == ["att-b"]
        assert con.execute("SELECT attempts FROM qonto_attachment_failures").fetchone()[0] == 2
        assert repo.range_summary(con, *day)["attachment_missing"] == 1


def test_attachment_store_is_content_addressed(tmp_path: Path) -> None:
    store = AttachmentStore(tmp_path)
    first = store.put(b"same bytes")
    second = store.put(b"same bytes")
    assert first == second
    assert store.read(first) == b"same bytes"
    assert len(list(tmp_path.rglob("*"))) == 4  # sha256/ab/cd/<digest>: three folders and one file
    with pytest.raises(ValueError, match="digest mismatch"):
        store.put(b"other", expected_sha256=first)
