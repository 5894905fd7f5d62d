"""Shared fixtures: a running inbox on ephemeral ports, a TLS 1.3 client context, invoice documents."""

from __future__ import annotations

import csv
import smtplib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from well_pipeline.sandbox.generator import generate_dataset
from well_pipeline.sandbox.generator.documents import DocumentSpec, Line, render_image, render_pdf
from well_pipeline.sandbox.melio import InboxConfig, MelioInbox

USERNAME = InboxConfig.username
PASSWORD = InboxConfig.password
RECIPIENT = "librairie_4821@invoicesmelio.com"


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[MelioInbox]:
    """A started inbox on ephemeral loopback ports, stopped after the test."""
    with MelioInbox(tmp_path / "inbox", InboxConfig(port=0, tls_port=0)) as running:
        yield running


def client_context(inbox: MelioInbox, *, max_tls12: bool = False) -> ssl.SSLContext:
    """A verifying client context that trusts the sandbox certificate as its CA."""
    context = ssl.create_default_context(cafile=str(inbox.cert_path))
    if max_tls12:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


def connect(inbox: MelioInbox, *, implicit: bool = False, login: bool = True) -> smtplib.SMTP:
    """An SMTP client over STARTTLS (default) or implicit TLS, logged in unless login=False."""
    context = client_context(inbox)
    if implicit:
        client: smtplib.SMTP = smtplib.SMTP_SSL("127.0.0.1", inbox.tls_port, context=context, timeout=10)
    else:
        client = smtplib.SMTP("127.0.0.1", inbox.port, timeout=10)
        client.starttls(context=context)
    client.ehlo()
    if login:
        client.login(USERNAME, PASSWORD)
    return client


def make_message(
    *,
    subject: str = "Invoice INV-1 from ACME",
    qonto_id: str | None = "qonto-1",
    message_id: str | None = None,
    attachments: list[tuple[bytes, str, str]] | None = None,
    to: str = RECIPIENT,
) -> EmailMessage:
    """A bill e-mail like Well's mailer sends: attachments are (bytes, content type, filename)."""
    message = EmailMessage()
    message["From"] = "Well <bills@well.example>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id or f"<{qonto_id or 'none'}.{datetime.now(UTC).timestamp()}@well.example>"
    if qonto_id is not None:
        message["X-Well-Qonto-Id"] = qonto_id
    message.set_content("Invoice attached.")
    for data, content_type, filename in attachments or []:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message


def send(inbox: MelioInbox, message: EmailMessage, *, implicit: bool = False) -> dict:
    """Deliver one message on a fresh connection; returns smtplib's refused-recipients dict."""
    with connect(inbox, implicit=implicit) as client:
        return client.send_message(message)


def invoice_spec(*, due_date: str | None = "2026-02-28", total: str = "1234.56 EUR") -> DocumentSpec:
    """A document in the generator's format, with or without a Due date line."""
    lines = [
        Line("bold", "Supplier: Papeterie Dupont SARL"),
        Line("text", "12 rue de la Paix"),
        Line("gap"),
        Line("bold", "Invoice number: FA-2026-0042"),
        Line("text", "Issue date: 2026-01-29"),
    ]
    if due_date is not None:
        lines.append(Line("text", f"Due date: {due_date}"))
    lines += [Line("text", "Subtotal: 1028.80 EUR"), Line("bold", f"Total: {total}")]
    return DocumentSpec(title="INVOICE", lines=tuple(lines), producer_date="20260129", render_seed=7)


@pytest.fixture(scope="session")
def invoice_pdf() -> bytes:
    """A generator-rendered PDF with every capture line."""
    return render_pdf(invoice_spec())


@pytest.fixture(scope="session")
def invoice_jpeg() -> bytes:
    """The same invoice as a JPEG scan."""
    return render_image(invoice_spec(), "jpg")


@dataclass(frozen=True)
class GeneratedInvoice:
    """One generated PDF attachment and what its document says (truth/invoices.csv)."""

    path: Path
    truth: dict[str, str]


@pytest.fixture(scope="session")
def generated_pdfs(tmp_path_factory: pytest.TempPathFactory) -> list[GeneratedInvoice]:
    """PDF attachments of a tiny generated dataset (30 invoices, ~0.2 s), with their ground truth."""
    root = tmp_path_factory.mktemp("melio-dataset")
    generate_dataset(root, invoices=30, vendors=10, years=1.0, seed=4, now=datetime(2026, 3, 1, tzinfo=UTC))
    with (root / "truth" / "invoices.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for row in rows:
        if row["document_format"] != "pdf":
            continue
        path = root / "qonto" / "attachments" / f"{row['attachment_id']}.pdf"
        out.append(GeneratedInvoice(path, row))
    assert out
    return out
