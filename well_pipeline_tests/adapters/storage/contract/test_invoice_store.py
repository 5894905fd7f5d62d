"""`InvoiceStore` contract: one row per Qonto id (versions on change, stale copies ignored), rejects kept until the
record parses, documents needed/stored/failed, named markers, and the reports the asset and its checks read."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from well_pipeline.adapters.qonto.records import RejectedRecord, SupplierInvoice, parse_supplier_invoice
from well_pipeline.adapters.storage import AttachmentNeed, Storage
from well_pipeline.adapters.storage.records import (
    AttachmentDigest,
    FailedAttachment,
    MissingDocument,
    RangeSummary,
    StoredAttachment,
    UnparsedRecord,
)
from well_pipeline_tests.support.qonto_records import make_invoice
from well_pipeline_tests.support.waiting import wait_until

T0 = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
DAY = (date(2026, 3, 14), date(2026, 3, 15))


def invoice(invoice_id: str, *, attachment: str | None = "", **fields) -> SupplierInvoice:
    """A parsed invoice created at T0; `attachment`: its document's id ("": a fresh one; None: Qonto has none)."""
    raw = make_invoice(invoice_id=invoice_id, attachment_id=attachment or None, **{"created_at": T0, **fields})
    if attachment is None:
        raw["attachment_id"] = None
    return parse_supplier_invoice(raw)


def document(attachment_id: str, sha256: str = "ab" * 32, size: int = 10) -> StoredAttachment:
    return StoredAttachment(attachment_id, sha256, size, "application/pdf", f"{attachment_id}.pdf",
                            f"sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}")


def test_an_empty_store_reports_nothing(storage: Storage) -> None:
    store = storage.invoices
    assert store.count() == 0 and store.preview(*DAY) == [] and store.attachments_needed(*DAY) == []
    assert store.range_summary(*DAY) == RangeSummary(rows=0, with_attachment=0, attachment_missing=0,
                                                     incomplete_ocr=0)
    assert store.unparsed_records() == [] and store.attachment_digests() == [] and store.missing_documents() == []
    assert store.count_without_attachment() == 0 and store.get_marker("any") is None


def test_one_row_per_id_a_new_version_on_change_and_stale_copies_ignored(storage: Storage) -> None:
    store = storage.invoices
    raw = make_invoice(invoice_id="inv-1", created_at=T0)
    assert store.upsert_invoices([parse_supplier_invoice(raw)]).new == ["inv-1"]
    assert store.upsert_invoices([parse_supplier_invoice(dict(raw))]).unchanged == ["inv-1"]
    (row,) = store.preview(*DAY)
    assert (row.version, row.total_amount) == (1, Decimal("1234.56"))

    edited = dict(raw, total_amount={"value": "99.90", "currency": "EUR"},
                  updated_at=(T0 + timedelta(hours=2)).isoformat())
    assert store.upsert_invoices([parse_supplier_invoice(edited)]).changed == ["inv-1"]
    (row,) = store.preview(*DAY)
    assert (row.version, row.total_amount) == (2, Decimal("99.90"))

    # An older copy with other content (a late page, an overlapping window) never overwrites the newer row.
    assert store.upsert_invoices([parse_supplier_invoice(raw)]).stale == ["inv-1"]
    (row,) = store.preview(*DAY)
    assert (row.version, row.total_amount) == (2, Decimal("99.90"))
    assert store.count() == 1


def test_the_same_id_twice_in_one_page_keeps_the_newest(storage: Storage) -> None:
    older = make_invoice(invoice_id="inv-1", created_at=T0, invoice_number="OLD")
    newer = dict(older, invoice_number="NEW", updated_at=(T0 + timedelta(hours=1)).isoformat())
    storage.invoices.upsert_invoices([parse_supplier_invoice(newer), parse_supplier_invoice(older)])
    (row,) = storage.invoices.preview(*DAY)
    assert row.invoice_number == "NEW" and row.version == 1


def test_an_invoice_belongs_to_its_utc_creation_day(storage: Storage) -> None:
    # 00:30 in Paris (+02:00) on the 15th is 22:30 UTC on the 14th: the UTC day decides the partition.
    raw = make_invoice(invoice_id="paris", created_at=datetime(2026, 6, 14, 22, 30, tzinfo=UTC))
    raw["created_at"] = "2026-06-15T00:30:00+02:00"
    storage.invoices.upsert_invoices([parse_supplier_invoice(raw)])
    assert storage.invoices.range_summary(date(2026, 6, 14), date(2026, 6, 15)).rows == 1
    assert storage.invoices.range_summary(date(2026, 6, 15), date(2026, 6, 16)).rows == 0
    (row,) = storage.invoices.preview(date(2026, 6, 14), date(2026, 6, 15))
    assert row.created_at == datetime(2026, 6, 14, 22, 30)  # naive UTC, as stored


def test_rejects_are_kept_once_and_cleared_when_the_record_parses(storage: Storage) -> None:
    store = storage.invoices
    bad = RejectedRecord(raw_text='{"id": "bad", "total_amount": {"value": "12,00"}}',
                         reason="total_amount.value is not a decimal", record_id="bad")
    anonymous = RejectedRecord(raw_text='{"total_amount": 1}', reason="no id", record_id=None)
    assert store.upsert_invoices([], [bad]).new == []
    store.upsert_invoices([], [bad, anonymous])
    rejects = store.unparsed_records()
    assert len(rejects) == 2  # "bad" seen twice, kept once
    assert UnparsedRecord("bad", "total_amount.value is not a decimal") in rejects
    (unnamed,) = [r.key for r in rejects if r.key != "bad"]
    assert unnamed.startswith("sha256:")  # a record without an id is kept under its content's digest

    # The same record served again, now parseable: stored, and no longer a reject.
    store.upsert_invoices([invoice("bad")])
    assert [r.key for r in store.unparsed_records()] == [unnamed]
    assert store.count() == 1


def test_documents_needed_stored_and_failed(storage: Storage) -> None:
    store = storage.invoices
    store.upsert_invoices([invoice("a", attachment="att-a"), invoice("b", attachment="att-b"),
                           invoice("c", attachment=None), invoice("a2", attachment="att-a")])
    assert store.attachments_needed(*DAY) == [AttachmentNeed("att-a", "a"), AttachmentNeed("att-b", "b")]
    assert store.attachments_needed(date(2026, 3, 15), date(2026, 3, 16)) == []
    assert store.count_without_attachment() == 1

    store.record_attachments([document("att-a")], [FailedAttachment("att-b", "b", "HTTP 404 from Qonto")])
    store.record_attachments([], [FailedAttachment("att-b", "b", "download deadline passed")])
    # A failed document is needed again (retried on the next run); a stored one is not.
    assert store.attachments_needed(*DAY) == [AttachmentNeed("att-b", "b")]
    assert store.missing_documents() == [MissingDocument("b", "download deadline passed")]
    assert store.attachment_digests() == [AttachmentDigest("att-a", "ab" * 32, 10)]
    assert store.range_summary(*DAY) == RangeSummary(rows=4, with_attachment=2, attachment_missing=1,
                                                     incomplete_ocr=0)

    # Storing it later forgets the failure; a document stored already keeps its first record.
    store.record_attachments([document("att-b", "cd" * 32, 20), document("att-a", "ef" * 32, 30)])
    assert store.attachments_needed(*DAY) == [] and store.missing_documents() == []
    assert store.attachment_digests() == [AttachmentDigest("att-a", "ab" * 32, 10),
                                          AttachmentDigest("att-b", "cd" * 32, 20)]


def test_a_document_not_tried_yet_is_missing_without_a_reason(storage: Storage) -> None:
    storage.invoices.upsert_invoices([invoice("a", attachment="att-a")])
    assert storage.invoices.missing_documents() == [MissingDocument("a", None)]


def test_incomplete_ocr_counts_invoices_missing_a_field_scoring_needs(storage: Storage) -> None:
    storage.invoices.upsert_invoices([invoice("full"), invoice("no-name", supplier_name=None),
                                      invoice("no-due", due_date=None), invoice("no-amount", total_amount=None)])
    assert storage.invoices.range_summary(*DAY).incomplete_ocr == 3


def test_preview_is_newest_first_and_limited(storage: Storage) -> None:
    storage.invoices.upsert_invoices([invoice(f"inv-{n}", created_at=T0 + timedelta(hours=n)) for n in range(3)])
    rows = storage.invoices.preview(*DAY, limit=2)
    assert [r.id for r in rows] == ["inv-2", "inv-1"]
    first = rows[0]
    assert (first.status, first.supplier_name, first.invoice_number, first.currency) == (
        "to_review", "Papeterie Dupont SARL", "INV-2026-0001", "EUR")
    assert first.created_at == datetime(2026, 3, 14, 11, 30) and first.due_date == date(2026, 4, 13)


def test_named_markers_are_kept_apart_and_overwritten(storage: Storage) -> None:
    store = storage.invoices
    store.set_marker("qonto.sync", "2026-03-14T09:30:00+00:00")
    store.set_marker("other", "x")
    store.set_marker("qonto.sync", "2026-03-14T10:00:00+00:00")
    assert store.get_marker("qonto.sync") == "2026-03-14T10:00:00+00:00" and store.get_marker("other") == "x"


# ---- what each `qonto_supplier_invoices` partition shows (issue 10) ------------------------------------------------
def test_day_summaries_count_each_day_holding_invoices(storage: Storage) -> None:
    store = storage.invoices
    store.upsert_invoices([invoice("a", attachment="att-a"), invoice("b", supplier_name=None),
                           invoice("next", created_at=T0 + timedelta(days=1), attachment=None)])
    store.record_attachments([document("att-a")])
    empty = date(2026, 3, 20)
    summaries = store.day_summaries([DAY[0], DAY[1], empty])
    assert summaries == {
        DAY[0]: RangeSummary(rows=2, with_attachment=1, attachment_missing=1, incomplete_ocr=1),
        DAY[1]: RangeSummary(rows=1, with_attachment=0, attachment_missing=0, incomplete_ocr=0),
    }  # a day without invoices is absent, not zero
    assert summaries[DAY[0]] == store.range_summary(*DAY)  # the same counts as the range, for one day
    assert store.day_summaries([]) == {}


def test_days_changed_since_are_the_days_an_ingest_rewrote(storage: Storage) -> None:
    store = storage.invoices
    store.upsert_invoices([invoice("a", attachment="att-a"), invoice("old", created_at=T0 - timedelta(days=5))])
    future = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=1)
    assert store.days_changed_since(future) == []  # nothing written after that moment
    # Stored times are whole seconds (a row written in the second `moment` falls in counts: the safe side), so
    # start in the next second.
    written = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    start = wait_until(lambda: (now := datetime.now(UTC).replace(tzinfo=None, microsecond=0)) > written and now,
                       message="the clock to reach the next second")
    assert store.upsert_invoices([invoice("a", attachment="att-a")]).unchanged == ["a"]  # not rewritten
    assert store.days_changed_since(start + timedelta(seconds=1)) == []
    store.upsert_invoices([invoice("new", created_at=T0 + timedelta(days=2))])
    store.record_attachments([document("att-a")])  # a document arriving changes its invoice's day too
    changed = store.days_changed_since(start)
    assert changed == [DAY[0], date(2026, 3, 16)]
    assert date(2026, 3, 9) not in changed  # "old" was written before `start`
