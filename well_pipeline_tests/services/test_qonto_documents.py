"""The document audit on real files and a real store: a missing file, a truncated one and a changed byte are caught."""

from __future__ import annotations

from pathlib import Path

from well_pipeline.adapters.qonto.records import parse_supplier_invoice
from well_pipeline.adapters.storage import DuckDBStorage
from well_pipeline.adapters.storage.records import StoredAttachment
from well_pipeline.services.qonto_documents import audit_documents
from well_pipeline_tests.support.qonto_records import make_invoice


def test_audit_finds_missing_truncated_and_altered_documents(tmp_path: Path) -> None:
    storage = DuckDBStorage(tmp_path / "well.duckdb", tmp_path / "attachments")
    names = ["intact", "gone", "short", "altered"]
    storage.invoices.upsert_invoices([parse_supplier_invoice(make_invoice(invoice_id=n, attachment_id=f"att-{n}"))
                                      for n in names])
    stored = []
    for name in names:
        content = f"%PDF-1.4 {name}".encode()
        digest = storage.documents.put(content)
        stored.append(StoredAttachment(f"att-{name}", digest, len(content), "application/pdf", None,
                                       str(storage.documents.relative_path(digest))))
    storage.invoices.record_attachments(stored)
    assert audit_documents(storage.invoices, storage.documents).bad == []

    by_name = {s.attachment_id[4:]: storage.documents.path_for(s.sha256) for s in stored}
    by_name["gone"].unlink()
    by_name["short"].write_bytes(b"%PDF")
    by_name["altered"].write_bytes(by_name["altered"].read_bytes().replace(b"altered", b"ALTERED"))  # same size
    audit = audit_documents(storage.invoices, storage.documents, sample=len(names))  # every file re-hashed
    assert (audit.documents, audit.missing, audit.wrong_size, audit.wrong_digest) == (
        4, ["att-gone"], ["att-short"], ["att-altered"])
    assert audit.bad == ["att-gone", "att-short", "att-altered"]
