"""The `qonto_supplier_invoices` asset: Qonto supplier invoices and their documents, in DuckDB.

Two ways to run it, one code path:
- a partition or a range (a backfill; one run for the whole range) lists records by creation date;
- a run tagged `well/sync=incremental` (launched by the 15-minute sensor) lists records updated since the
  sync marker, minus a small overlap, and moves the marker forward only when the run succeeds (the marker's
  rules: services/sync_marker.py).
Either way rows are keyed on the Qonto id, so any re-run or overlap updates rows instead of duplicating them.
"""


from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd

from well_pipeline.adapters.storage.records import InvoicePreview, RangeSummary
from well_pipeline.defs.qonto.partitions import qonto_daily_partitions
from well_pipeline.defs.resources import QontoResource, WellStorageResource
from well_pipeline.services import sync_marker
from well_pipeline.services.qonto_ingest import IngestReport, IngestWindow, ingest_supplier_invoices

SYNC_TAG = "well/sync"
INCREMENTAL = "incremental"


@dg.asset(
    partitions_def=qonto_daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="duckdb",
    group_name="qonto",
    kinds={"duckdb", "python"},
    owners=["team:finance-ops"],
    metadata={"table": "qonto_supplier_invoices", "partition_expr": "created_date"},
)
def qonto_supplier_invoices(
    context: dg.AssetExecutionContext, qonto: QontoResource, storage: WellStorageResource
) -> dg.MaterializeResult:
    """Supplier invoices and their attachments from Qonto, one current row per Qonto record id."""
    window = context.partition_time_window
    start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
    store = storage.storage()
    incremental = context.run.tags.get(SYNC_TAG) == INCREMENTAL
    sync_started = datetime.now(UTC).replace(microsecond=0)

    if incremental:
        ingest_window = sync_marker.incremental_window(store.invoices, qonto.sync_overlap_minutes, sync_started)
    else:
        # A backfill lists by creation date. Bounds are widened by a minute on each side because Qonto does not
        # document whether they are inclusive; extra records are harmless (keyed on id, placed by their own date).
        ingest_window = IngestWindow(created_from=start - timedelta(minutes=1), created_to=end + timedelta(minutes=1))

    with qonto.build_client() as client:
        report = ingest_supplier_invoices(
            client,
            store.invoices,
            store.documents,
            ingest_window,
            attachment_scope=None if incremental else (start.date(), end.date()),
            max_attachment_bytes=qonto.attachment_max_mb * 1024 * 1024,
            log=context.log.info,
            warn=context.log.warning,  # paging shifts, re-listing and split windows belong in the event log
        )
        stats = client.stats.as_dict()
        offset = client.server_clock_offset_s
        stats["server_clock_offset_s"] = offset

    # The marker moves only now that every page and attachment of this window is committed.
    if incremental and sync_marker.advance_after_sync(store.invoices, sync_started=sync_started,
                                                      server_offset_s=offset,
                                                      listing_complete=report.listing_complete) is None:
        context.log.warning("The listing did not reconcile with Qonto's count: the sync marker stays where it "
                            "was, so the next sync reads this window again.")
    summary = store.invoices.range_summary(start.date(), end.date())
    preview = store.invoices.preview(start.date(), end.date())
    return dg.MaterializeResult(metadata=_metadata(report, summary, preview, stats, storage, incremental))


def preview_table(rows: list[InvoicePreview]) -> str:
    """The preview as a Markdown table (a frame typed as DuckDB hands it to pandas, so cells read as before)."""
    frame = pd.DataFrame([vars(row) for row in rows])
    for column in ("created_at", "due_date"):
        frame[column] = pd.to_datetime(frame[column])
    frame["total_amount"] = frame["total_amount"].astype("float64")
    return frame.astype(str).to_markdown(index=False)


def _metadata(report: IngestReport, summary: RangeSummary, preview: list[InvoicePreview], stats: dict,
              storage: WellStorageResource, incremental: bool) -> dict[str, dg.MetadataValue | int | float | str]:
    metadata: dict[str, dg.MetadataValue | int | float | str] = {
        "mode": "incremental sync" if incremental else "partition range",
        "qonto_window": report.window.describe(),
        "rows": dg.MetadataValue.int(summary.rows),
        "records_seen": report.counts.seen,
        "new": report.counts.new,
        "changed": report.counts.changed,
        "unchanged": report.counts.unchanged,
        "stale_copies_ignored": report.counts.stale,
        "rejected": report.rejected,
        "attachments_fetched": report.attachments_fetched,
        "attachment_mb": round(report.attachment_bytes / 1_048_576, 2),
        "attachments_failed": report.attachments_failed,
        "attachments_missing_in_range": summary.attachment_missing,
        "incomplete_ocr_rows": summary.incomplete_ocr,
        "pages": report.pages,
        "listing_reconciled": report.listing_complete,
        "seconds": round(report.seconds, 2),
        "storage_region": storage.storage_region,
        "duckdb_path": dg.MetadataValue.path(storage.duckdb_path),
    }
    if stats.get("server_clock_offset_s") is not None:
        metadata["qonto_clock_offset_s"] = round(stats["server_clock_offset_s"], 1)
    for key in ("requests", "retries", "rate_limited"):
        if key in stats:
            metadata[f"qonto_{key}"] = int(stats[key])
    if report.rejected_reasons:
        metadata["rejected_reasons"] = dg.MetadataValue.md("\n".join(f"- {r}" for r in report.rejected_reasons))
    if report.attachment_failures:
        metadata["attachment_failures"] = dg.MetadataValue.md(
            "\n".join(f"- {r}" for r in report.attachment_failures))
    if report.unknown_fields:
        metadata["unknown_qonto_fields"] = ", ".join(sorted(report.unknown_fields))
    if preview:
        metadata["preview"] = dg.MetadataValue.md(preview_table(preview))
    return metadata
