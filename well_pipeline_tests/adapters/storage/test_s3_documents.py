"""Documents in an `s3://` store, end to end: the storage opened from the settings' URL keeps its tables in DuckDB
and its documents in the S3 server (moto's, on loopback), and the document audit and the delivery's document check
read them there, never through a path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from well_pipeline.adapters.melio import SmtpMailer
from well_pipeline.adapters.qonto.records import parse_supplier_invoice
from well_pipeline.adapters.secrets.secret import Secret
from well_pipeline.adapters.storage import AttachmentStoreError, Storage
from well_pipeline.adapters.storage.choice import open_storage
from well_pipeline.adapters.storage.records import DeliveryRow, StoredAttachment
from well_pipeline.sandbox.melio import InboxConfig, MelioInbox
from well_pipeline.services import delivery
from well_pipeline.services.delivery.planning import document_problem
from well_pipeline.services.delivery.report import DocumentStoreUnavailableError
from well_pipeline.services.qonto_documents import audit_documents
from well_pipeline.settings import Settings
from well_pipeline_tests.support import s3_server
from well_pipeline_tests.support.delivery_records import DAY, NEXT_DAY, release_records
from well_pipeline_tests.support.qonto_records import make_invoice


def test_documents_in_s3_are_audited_and_checked_there(tmp_path: Path, new_s3_store: Any, s3_client: Any,
                                                        s3_test_server: s3_server.S3Server) -> None:
    bucket = new_s3_store().location.removeprefix("s3://").split("/")[0]  # a fresh bucket (and the AWS variables)
    settings = Settings(data_dir=tmp_path, attachments_url=f"s3://{bucket}/acme",
                        attachments_s3_endpoint_url=s3_test_server.endpoint_url, attachments_s3_region="us-east-1")
    storage = open_storage("duckdb", duckdb_path=settings.duckdb_path, attachments_url=settings.attachments_location,
                           s3_endpoint_url=settings.attachments_s3_endpoint_url,
                           s3_region=settings.attachments_s3_region)
    assert storage.documents.location == f"s3://{bucket}/acme"
    names = ["intact", "gone", "altered"]
    storage.invoices.upsert_invoices([parse_supplier_invoice(make_invoice(invoice_id=n, attachment_id=f"att-{n}"))
                                      for n in names])
    stored = []
    for name in names:
        content = f"%PDF-1.4 {name}".encode()
        digest = storage.documents.put(content)
        stored.append(StoredAttachment(f"att-{name}", digest, len(content), "application/pdf", None,
                                       str(storage.documents.relative_path(digest))))
    storage.invoices.record_attachments(stored)
    assert not (tmp_path / "attachments").exists()  # nothing went to the data directory
    assert audit_documents(storage.invoices, storage.documents).bad == []

    key = {s.attachment_id[4:]: f"acme/{s.blob_path}" for s in stored}
    s3_client.delete_object(Bucket=bucket, Key=key["gone"])
    s3_client.put_object(Bucket=bucket, Key=key["altered"], Body=b"%PDF-1.4 ALTERED")  # same size
    audit = audit_documents(storage.invoices, storage.documents, sample=len(names))
    assert (audit.missing, audit.wrong_size, audit.wrong_digest) == (["att-gone"], [], ["att-altered"])

    def row(attachment: StoredAttachment) -> DeliveryRow:
        return DeliveryRow(attachment.attachment_id, 1, "auto_link", None, None, "ACME", "F-1", "10.00", "EUR",
                           "f.pdf", "application/pdf", attachment.size_bytes, attachment.sha256,
                           attachment.blob_path)

    assert document_problem(row(stored[0]), storage.documents) is None  # its head read by a ranged GET
    gone = document_problem(row(stored[1]), storage.documents)
    assert gone == f"document file {stored[1].sha256[:12]}… is missing from the attachment store"


def test_an_unreachable_object_store_is_a_clear_error_without_credentials(tmp_path: Path, new_s3_store: Any
                                                                           ) -> None:
    new_s3_store()  # sets the AWS variables the chain reads
    storage = open_storage("duckdb", duckdb_path=tmp_path / "well.duckdb", attachments_url="s3://well-nowhere/x",
                           s3_endpoint_url="http://127.0.0.1:9", s3_region="us-east-1")  # discard port: refused
    digest = "0" * 64
    row = DeliveryRow("q", 1, "auto_link", None, None, None, None, None, None, "f.pdf", "application/pdf", 10, digest,
                      None)
    # Not a problem of this document (which would hold it for a person): the store's error, for the run to stop on.
    with pytest.raises(AttachmentStoreError) as unreadable:
        document_problem(row, storage.documents)
    message = str(unreadable.value)
    assert message.startswith("cannot read document 000000000000… in s3://well-nowhere/x: ")
    assert s3_server.TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in message


def test_an_object_store_outage_stops_delivery_holding_nothing_and_the_next_run_sends(
        tmp_path: Path, new_s3_store: Any, s3_test_server: s3_server.S3Server) -> None:
    bucket = new_s3_store().location.removeprefix("s3://").split("/")[0]

    def storage(endpoint: str) -> Storage:
        return open_storage("duckdb", duckdb_path=tmp_path / "well.duckdb", attachments_url=f"s3://{bucket}/docs",
                            s3_endpoint_url=endpoint, s3_region=s3_server.REGION)

    release_records(storage(s3_test_server.endpoint_url), ("q-1", "auto_link", 0), ("q-2", "auto_link", 1))
    with MelioInbox(tmp_path / "inbox", InboxConfig(port=0, tls_port=0)) as inbox:
        def deliver(store: Storage) -> delivery.DeliveryReport:
            mailer = lambda: SmtpMailer("127.0.0.1", inbox.port, username=inbox.config.username,  # noqa: E731
                                        password=Secret(inbox.config.password), ca_file=str(inbox.cert_path),
                                        backoff_s=0)
            return delivery.deliver_days(store, [DAY, NEXT_DAY], mailer, to_address="acme_1@invoicesmelio.com",
                                         from_address="well@acme.example")

        down = storage("http://127.0.0.1:9")  # the same tables, the object store unreachable
        with pytest.raises(DocumentStoreUnavailableError) as stopped:
            deliver(down)
        assert str(stopped.value).startswith(f"delivery stopped: the document store s3://{bucket}/docs cannot be "
                                             "read (cannot read document ")
        assert "2 records wait for the next run" in str(stopped.value)
        # Nothing held for a person, nothing claimed, nothing sent: the outage leaves no trace to clear by hand.
        assert delivery.held(down, limit=10) == [] and down.outbox.entries() == {}
        assert inbox.messages() == [] and inbox.stats()["connections"] == 0

        report = deliver(storage(s3_test_server.endpoint_url))  # the store is back
        assert (report.sent, dict(report.held)) == (2, {})
        assert sorted(m.header("X-Well-Qonto-Id") for m in inbox.messages()) == ["q-1", "q-2"]
