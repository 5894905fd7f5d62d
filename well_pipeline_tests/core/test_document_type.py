"""Magic-byte checks: only a real PDF/JPEG/PNG/GIF, of the type it is declared as, goes to Melio."""

from __future__ import annotations

import pytest

from well_pipeline.core.delivery.document_type import content_mismatch, describe_content, sniff_document_type
from well_pipeline_tests.support.qonto_records import MINIMAL_PDF

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
GIF = b"GIF89a\x01\x00\x01\x00"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"
HTML = b"\xef\xbb\xbf\n\n  <!DOCTYPE html>\n<html><head><title>Session expired</title></head></html>"


@pytest.mark.parametrize(("head", "content_type"), [
    (MINIMAL_PDF, "application/pdf"), (PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"),
    (b"GIF87a\x01\x00", "image/gif"),
])
def test_real_documents_of_their_declared_type_pass(head: bytes, content_type: str) -> None:
    assert sniff_document_type(head) == content_type
    assert content_mismatch(content_type, head) is None
    assert content_mismatch(f"{content_type.upper()}; name=scan", head) is None  # parameters and case ignored


@pytest.mark.parametrize(("head", "found"), [
    (EXE, "a Windows executable (MZ)"),
    (HTML, "an HTML page"),
    (b"<html><body>Not found</body></html>", "an HTML page"),
    (b"\x7fELF\x02\x01\x01", "a Linux executable (ELF)"),
    (b"PK\x03\x04\x14\x00", "a ZIP archive (or an Office document)"),
    (b"Invoice 42, total 10 EUR\n", "plain text"),
    (b"", "empty"),
    (b"\x00\x01\x02\x03\xfe\xfd", "unrecognised binary data (starts with 00 01 02 03 fe fd)"),
    (b"   %PDF-1.4 junk before the signature", "plain text"),  # PDF readers tolerate it; Melio: UNCONFIRMED
])
def test_anything_else_declared_as_a_pdf_is_a_mismatch_saying_what_it_is(head: bytes, found: str) -> None:
    assert describe_content(head) == found
    assert content_mismatch("application/pdf", head) == f"declared application/pdf, content is {found}"


def test_a_real_format_declared_as_another_is_a_mismatch_too() -> None:
    assert content_mismatch("application/pdf", PNG) == "declared application/pdf, content is a PNG image"
    assert content_mismatch("image/jpeg", MINIMAL_PDF) == "declared image/jpeg, content is a PDF document"
    # A truncated PNG signature is not a PNG.
    assert content_mismatch("image/png", b"\x89PNG\r\n") is not None


def test_a_type_melio_does_not_accept_is_never_sendable() -> None:
    assert content_mismatch("image/heic", MINIMAL_PDF) == "declared image/heic, content is a PDF document"
    assert content_mismatch(None, MINIMAL_PDF) == "declared no content type, content is a PDF document"
