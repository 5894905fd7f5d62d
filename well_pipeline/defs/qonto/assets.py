"""`qonto_supplier_invoices`: Qonto supplier invoices and their documents in DuckDB, one partition per creation day.

The asset is materialised by the pipeline step (`defs/pipeline/`): the `invoice_pipeline` multi-asset (a
partition or a range from the UI, listed by creation date) and `qonto_sync_job__<ws>` (records Qonto updated in a window
the sync sensor passes). This module holds what is specific to it: its spec, what each day's partition shows
(`ingest_day_metadata`, from the store) and the run's summary (`ingest_summary`).
Rows are keyed on the Qonto id, so any re-run or overlap updates rows instead of duplicating them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import dagster as dg
import pandas as pd

from well_pipeline.adapters.storage import Storage
from well_pipeline.adapters.storage.records import InvoicePreview
from well_pipeline.defs.resources import WellStorageResource
from well_pipeline.defs.workspace.names import WorkspaceNames
from well_pipeline.services.qonto_ingest import IngestReport


def qonto_supplier_invoices_spec(names: WorkspaceNames, store: str = "duckdb") -> dg.AssetSpec:
    """The workspace's asset as its pipeline multi-asset declares it (`store`: the storage backend, its kind)."""
    return dg.AssetSpec(
        names.invoices,
        description="Supplier invoices and their attachments from Qonto, one current row per Qonto record id; "
                    "one partition per UTC creation day.",
        group_name=names.group,
        tags=names.stage_tags("qonto"),
        kinds={store, "python"},
        owners=["team:finance-ops"],
        metadata={"table": "qonto_supplier_invoices", "partition_expr": "created_date"},
        skippable=True,
    )


# A partition range's day without invoices (see PipelineStep._complete_range): the keys of `ingest_day_metadata`.
EMPTY_INGEST_DAY: dict[str, int] = {"rows": 0, "with_document": 0, "document_missing": 0, "incomplete_ocr_rows": 0}


def ingest_day_metadata(store: Storage, days: Sequence[date]) -> dict[date, dict[str, int]]:
    """What each of `days` holding invoices shows on its partition: that day's own rows (a day without any is
    absent: it stays missing)."""
    return {day: {"rows": summary.rows, "with_document": summary.with_attachment,
                  "document_missing": summary.attachment_missing, "incomplete_ocr_rows": summary.incomplete_ocr}
            for day, summary in store.invoices.day_summaries(days).items()}


def preview_table(rows: list[InvoicePreview]) -> str:
    """The preview as a Markdown table (a frame typed as DuckDB hands it to pandas, so cells read as before)."""
    frame = pd.DataFrame([vars(row) for row in rows])
    for column in ("created_at", "due_date"):
        frame[column] = pd.to_datetime(frame[column])
    frame["total_amount"] = frame["total_amount"].astype("float64")
    return frame.astype(str).to_markdown(index=False)


def ingest_summary(report: IngestReport, stats: dict, storage: WellStorageResource, *, mode: str,
                   days_materialized: int, preview: list[InvoicePreview]) -> dict[str, dg.RawMetadataValue]:
    """The run's own figures (an observation of the asset: they describe the run, not any one partition)."""
    metadata: dict[str, dg.RawMetadataValue] = {
        "mode": mode,
        "qonto_window": report.window.describe(),
        "records_seen": report.counts.seen,
        "new": report.counts.new,
        "changed": report.counts.changed,
        "unchanged": report.counts.unchanged,
        "stale_copies_ignored": report.counts.stale,
        "rejected": report.rejected,
        "days_touched": len(report.touched_dates),
        "partitions_materialized": days_materialized,
        "attachments_fetched": report.attachments_fetched,
        "attachment_mb": round(report.attachment_bytes / 1_048_576, 2),
        "attachments_failed": report.attachments_failed,
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
    # Time the client's rate limiter held requests (a long backfill reaching Qonto's 10-minute ceiling waits).
    metadata["limiter_wait_s"] = round(float(stats.get("limiter_wait_s") or 0.0), 1)
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
