"""Checks on `qonto_supplier_invoices`: documents are complete and intact, nothing unparsed is forgotten.

Evaluated by the pipeline step right after ingest (defs/pipeline/stages.py); the blocking one stops scoring and
delivery in that step when it fails.
"""

import dagster as dg

from well_pipeline.adapters.storage import Storage
from well_pipeline.defs.pipeline.step_check import StepCheck, step_check
from well_pipeline.defs.workspace.names import INVOICES
from well_pipeline.services.qonto_documents import audit_documents


@step_check(INVOICES, blocking=True,
            description="Every stored attachment file exists with its recorded size; a sample is re-hashed.")
def attachments_match_their_digest(store: Storage) -> dg.AssetCheckResult:
    audit = audit_documents(store.invoices, store.documents)
    return dg.AssetCheckResult(
        passed=not audit.bad,
        metadata={"attachments": audit.documents, "missing_files": len(audit.missing),
                  "wrong_size": len(audit.wrong_size), "wrong_digest": len(audit.wrong_digest),
                  "examples": ", ".join(audit.bad[:5]) or "none"},
    )


@step_check(INVOICES,
            description="Invoices whose document is not stored yet (it is retried on the next run).")
def every_invoice_has_its_document(store: Storage) -> dg.AssetCheckResult:
    missing = store.invoices.missing_documents()
    without = store.invoices.count_without_attachment()
    return dg.AssetCheckResult(
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"invoices_missing_document": len(missing), "invoices_without_attachment_id": without,
                  "reasons": dg.MetadataValue.md("\n".join(f"- {m.invoice_id}: {m.reason or 'not fetched yet'}"
                                                           for m in missing[:20]) or "none")},
    )


@step_check(INVOICES,
            description="Records Qonto sent that Well could not parse; they are kept with the reason.")
def no_unparsed_qonto_records(store: Storage) -> dg.AssetCheckResult:
    rows = store.invoices.unparsed_records()
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"rejected_records": len(rows),
                  "reasons": dg.MetadataValue.md("\n".join(f"- {r.key}: {r.reason}" for r in rows[:20]) or "none")},
    )


QONTO_CHECKS: tuple[StepCheck, ...] = (attachments_match_their_digest, every_invoice_has_its_document,
                                       no_unparsed_qonto_records)
