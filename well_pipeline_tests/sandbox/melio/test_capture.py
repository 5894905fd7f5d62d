"""Melio's email-in rules: one draft per accepted attachment, fields read from the PDF, rejections explained."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from email.message import EmailMessage

from PIL import Image

from well_pipeline.sandbox.generator.documents import render_image, render_pdf
from well_pipeline.sandbox.generator.translit import to_winansi
from well_pipeline.sandbox.melio import MelioInbox
from well_pipeline.sandbox.melio.rules import check_attachment

from .conftest import GeneratedInvoice, connect, invoice_spec, make_message, send


def test_generated_pdf_becomes_one_draft_with_its_fields(
    inbox: MelioInbox, generated_pdfs: list[GeneratedInvoice]
) -> None:
    picked = [g for g in generated_pdfs if g.truth["case"] not in ("odd_attachment", "non_financial")]
    assert any(g.truth["case"] == "credit_note" for g in picked)
    with connect(inbox) as client:  # one connection for the whole batch, as the mailer may do
        for index, invoice in enumerate(picked):
            data = invoice.path.read_bytes()
            client.send_message(
                make_message(qonto_id=f"q-{index}", attachments=[(data, "application/pdf", invoice.path.name)])
            )
    messages = inbox.messages()
    assert [m.qonto_id for m in messages] == [f"q-{i}" for i in range(len(picked))]
    assert len(inbox.drafts()) == len(picked)
    for message, invoice in zip(messages, picked, strict=True):
        [draft] = message.drafts
        truth = invoice.truth
        assert draft.vendor == to_winansi(truth["document_supplier"])
        assert draft.invoice_number == truth["document_invoice_number"]
        assert draft.amount == truth["document_total"] and draft.currency == truth["document_currency"]
        assert draft.invoice_date == truth["document_issue_date"]
        if truth["document_due_date"]:
            assert draft.due_date == truth["document_due_date"] and not draft.due_date_defaulted
        else:
            assert draft.due_date_defaulted
        assert draft.source == "pdf_text" and draft.sha256 == hashlib.sha256(invoice.path.read_bytes()).hexdigest()
        assert draft.message_id == message.message_id and draft.filename == invoice.path.name
    assert inbox.stats()["max_messages_per_connection"] == len(picked)


def test_pdf_without_due_date_defaults_to_today_and_is_flagged(inbox: MelioInbox) -> None:
    pdf = render_pdf(invoice_spec(due_date=None, total="-50.00 EUR"))
    send(inbox, make_message(attachments=[(pdf, "application/pdf", "credit-note.pdf")]))
    [draft] = inbox.drafts()
    assert draft.due_date == datetime.now(UTC).date().isoformat() and draft.due_date_defaulted
    assert draft.amount == "-50.00" and draft.invoice_number == "FA-2026-0042"


def test_jpeg_becomes_a_draft_with_null_fields(inbox: MelioInbox, invoice_jpeg: bytes) -> None:
    send(inbox, make_message(attachments=[(invoice_jpeg, "image/jpeg", "scan.jpg")]))
    [draft] = inbox.drafts()
    assert draft.source == "image" and draft.content_type == "image/jpeg"
    assert (draft.vendor, draft.invoice_number, draft.amount, draft.currency, draft.invoice_date) == (None,) * 5
    assert draft.due_date_defaulted and draft.due_date == datetime.now(UTC).date().isoformat()


def test_each_accepted_attachment_is_its_own_draft(inbox: MelioInbox, invoice_pdf: bytes) -> None:
    png = render_image(invoice_spec(), "png")
    gif = io.BytesIO()
    Image.new("L", (20, 20), 255).save(gif, "GIF")
    send(
        inbox,
        make_message(
            attachments=[
                (invoice_pdf, "application/pdf", "a.pdf"),
                (png, "image/png", "b.png"),
                (gif.getvalue(), "image/gif", "c.gif"),
                (b"notes", "text/plain", "notes.txt"),
            ]
        ),
    )
    [message] = inbox.messages()
    assert [a.filename for a in message.attachments] == ["a.pdf", "b.png", "c.gif", "notes.txt"]
    assert [d.attachment_index for d in message.drafts] == [0, 1, 2]
    assert [d.source for d in message.drafts] == ["pdf_text", "image", "image"]
    assert [r.attachment_index for r in message.rejections] == [3]


def test_oversized_attachment_is_rejected_with_a_reason(inbox: MelioInbox) -> None:
    big = b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024 - 8)  # 10 MB + 1 byte
    send(inbox, make_message(attachments=[(big, "application/pdf", "big.pdf")]), implicit=True)
    [message] = inbox.messages()
    assert message.drafts == ()
    [rejection] = message.rejections
    assert rejection.code == "too_large" and rejection.size == 10 * 1024 * 1024 + 1
    assert "10,485,761 bytes" in rejection.reason and "limit" in rejection.reason
    assert message.attachments[0].size == len(big)


def test_wrong_types_are_rejected_with_reasons(inbox: MelioInbox, invoice_pdf: bytes) -> None:
    heic = b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64
    send(
        inbox,
        make_message(
            attachments=[
                (heic, "image/heic", "photo.heic"),
                (b"Invoice 42, total 10 EUR", "application/pdf", "fake.pdf"),
                (invoice_pdf, "application/octet-stream", "invoice.pdf"),
                (b"%PDF-1.4 not really an image", "image/png", "mislabelled.png"),
                (b"", "application/pdf", "empty.pdf"),
            ]
        ),
    )
    [message] = inbox.messages()
    assert message.drafts == ()
    by_name = {r.filename: r for r in message.rejections}
    assert by_name["photo.heic"].code == "unsupported_type" and "image/heic" in by_name["photo.heic"].reason
    assert by_name["fake.pdf"].code == "content_mismatch" and "not a PDF" in by_name["fake.pdf"].reason
    octet = by_name["invoice.pdf"]
    assert octet.code == "unsupported_type" and "send it as application/pdf" in octet.reason
    assert by_name["mislabelled.png"].code == "content_mismatch" and "a PDF" in by_name["mislabelled.png"].reason
    assert by_name["empty.pdf"].code == "empty"
    assert inbox.stats()["attachments_rejected"] == 5


def test_rules_boundaries() -> None:
    assert check_attachment("application/pdf", b"%PDF" + b"0" * 96, max_bytes=100).accepted
    assert check_attachment("application/pdf", b"%PDF" + b"0" * 97, max_bytes=100).code == "too_large"
    assert check_attachment("image/jpg", b"\xff\xd8\xff\xe0rest", max_bytes=100).kind == "image"
    assert check_attachment("IMAGE/GIF; name=x.gif", b"GIF89a...", max_bytes=100).accepted
    assert check_attachment("image/gif", b"GIF90a...", max_bytes=100).code == "content_mismatch"


def test_message_without_attachment_creates_no_draft(inbox: MelioInbox) -> None:
    message = make_message(attachments=[])
    message.add_alternative("<p>Invoice attached.</p>", subtype="html")
    send(inbox, message)
    [received] = inbox.messages()
    assert received.attachments == () and received.drafts == () and received.rejections == ()
    assert inbox.drafts() == []


def test_headers_are_exposed_decoded(inbox: MelioInbox, invoice_pdf: bytes) -> None:
    message = make_message(
        subject="Facture n° 42 – Société Générale d'Étiquettes",
        qonto_id="8f1c-qonto",
        message_id="<bill.8f1c@well.example>",
        attachments=[(invoice_pdf, "application/pdf", "Facture été n°42.pdf")],
    )
    sent = message.as_bytes()
    assert b"=?utf-8?" in sent and b"filename*=" in sent  # really RFC 2047 / RFC 2231 on the wire
    send(inbox, message)
    [received] = inbox.messages()
    assert received.subject == "Facture n° 42 – Société Générale d'Étiquettes"
    assert received.message_id == "<bill.8f1c@well.example>" and received.qonto_id == "8f1c-qonto"
    assert received.header("x-well-qonto-id") == "8f1c-qonto"
    assert received.from_header == "Well <bills@well.example>" and received.to_header == message["To"]
    assert received.mail_from == "bills@well.example" and received.rcpt_tos == (message["To"],)
    [attachment] = received.attachments
    assert attachment.filename == "Facture été n°42.pdf"
    assert attachment == ("Facture été n°42.pdf", "application/pdf", hashlib.sha256(invoice_pdf).hexdigest(),
                          len(invoice_pdf))
    raw = received.raw()
    assert raw == received.eml_path.read_bytes() and b"X-Well-Qonto-Id: 8f1c-qonto" in raw
    assert received.size == len(raw) and received.received_at.tzinfo is not None


def test_rfc2047_encoded_filename_is_decoded(inbox: MelioInbox, invoice_pdf: bytes) -> None:
    """Some mailers (Outlook, older Gmail) put an encoded word in filename= instead of RFC 2231."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@well.example", "x_1@invoicesmelio.com", "x"
    message.set_content("see attachment")
    message.add_attachment(invoice_pdf, maintype="application", subtype="pdf")
    part = list(message.iter_attachments())[0]
    part.replace_header("Content-Disposition", 'attachment; filename="=?utf-8?q?R=C3=A9sum=C3=A9.pdf?="')
    send(inbox, message)
    assert inbox.messages()[0].attachments[0].filename == "Résumé.pdf"
    assert len(inbox.drafts()) == 1
