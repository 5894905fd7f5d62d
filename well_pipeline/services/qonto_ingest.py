"""Pull Qonto supplier invoices and their attachments into DuckDB: the use case behind the ingest asset.

It wires adapters together and holds no Dagster objects, so the same code runs from an asset, the CLI or a
benchmark. The order of work is chosen for safety:

1. list the window page by page (network), upserting each page in one short transaction;
2. then download only attachments that are not stored yet (network), committing them in small batches.

A crash at any point loses nothing already committed, and a re-run skips what is already there: unchanged
records are not rewritten and stored attachments are not downloaded again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from well_pipeline.adapters.qonto import (
    AttachmentDownload,
    AttachmentFailure,
    QontoClient,
    RejectedRecord,
    SupplierInvoice,
)
from well_pipeline.adapters.storage import AttachmentNeed, AttachmentStore, Database, InvoiceRepository, UpsertCounts

SYNC_MARKER = "qonto.supplier_invoices.updated_at"
ATTACHMENT_COMMIT_BATCH = 50
MAX_LISTING_PASSES = 3

Log = Callable[[str], None]


@dataclass(frozen=True)
class IngestWindow:
    """What to list from Qonto. `created_*` bound a backfill; `updated_*` bound an incremental sync."""

    created_from: datetime | None = None
    created_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None

    def describe(self) -> str:
        parts = []
        if self.created_from or self.created_to:
            parts.append(f"created_at in [{_iso(self.created_from)}, {_iso(self.created_to)})")
        if self.updated_from or self.updated_to:
            parts.append(f"updated_at in [{_iso(self.updated_from)}, {_iso(self.updated_to)})")
        return " and ".join(parts) or "all records"


@dataclass
class IngestReport:
    window: IngestWindow
    counts: UpsertCounts = field(default_factory=UpsertCounts)
    rejected: int = 0
    rejected_reasons: list[str] = field(default_factory=list)
    unknown_fields: set[str] = field(default_factory=set)
    pages: int = 0
    attachments_needed: int = 0
    attachments_fetched: int = 0
    attachment_bytes: int = 0
    attachments_failed: int = 0
    attachment_failures: list[str] = field(default_factory=list)
    touched_dates: set[date] = field(default_factory=set)
    listing_complete: bool = True
    seconds: float = 0.0


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else "…"


def ingest_supplier_invoices(
    client: QontoClient,
    database: Database,
    attachments: AttachmentStore,
    window: IngestWindow,
    *,
    attachment_scope: tuple[date, date] | None = None,
    max_attachment_bytes: int | None = None,
    log: Log = lambda message: None,
    repository: InvoiceRepository | None = None,
) -> IngestReport:
    """List `window` from Qonto into DuckDB, then fetch missing attachments.

    `attachment_scope` is the [start, end) range of created dates whose missing attachments are fetched;
    by default (a sync) every missing attachment.
    """
    repo = repository or InvoiceRepository()
    report = IngestReport(window=window)
    started = time.monotonic()
    log(f"Listing Qonto supplier invoices: {window.describe()}")
    # Each page and each batch of attachments is written through its own short connection, so the DuckDB
    # write lock is free between them (the CLI and the review queue can write while a long backfill runs).
    for attempt in range(1, MAX_LISTING_PASSES + 1):
        expected, received = _list_once(client, database, repo, window, report, log)
        report.listing_complete = expected is None or received >= expected
        if report.listing_complete:
            break
        # Page-number paging over a set that changed while we read it can skip records (one that left the
        # filter shifts the rest back a slot). Listing again is cheap: unchanged rows are not rewritten.
        log(f"Qonto reported {expected} records but {received} arrived (the list changed while paging); "
            + (f"listing again ({attempt}/{MAX_LISTING_PASSES - 1})" if attempt < MAX_LISTING_PASSES else
               f"still short after {attempt} passes: the sync marker will not move, so the next sync re-reads it"))
    if report.unknown_fields:
        log(f"Qonto sent fields Well does not know (kept in raw_json): {sorted(report.unknown_fields)}")

    with database.connect() as con:
        needs = _attachment_needs(con, repo, attachment_scope)
    report.attachments_needed = len(needs)
    if needs:
        log(f"Fetching {len(needs)} attachments not stored yet")
        _fetch_attachments(client, database, repo, attachments, needs, report, max_attachment_bytes, log)
    report.seconds = time.monotonic() - started
    log(f"Done in {report.seconds:.1f} s: {report.counts.new} new, {report.counts.changed} changed, "
        f"{report.counts.unchanged} unchanged, {report.rejected} rejected; attachments "
        f"{report.attachments_fetched} fetched, {report.attachments_failed} failed")
    return report


def _list_once(client: QontoClient, database: Database, repo: InvoiceRepository, window: IngestWindow,
               report: IngestReport, log: Log) -> tuple[int | None, int]:
    """One pass over the window; returns (records Qonto said the list holds, records received)."""
    expected: int | None = None
    received = 0
    for page in client.iter_supplier_invoice_pages(
        created_at_from=window.created_from,
        created_at_to=window.created_to,
        updated_at_from=window.updated_from,
        updated_at_to=window.updated_to,
    ):
        if expected is None:
            expected = page.total_count
        received += page.received
        invoices = [r for r in page.results if isinstance(r, SupplierInvoice)]
        rejects = [r for r in page.results if isinstance(r, RejectedRecord)]
        with database.connect() as con:
            report.counts.add(repo.upsert_invoices(con, invoices))
            if rejects:
                repo.record_rejects(con, rejects)
            repo.clear_rejects(con, [i.id for i in invoices])
        if rejects:
            report.rejected += len(rejects)
            for reject in rejects[:20 - len(report.rejected_reasons)]:
                report.rejected_reasons.append(f"{reject.record_id or 'unknown id'}: {reject.reason}")
        for invoice in invoices:
            report.unknown_fields.update(invoice.unknown_fields)
            report.touched_dates.add(invoice.created_at.astimezone(UTC).date())
        report.pages += 1
        if report.pages == 1 or report.pages % 10 == 0:
            log(f"page {page.number}/{page.total_pages or '?'}: {report.counts.seen} records "
                f"({report.counts.new} new, {report.counts.changed} changed), {report.rejected} rejected")
    return expected, received


def _attachment_needs(con, repo: InvoiceRepository, scope: tuple[date, date] | None) -> list[AttachmentNeed]:
    """Missing attachments of the scope's days; without a scope (a sync), every missing one, so a failed
    download is retried on the next sync whatever day its invoice belongs to."""
    start, end = scope if scope is not None else (date.min, date.max)
    return repo.attachments_needed(con, start, end)


def _fetch_attachments(
    client: QontoClient,
    database: Database,
    repo: InvoiceRepository,
    store: AttachmentStore,
    needs: list[AttachmentNeed],
    report: IngestReport,
    max_bytes: int | None,
    log: Log,
) -> None:
    invoice_of = {n.attachment_id: n.invoice_id for n in needs}
    stored: list[tuple[str, str, int, str | None, str | None, str]] = []
    failed: list[tuple[str, str | None, str]] = []
    done = 0
    step = max(len(needs) // 10, ATTACHMENT_COMMIT_BATCH)

    def flush() -> None:
        with database.connect() as con:
            repo.record_attachments(con, stored)
            repo.record_attachment_failures(con, failed)
        stored.clear()
        failed.clear()

    results: Iterable[AttachmentDownload | AttachmentFailure] = client.fetch_attachments(
        [n.attachment_id for n in needs], max_bytes=max_bytes
    )
    for result in results:
        done += 1
        if isinstance(result, AttachmentDownload):
            digest = store.put(result.content, expected_sha256=result.sha256)
            stored.append((result.attachment_id, digest, result.size, result.content_type, result.file_name,
                           str(store.relative_path(digest))))
            report.attachments_fetched += 1
            report.attachment_bytes += result.size
        else:
            failed.append((result.attachment_id, invoice_of.get(result.attachment_id), result.reason))
            report.attachments_failed += 1
            if len(report.attachment_failures) < 20:
                report.attachment_failures.append(f"{result.attachment_id}: {result.reason}")
        if len(stored) + len(failed) >= ATTACHMENT_COMMIT_BATCH:
            flush()
        if done % step == 0:
            log(f"attachments {done}/{len(needs)} ({report.attachments_failed} failed)")
    flush()
