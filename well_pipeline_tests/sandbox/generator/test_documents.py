"""Attachments: valid PDFs whose text reads back, images Pillow opens, and the planned odd files."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from PIL import Image

from well_pipeline.sandbox.generator.documents import extract_text_lines
from well_pipeline.sandbox.generator.translit import to_winansi

from .conftest import Dataset

MELIO_MAX_BYTES = 10 * 1024 * 1024


def assert_valid_pdf_structure(data: bytes) -> None:
    """Header, object offsets in the xref table, startxref and %%EOF, as a strict reader checks them."""
    assert data.startswith(b"%PDF-1.4\n") and data.endswith(b"%%EOF\n")
    startxref = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", data).group(1))
    assert data[startxref:].startswith(b"xref\n0 ")
    header = re.match(rb"xref\n0 (\d+)\n", data[startxref:])
    count = int(header.group(1))
    table = data[startxref + header.end():]
    entries = [table[i * 20:(i + 1) * 20] for i in range(count)]
    assert entries[0] == b"0000000000 65535 f \n"
    for number, entry in enumerate(entries[1:], start=1):
        assert re.fullmatch(rb"\d{10} 00000 n \n", entry), entry
        offset = int(entry[:10])
        assert data[offset:].startswith(b"%d 0 obj\n" % number), (number, offset)
    trailer = table[count * 20:]
    assert trailer.startswith(b"trailer\n<< /Size %d /Root 1 0 R" % count)
    for match in re.finditer(rb"<< /Length (\d+) >>\nstream\n", data):
        length = int(match.group(1))
        assert data[match.end() + length:].startswith(b"\nendstream"), "stream /Length is exact"


def _truth_rows(dataset: Dataset, fmt: str) -> list[tuple[dict, dict]]:
    by_id = dataset.truth_by_id
    return [(r, by_id[r["id"]]) for r in dataset.records if by_id[r["id"]]["document_format"] == fmt]


def test_pdfs_are_structurally_valid(dataset: Dataset) -> None:
    pdfs = _truth_rows(dataset, "pdf")
    assert len(pdfs) > 0.8 * len(dataset.records)
    for record, _ in pdfs[::10]:
        assert_valid_pdf_structure(dataset.attachment(record).read_bytes())


def test_pdf_text_carries_the_capture_lines(dataset: Dataset) -> None:
    checked = 0
    for record, truth in _truth_rows(dataset, "pdf"):
        if record["is_attachment_non_financial"]:
            continue
        lines = extract_text_lines(dataset.attachment(record).read_bytes())
        assert f"Supplier: {to_winansi(truth['document_supplier'])}" in lines
        assert f"Invoice number: {truth['document_invoice_number']}" in lines
        assert f"Total: {truth['document_total']} {truth['document_currency']}" in lines
        assert f"Issue date: {truth['document_issue_date']}" in lines
        if truth["document_due_date"]:
            assert f"Due date: {truth['document_due_date']}" in lines
        else:
            assert not any(line.startswith("Due date:") for line in lines)
        if truth["document_iban"]:
            iban_lines = [line for line in lines if line.startswith("IBAN: ")]
            assert [line[6:].replace(" ", "") for line in iban_lines] == [truth["document_iban"]]
        # Where OCR read a field, it read what the document says.
        if record["invoice_number"] is not None:
            assert record["invoice_number"] == truth["document_invoice_number"]
        if record["total_amount"] is not None:
            assert record["total_amount"]["value"] == truth["document_total"]
        if record["due_date"] is not None:
            assert record["due_date"] == truth["document_due_date"]
        checked += 1
    assert checked > 1500


def test_pdf_regex_contract_on_raw_bytes(dataset: Dataset) -> None:
    """The Melio capture sandbox will grep the raw stream: the labels must appear verbatim there."""
    record, truth = next((r, t) for r, t in _truth_rows(dataset, "pdf") if t["case"] == "clean")
    raw = dataset.attachment(record).read_bytes()
    number = re.search(rb"\(Invoice number: ([^)]*)\) Tj", raw).group(1).decode("cp1252")
    total = re.search(rb"\(Total: (\d+\.\d{2}) ([A-Z]{3})\) Tj", raw)
    due = re.search(rb"\(Due date: (\d{4}-\d{2}-\d{2})\) Tj", raw).group(1).decode()
    assert number == truth["document_invoice_number"].replace("(", "\\(").replace(")", "\\)")
    assert total.group(1).decode() == truth["document_total"] and total.group(2).decode() == truth["document_currency"]
    assert due == truth["document_due_date"]


def test_images_open_with_pillow(dataset: Dataset) -> None:
    opened = Counter()
    for fmt, pil_format in (("jpg", "JPEG"), ("png", "PNG")):
        rows = _truth_rows(dataset, fmt)
        assert rows, fmt
        for record, _ in rows[:40]:
            path = dataset.attachment(record)
            with Image.open(path) as image:
                image.load()
                assert image.format == pil_format and image.size[0] == 600 and image.size[1] >= 400
            assert path.stat().st_size < 200_000
            opened[fmt] += 1
    assert opened["jpg"] and opened["png"]


def test_odd_attachments(dataset: Dataset) -> None:
    odd = [row for row in dataset.truth if row["case"] == "odd_attachment"]
    reasons = Counter(row["reason"].split(";")[0] for row in odd)
    assert reasons["attachment_too_large"] == 1 and reasons["attachment_unsupported_type"] >= 2
    sizes = {}
    for record in dataset.records:
        sizes[record["id"]] = dataset.attachment(record).stat().st_size
    oversized = [r for r in odd if r["reason"].startswith("attachment_too_large")]
    big = dataset.root / "qonto" / "attachments" / f"{oversized[0]['attachment_id']}.pdf"
    assert big.stat().st_size > MELIO_MAX_BYTES
    assert_valid_pdf_structure(big.read_bytes())
    assert sum(size > MELIO_MAX_BYTES for size in sizes.values()) == 1
    exts = {Path(r["file_name"]).suffix for r in dataset.records}
    assert {".heic", ".txt"} <= exts
    heic = next(r for r in dataset.records if r["file_name"].endswith(".heic"))
    assert dataset.attachment(heic).read_bytes()[4:12] == b"ftypheic"
