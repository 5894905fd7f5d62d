"""Asset checks on `qonto_supplier_invoices`: documents are complete and intact, nothing unparsed is forgotten."""


import dagster as dg

from well_pipeline.defs.qonto.assets import qonto_supplier_invoices
from well_pipeline.defs.resources import WellStorageResource
from well_pipeline.services.qonto_documents import audit_documents


@dg.asset_check(asset=qonto_supplier_invoices, pool="duckdb", blocking=True,
                description="Every stored attachment file exists with its recorded size; a sample is re-hashed.")
def attachments_match_their_digest(storage: WellStorageResource) -> dg.AssetCheckResult:
    store = storage.storage()
    audit = audit_documents(store.invoices, store.documents)
    return dg.AssetCheckResult(
        passed=not audit.bad,
        metadata={"attachments": audit.documents, "missing_files": len(audit.missing),
                  "wrong_size": len(audit.wrong_size), "wrong_digest": len(audit.wrong_digest),
                  "examples": ", ".join(audit.bad[:5]) or "none"},
    )


@dg.asset_check(asset=qonto_supplier_invoices, pool="duckdb",
                description="Invoices whose document is not stored yet (it is retried on the next run).")
def every_invoice_has_its_document(storage: WellStorageResource) -> dg.AssetCheckResult:
    invoices = storage.storage().invoices
    missing = invoices.missing_documents()
    without = invoices.count_without_attachment()
    return dg.AssetCheckResult(
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"invoices_missing_document": len(missing), "invoices_without_attachment_id": without,
                  "reasons": dg.MetadataValue.md("\n".join(f"- {m.invoice_id}: {m.reason or 'not fetched yet'}"
                                                           for m in missing[:20]) or "none")},
    )


@dg.asset_check(asset=qonto_supplier_invoices, pool="duckdb",
                description="Records Qonto sent that Well could not parse; they are kept with the reason.")
def no_unparsed_qonto_records(storage: WellStorageResource) -> dg.AssetCheckResult:
    rows = storage.storage().invoices.unparsed_records()
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"rejected_records": len(rows),
                  "reasons": dg.MetadataValue.md("\n".join(f"- {r.key}: {r.reason}" for r in rows[:20]) or "none")},
    )


qonto_checks = [attachments_match_their_digest, every_invoice_has_its_document, no_unparsed_qonto_records]
