"""Pull Qonto supplier invoices and their attachments into storage: the use case behind the ingest asset.

It wires adapters together and holds no Dagster objects, so the same code runs from an asset, the CLI or a
benchmark. The order of work is chosen for safety:

1. list the window page by page (network), upserting each page in one short transaction, until the distinct
   ids received reconcile with Qonto's count (re-listing or splitting the window, see qonto_listing.py);
2. then download only attachments that are not stored yet (network), committing them in small batches;
3. only then fail the run if a window never reconciled (`ListingIncompleteError`) or the file host kept
   answering past the request deadline (`QontoTimeoutError`): the caller keeps its sync marker.

A crash at any point loses nothing already committed, and a re-run skips what is already there: unchanged
records are not rewritten and stored attachments are not downloaded again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import islice, takewhile

from well_pipeline.adapters.qonto import (
    AttachmentDownload,
    AttachmentFailure,
    QontoClient,
    QontoTimeoutError,
    RejectedRecord,
    SupplierInvoice,
)
from well_pipeline.adapters.storage import AttachmentNeed, AttachmentStore, InvoiceStore, UpsertCounts
from well_pipeline.adapters.storage.records import FailedAttachment, StoredAttachment
from well_pipeline.services.progress import DEFAULT_PACE, Pace, Progress, size
from well_pipeline.services.qonto_listing import ListingIncompleteError, ListingTally, list_until_reconciled

ATTACHMENT_COMMIT_BATCH = 50

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
    # Malformed optional fields by record id: the record is kept (raw_json), this says what looked wrong.
    field_warnings: dict[str, str] = field(default_factory=dict)
    pages: int = 0
    attachments_needed: int = 0
    attachments_fetched: int = 0
    attachment_bytes: int = 0
    attachments_failed: int = 0
    attachment_failures: list[str] = field(default_factory=list)
    touched_dates: set[date] = field(default_factory=set)  # creation days of records stored new or changed
    listing_complete: bool = True
    listing_passes: int = 0  # passes over the window or its halves (1 when the first reconciled)
    windows_split: int = 0
    seconds: float = 0.0


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else "…"


def ingest_supplier_invoices(
    client: QontoClient,
    invoices: InvoiceStore,
    attachments: AttachmentStore,
    window: IngestWindow,
    *,
    attachment_scope: tuple[date, date] | None = None,
    max_attachment_bytes: int | None = None,
    log: Log = lambda message: None,
    warn: Log | None = None,
    pace: Pace = DEFAULT_PACE,
) -> IngestReport:
    """List `window` from Qonto into `invoices`, then fetch missing attachments into `attachments`.

    `attachment_scope` is the [start, end) range of created dates whose missing attachments are fetched;
    by default (a sync) every missing attachment. `log` gets progress, `warn` (default: `log`) what an
    operator should see: the list changing while paging, re-listing, split windows.
    Raises `ListingIncompleteError` (carrying the report) when a window never reconciled with Qonto's count,
    and `QontoTimeoutError` when Qonto kept answering past the request deadline; both after storing what
    arrived, so the caller's sync marker stays and the next sync reads the window again.
    A rate-limit wait of 2 s or more goes to `log` too, with the time left (a long backfill otherwise stalls
    silently for minutes); the stalled time is `client.stats.limiter_wait_s`. Progress lines (pages and records
    listed, then attachments fetched, with the time left: services/progress.py) go to `log` at `pace`.
    """
    client.report_limiter_waits(log)
    try:
        return _ingest(client, invoices, attachments, window, attachment_scope=attachment_scope,
                       max_attachment_bytes=max_attachment_bytes, log=log, warn=warn or log, pace=pace)
    finally:
        client.report_limiter_waits(None)  # the client is the caller's: leave no log of this call attached


def _ingest(client: QontoClient, invoices: InvoiceStore, attachments: AttachmentStore, window: IngestWindow, *,
            attachment_scope: tuple[date, date] | None, max_attachment_bytes: int | None, log: Log,
            warn: Log, pace: Pace) -> IngestReport:
    report = IngestReport(window=window)
    started = time.monotonic()
    log(f"Listing Qonto supplier invoices: {window.describe()}")
    # Each page and each batch of attachments is one short write of the store (its own connection), so the
    # database is free between them (the CLI and the review queue can write while a long backfill runs).
    # Pages: the `total_pages` of each pass's first page (a re-listed or split window adds its own pages).
    with pace.track("ingest listing", "pages", 0, log, detail=lambda: _listed(report)) as pages:
        outcome = list_until_reconciled(
            window, lambda part: _list_once(client, invoices, part, report, pages, warn), warn=warn)
    report.listing_complete = outcome.complete
    report.listing_passes, report.windows_split = outcome.passes, outcome.windows_split
    if report.unknown_fields:
        log(f"Qonto sent fields Well does not know (kept in raw_json): {sorted(report.unknown_fields)}")
    if report.field_warnings:
        examples = "; ".join(f"{i}: {w}" for i, w in islice(report.field_warnings.items(), 20))
        log(f"Malformed optional fields on {len(report.field_warnings)} record(s), kept as sent in raw_json "
            f"(the records are stored and scored): {examples}")

    needs = _attachment_needs(invoices, attachment_scope)
    report.attachments_needed = len(needs)
    if needs:
        log(f"Fetching {len(needs)} attachments not stored yet")
        with pace.track("ingest attachments", "attachments", len(needs), log,
                        detail=lambda: f"{size(report.attachment_bytes)}, {report.attachments_failed:,} failed"
                        ) as fetched:
            _fetch_attachments(client, invoices, attachments, needs, report, max_attachment_bytes, fetched)
    report.seconds = time.monotonic() - started
    log(f"Done in {report.seconds:.1f} s: {report.counts.new} new, {report.counts.changed} changed, "
        f"{report.counts.unchanged} unchanged, {report.rejected} rejected; attachments "
        f"{report.attachments_fetched} fetched, {report.attachments_failed} failed")
    if not report.listing_complete:
        raise ListingIncompleteError(
            f"The Qonto listing did not reconcile with Qonto's count for {'; '.join(outcome.short_windows)} after "
            f"{outcome.passes} passes: records may be missing. Everything received is stored; the sync marker "
            "stays, so the next sync reads this window again.", report)
    return report


def _listed(report: IngestReport) -> str:
    """The listing's counts for its progress lines."""
    return (f"{report.counts.seen:,} records ({report.counts.new:,} new, {report.counts.changed:,} changed, "
            f"{report.rejected:,} rejected)")


def _list_once(client: QontoClient, store: InvoiceStore, window: IngestWindow, report: IngestReport,
               pages: Progress, warn: Log) -> ListingTally:
    """One pass over the window, each page stored as it arrives; returns what arrived, to reconcile."""
    tally = ListingTally.for_window(window)
    first = True
    for page in client.iter_supplier_invoice_pages(
        created_at_from=window.created_from,
        created_at_to=window.created_to,
        updated_at_from=window.updated_from,
        updated_at_to=window.updated_to,
        warn=warn,
    ):
        if first:  # this pass's pages (a pass serves one page at least, even when Qonto counts none)
            pages.grow(None if page.total_pages is None else max(page.total_pages, 1))
            first = False
        tally.add(page)
        invoices = [r for r in page.results if isinstance(r, SupplierInvoice)]
        rejects = [r for r in page.results if isinstance(r, RejectedRecord)]
        changes = store.upsert_invoices(invoices, rejects)
        report.counts.add(changes)
        rewritten = {*changes.new, *changes.changed}
        if rejects:
            report.rejected += len(rejects)
            for reject in rejects[:20 - len(report.rejected_reasons)]:
                report.rejected_reasons.append(f"{reject.record_id or 'unknown id'}: {reject.reason}")
        for invoice in invoices:
            report.unknown_fields.update(invoice.unknown_fields)
            if invoice.field_warnings:
                report.field_warnings[invoice.id] = ", ".join(invoice.field_warnings)
            if invoice.id in rewritten:  # the overlap re-lists unchanged records: their days need no new score
                report.touched_dates.add(invoice.created_at.astimezone(UTC).date())
        report.pages += 1
        pages.advance()
    return tally


def _attachment_needs(store: InvoiceStore, scope: tuple[date, date] | None) -> list[AttachmentNeed]:
    """Missing attachments of the scope's days; without a scope (a sync), every missing one, so a failed
    download is retried on the next sync whatever day its invoice belongs to."""
    start, end = scope if scope is not None else (date.min, date.max)
    return store.attachments_needed(start, end)


def _fetch_attachments(
    client: QontoClient,
    invoices: InvoiceStore,
    store: AttachmentStore,
    needs: list[AttachmentNeed],
    report: IngestReport,
    max_bytes: int | None,
    progress: Progress,
) -> None:
    invoice_of = {n.attachment_id: n.invoice_id for n in needs}
    stored: list[StoredAttachment] = []
    failed: list[FailedAttachment] = []
    done = 0

    def flush() -> None:
        invoices.record_attachments(stored, failed)
        stored.clear()
        failed.clear()

    # After a download ran out of its deadline, no new download starts (every one would wait deadline x attempts
    # on a file host this slow); those already in flight end by their own deadline and are kept.
    slow: list[AttachmentFailure] = []
    ids = takewhile(lambda _: not slow, (n.attachment_id for n in needs))
    results: Iterable[AttachmentDownload | AttachmentFailure] = client.fetch_attachments(ids, max_bytes=max_bytes)
    for result in results:
        done += 1
        _take_attachment(result, store, stored, failed, invoice_of, report)
        if isinstance(result, AttachmentFailure) and result.deadline_hit:
            slow.append(result)
        if len(stored) + len(failed) >= ATTACHMENT_COMMIT_BATCH:
            flush()
        progress.advance()
    flush()
    if slow:
        # Fail the run (the caller keeps its marker); the failures are recorded and retried by the next sync.
        raise QontoTimeoutError(f"Attachment {slow[0].attachment_id}: {slow[0].reason}"
                                + (f" (and {len(slow) - 1} more)" if len(slow) > 1 else "")
                                + f"; {len(needs) - done} downloads not started")


def _take_attachment(result: AttachmentDownload | AttachmentFailure, store: AttachmentStore,
                     stored: list[StoredAttachment], failed: list[FailedAttachment], invoice_of: dict[str, str],
                     report: IngestReport) -> None:
    """Store one download (or note one failure) for the next batch commit."""
    if isinstance(result, AttachmentDownload):
        digest = store.put(result.content, expected_sha256=result.sha256)
        stored.append(StoredAttachment(result.attachment_id, digest, result.size, result.content_type,
                                       result.file_name, str(store.relative_path(digest))))
        report.attachments_fetched += 1
        report.attachment_bytes += result.size
    else:
        failed.append(FailedAttachment(result.attachment_id, invoice_of.get(result.attachment_id), result.reason))
        report.attachments_failed += 1
        if len(report.attachment_failures) < 20:
            report.attachment_failures.append(f"{result.attachment_id}: {result.reason}")
