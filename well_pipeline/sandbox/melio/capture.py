"""Draft-bill extraction, standing in for Melio's "smart capture" (melio-and-peers.md A.2).

Melio reads each emailed invoice and pre-fills a bill: vendor, amount, currency, due date (defaulting to
today when capture finds none), optional invoice number and invoice date. The sandbox cannot OCR, so it
reads the text lines the dataset generator prints into its PDFs ("Supplier: NAME", "Invoice number: X",
"Total: 1234.56 EUR", "Issue date: ...", "Due date: YYYY-MM-DD"; see generator/documents/spec.py) and leaves
every field null for images and for PDFs it cannot read. The silent due-date default is kept on purpose
(flagged by `due_date_defaulted`) because it is the real product's trap: a bill due "today" gets paid early.
"""

from __future__ import annotations

import re
from datetime import date

from well_pipeline.sandbox.generator.documents import extract_text_lines

from .models import Attachment, DraftBill

_SUPPLIER = re.compile(r"^Supplier:\s*(.+?)\s*$")
_NUMBER = re.compile(r"^Invoice number:\s*(.+?)\s*$")
_TOTAL = re.compile(r"^Total:\s*(-?\d+(?:\.\d+)?)\s+([A-Z]{3})\s*$")
_ISSUE = re.compile(r"^Issue date:\s*(\d{4}-\d{2}-\d{2})\s*$")
_DUE = re.compile(r"^Due date:\s*(\d{4}-\d{2}-\d{2})\s*$")


def _first(pattern: re.Pattern[str], lines: list[str]) -> re.Match[str] | None:
    for line in lines:
        match = pattern.match(line)
        if match:
            return match
    return None


def _valid_date(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        return None


def pdf_fields(pdf: bytes) -> dict[str, str | None] | None:
    """Fields read from a PDF's text lines, or None when no text could be extracted at all."""
    try:
        lines = extract_text_lines(pdf)
    except (UnicodeDecodeError, ValueError):
        lines = []
    if not lines:
        return None
    supplier = _first(_SUPPLIER, lines)
    number = _first(_NUMBER, lines)
    total = _first(_TOTAL, lines)
    issue = _first(_ISSUE, lines)
    due = _first(_DUE, lines)
    return {
        "vendor": supplier.group(1) if supplier else None,
        "invoice_number": number.group(1) if number else None,
        "amount": total.group(1) if total else None,
        "currency": total.group(2) if total else None,
        "invoice_date": _valid_date(issue.group(1) if issue else None),
        "due_date": _valid_date(due.group(1) if due else None),
    }


def draft_bill(
    *,
    message_ordinal: int,
    message_id: str | None,
    attachment_index: int,
    attachment: Attachment,
    data: bytes,
    kind: str,
    today: date,
) -> DraftBill:
    """The draft Melio would create from one accepted attachment (`kind` from rules: "pdf" | "image")."""
    fields: dict[str, str | None] | None = pdf_fields(data) if kind == "pdf" else None
    if kind == "image":
        source = "image"
    else:
        source = "pdf_text" if fields is not None else "pdf_no_text"
    fields = fields or {}
    due = fields.get("due_date")
    return DraftBill(
        message_ordinal=message_ordinal,
        message_id=message_id,
        attachment_index=attachment_index,
        filename=attachment.filename,
        content_type=attachment.content_type,
        sha256=attachment.sha256,
        vendor=fields.get("vendor"),
        invoice_number=fields.get("invoice_number"),
        invoice_date=fields.get("invoice_date"),
        amount=fields.get("amount"),
        currency=fields.get("currency"),
        due_date=due or today.isoformat(),
        due_date_defaulted=due is None,
        source=source,
    )
