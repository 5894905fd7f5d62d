"""Records released for delivery in any `Storage`, through the same store paths the pipeline uses.

Invoices and scored rows go in as `review_queue.fill_queue` stores them; each record's document (a tiny real
PDF) goes into the storage's document files and its metadata through `InvoiceStore.record_attachments`, so
`OutboxStore.candidates` sees exactly what a real run would.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta
from typing import Any

from well_pipeline.adapters.storage import Storage
from well_pipeline.adapters.storage.records import DeliveryRow, ScoredRow, StoredAttachment
from well_pipeline_tests.support.qonto_records import MINIMAL_PDF
from well_pipeline_tests.support.review_queue import created_day, fill_queue, record, store_invoices

DAY, NEXT_DAY = date(2026, 3, 14), date(2026, 3, 15)  # review_queue.T0 is 2026-03-14 09:30 UTC


def release_records(storage: Storage, *specs: tuple[str, str, int], without_document: Collection[str] = ()
                    ) -> dict[str, DeliveryRow]:
    """Store (qonto_id, decision, hours after T0) records with their scored rows (invoice number `F-<id>`) and
    their documents (none for the ids in `without_document`); returns the candidates of DAY and NEXT_DAY by id.

    Scored days are replaced as a whole (as scoring does): state every record of a day in one call."""
    fill_queue(storage, [record(qonto_id, decision=decision, hours=hours, invoice_number=f"F-{qonto_id}")
                         for qonto_id, decision, hours in specs])
    sha = storage.documents.put(MINIMAL_PDF)
    storage.invoices.record_attachments([
        StoredAttachment(f"att-{qonto_id}", sha, len(MINIMAL_PDF), "application/pdf", f"{qonto_id}.pdf",
                         str(storage.documents.relative_path(sha)))
        for qonto_id, _, _ in specs if qonto_id not in without_document])
    return {row.qonto_id: row for row in storage.outbox.candidates([DAY, NEXT_DAY])}


def change_record(storage: Storage, qonto_id: str, hours: int, version: int, decision: str = "auto_link",
                  **fields: Any) -> None:
    """Qonto changes a record `release_records` stored (its `fields`, a day later per version) and scoring scores
    the new `version` with `decision`. Its day's scored rows are replaced: the record must be alone on its day."""
    raw, match = record(qonto_id, decision=decision, hours=hours, invoice_number=f"F-{qonto_id}")
    updated = datetime.fromisoformat(raw["updated_at"]) + timedelta(days=version - 1)
    store_invoices(storage, [{**raw, **fields, "updated_at": updated.isoformat()}])
    day = created_day(raw)
    storage.matches.replace_days([day], [ScoredRow(match, day, version)])
