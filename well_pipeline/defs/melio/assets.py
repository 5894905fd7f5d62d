"""`melio_vendor_directory` and `melio_ledger` of a workspace: its Melio CSV exports, loaded into its store.

A bad row is reported with its file and line and skipped; the rest loads. The file's sha256 is the asset's data
version, so the UI shows when the export changed and `melio_exports_sensor__<ws>` reloads it.
"""

from pathlib import Path

import dagster as dg

from well_pipeline.adapters.melio import CsvLoad, read_ledger, read_vendor_directory
from well_pipeline.defs.workspace.names import LEDGER, VENDORS, WorkspaceNames
from well_pipeline.defs.workspace.resources import WorkspaceResources, resource_of


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


def build_melio_assets(names: WorkspaceNames, res: WorkspaceResources
                       ) -> tuple[dg.AssetsDefinition, dg.AssetsDefinition]:
    """The workspace's vendor directory and ledger assets (in this order), in its pool, with its resources."""
    common = {"pool": names.pool, "group_name": names.group, "tags": names.stage_tags("melio"),
              "kinds": {res.storage.storage_backend, "csv"}, "owners": ["team:finance-ops"],
              "resource_defs": res.scoped(names, "melio_exports", "storage")}

    @dg.asset(key=names.key(VENDORS), metadata={"table": "melio_vendors"}, **common)
    def melio_vendor_directory(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """The Melio vendor directory every invoice is matched against."""
        exports = resource_of(context, names, "melio_exports")
        load = read_vendor_directory(_require(exports.melio_vendors_path, "The Melio vendor directory"))
        resource_of(context, names, "storage").storage().melio.replace_vendors(load)
        return dg.MaterializeResult(metadata=_load_metadata(load, context), data_version=dg.DataVersion(load.sha256))

    @dg.asset(key=names.key(LEDGER), metadata={"table": "melio_bills"}, **common)
    def melio_ledger(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """Bills already in Melio: an invoice found here is linked to its bill and never sent again."""
        exports = resource_of(context, names, "melio_exports")
        load = read_ledger(_require(exports.melio_bills_path, "The Melio ledger"))
        resource_of(context, names, "storage").storage().melio.replace_bills(load)
        return dg.MaterializeResult(metadata=_load_metadata(load, context), data_version=dg.DataVersion(load.sha256))

    return melio_vendor_directory, melio_ledger
