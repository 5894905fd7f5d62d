"""Records released for delivery in any `Storage`, through the same store paths the pipeline uses.

Invoices and scored rows go in as `review_queue.fill_queue` stores them; each record's document (a tiny real
PDF) goes into the storage's document files and its metadata through `InvoiceStore.record_attachments`, so
`OutboxStore.candidates` sees exactly what a real run would.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from well_pipeline.adapters.storage import Storage
from well_pipeline.adapters.storage.records import DeliveryRow, StoredAttachment
from well_pipeline_tests.support.qonto_records import MINIMAL_PDF
from well_pipeline_tests.support.review_queue import fill_queue, record

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
