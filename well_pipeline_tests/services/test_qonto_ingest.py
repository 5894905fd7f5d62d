"""The ingest use case re-lists a window when records went missing while paging (the list changed under it)."""

from __future__ import annotations

from pathlib import Path

from well_pipeline.adapters.qonto import InvoicePage, parse_supplier_invoice
from well_pipeline.adapters.storage import AttachmentStore, Database
from well_pipeline.services.qonto_ingest import IngestWindow, ingest_supplier_invoices
from well_pipeline_tests.support.qonto_records import make_invoice


class ShiftingListing:
    """Stands in for Qonto's page-number listing: the first pass loses one record to a page shift."""

    def __init__(self, records: list[dict]) -> None:
        self.records = [parse_supplier_invoice(r) for r in records]
        self.passes = 0

    def iter_supplier_invoice_pages(self, **_window):
        self.passes += 1
        seen = self.records[:-1] if self.passes == 1 else self.records
        yield InvoicePage(1, len(self.records), list(seen), 1, None, len(seen))

    def fetch_attachments(self, ids, max_bytes=None):
        return iter(())


def test_missing_records_trigger_a_second_listing(tmp_path: Path) -> None:
    listing = ShiftingListing([make_invoice(invoice_id=f"i-{n}", attachment_id=None) for n in range(3)])
    messages: list[str] = []
    report = ingest_supplier_invoices(listing, Database(tmp_path / "db.duckdb"), AttachmentStore(tmp_path / "a"),
                                      IngestWindow(), log=messages.append)
    assert listing.passes == 2
    assert report.counts.new == 3 and report.counts.unchanged == 2
    assert any("listing again" in m for m in messages)


class AlwaysShort(ShiftingListing):
    def iter_supplier_invoice_pages(self, **_window):
        self.passes += 1
        yield InvoicePage(1, len(self.records), self.records[:-1], 1, None, len(self.records) - 1)


def test_a_listing_that_never_reconciles_is_reported_incomplete(tmp_path: Path) -> None:
    listing = AlwaysShort([make_invoice(invoice_id=f"i-{n}", attachment_id=None) for n in range(3)])
    report = ingest_supplier_invoices(listing, Database(tmp_path / "db.duckdb"), AttachmentStore(tmp_path / "a"),
                                      IngestWindow())
    assert listing.passes == 3
    assert report.listing_complete is False  # the asset then keeps the sync marker where it was
