"""Asset checks on `qonto_supplier_invoices`: documents are complete and intact, nothing unparsed is forgotten."""


import hashlib

import dagster as dg

from well_pipeline.defs.qonto.assets import qonto_supplier_invoices
from well_pipeline.defs.resources import WellStorageResource

DIGEST_SAMPLE = 200


@dg.asset_check(asset=qonto_supplier_invoices, pool="duckdb", blocking=True,
                description="Every stored attachment file exists with its recorded size; a sample is re-hashed.")
def attachments_match_their_digest(storage: WellStorageResource) -> dg.AssetCheckResult:
    store = storage.attachment_store()
    with storage.database().connect() as con:
        rows = con.execute("SELECT attachment_id, sha256, size_bytes FROM qonto_attachments ORDER BY attachment_id"
                           ).fetchall()
    missing, wrong_size, wrong_digest = [], [], []
    for index, (attachment_id, digest, size) in enumerate(rows):
        path = store.path_for(digest)
        if not path.exists():
            missing.append(attachment_id)
        elif path.stat().st_size != size:
            wrong_size.append(attachment_id)
        elif index % max(len(rows) // DIGEST_SAMPLE, 1) == 0:
            if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                wrong_digest.append(attachment_id)
    bad = missing + wrong_size + wrong_digest
    return dg.AssetCheckResult(
        passed=not bad,
        metadata={"attachments": len(rows), "missing_files": len(missing), "wrong_size": len(wrong_size),
                  "wrong_digest": len(wrong_digest), "examples": ", ".join(bad[:5]) or "none"},
    )


@dg.asset_check(asset=qonto_supplier_invoices, pool="duckdb",
                description="Invoices whose document is not stored yet (it is retried on the next run).")
def every_invoice_has_its_document(storage: WellStorageResource) -> dg.AssetCheckResult:
    with storage.database().connect() as con:
        missing = con.execute(
            """SELECT i.id, f.reason FROM qonto_supplier_invoices i
               LEFT JOIN qonto_attachments a ON a.attachment_id = i.attachment_id
               LEFT JOIN qonto_attachment_failures f ON f.attachment_id = i.attachment_id
               WHERE i.attachment_id IS NOT NULL AND a.attachment_id IS NULL ORDER BY i.id"""
        ).fetchall()
        without = con.execute("SELECT count(*) FROM qonto_supplier_invoices WHERE attachment_id IS NULL").fetchone()[0]
    return dg.AssetCheckResult(
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"invoices_missing_document": len(missing), "invoices_without_attachment_id": without,
                  "reasons": dg.MetadataValue.md("\n".join(f"- {i}: {r or 'not fetched yet'}"
                                                           for i, r in missing[:20]) or "none")},
    )


@dg.asset_check(asset=qonto_supplier_invoices, pool="duckdb",
                description="Records Qonto sent that Well could not parse; they are kept with the reason.")
def no_unparsed_qonto_records(storage: WellStorageResource) -> dg.AssetCheckResult:
    with storage.database().connect() as con:
        rows = con.execute(
            "SELECT coalesce(record_id, reject_key), reason FROM qonto_rejected_records ORDER BY last_seen_at DESC"
        ).fetchall()
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"rejected_records": len(rows),
                  "reasons": dg.MetadataValue.md("\n".join(f"- {i}: {r}" for i, r in rows[:20]) or "none")},
    )


qonto_checks = [attachments_match_their_digest, every_invoice_has_its_document, no_unparsed_qonto_records]
