"""`melio_vendor_directory` and `melio_ledger`: the Melio CSV exports, loaded into DuckDB.

A bad row is reported with its file and line and skipped; the rest loads. The file's sha256 is the asset's data
version, so the UI shows when the export changed and `melio_exports_sensor` reloads it.
"""

from pathlib import Path

import dagster as dg

from well_pipeline.adapters.melio import CsvLoad, read_ledger, read_vendor_directory
from well_pipeline.defs.resources import MelioExportsResource, WellStorageResource


def _load_metadata(load: CsvLoad, context: dg.AssetExecutionContext) -> dict:
    for issue in load.errors:
        context.log.warning(f"skipped: {issue}")
    for issue in load.warnings:
        context.log.info(f"kept with a change: {issue}")
    issues = [f"- error: {i}" for i in load.errors[:30]] + [f"- warning: {i}" for i in load.warnings[:30]]
    return {
        "rows": dg.MetadataValue.int(len(load.rows)),
        "rows_skipped": len(load.errors),
        "rows_with_warnings": len(load.warnings),
        "source": dg.MetadataValue.path(str(load.path)),
        "source_sha256": load.sha256,
        "notes": "; ".join(load.notes) or "none",
        "issues": dg.MetadataValue.md("\n".join(issues) or "none"),
    }


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise dg.Failure(
            description=f"{what} export not found at {path}. Export it from Melio as CSV and put it there, "
            "or set the path (see `well settings`).",
        )
    return path


@dg.asset(pool="duckdb", group_name="melio", kinds={"duckdb", "csv"}, owners=["team:finance-ops"],
          metadata={"table": "melio_vendors"})
def melio_vendor_directory(context: dg.AssetExecutionContext, melio_exports: MelioExportsResource,
                           storage: WellStorageResource) -> dg.MaterializeResult:
    """The Melio vendor directory every invoice is matched against."""
    load = read_vendor_directory(_require(melio_exports.melio_vendors_path, "The Melio vendor directory"))
    storage.storage().melio.replace_vendors(load)
    return dg.MaterializeResult(metadata=_load_metadata(load, context), data_version=dg.DataVersion(load.sha256))


@dg.asset(pool="duckdb", group_name="melio", kinds={"duckdb", "csv"}, owners=["team:finance-ops"],
          metadata={"table": "melio_bills"})
def melio_ledger(context: dg.AssetExecutionContext, melio_exports: MelioExportsResource,
                 storage: WellStorageResource) -> dg.MaterializeResult:
    """Bills already in Melio: an invoice found here is linked to its bill and never sent again."""
    load = read_ledger(_require(melio_exports.melio_bills_path, "The Melio ledger"))
    storage.storage().melio.replace_bills(load)
    return dg.MaterializeResult(metadata=_load_metadata(load, context), data_version=dg.DataVersion(load.sha256))
