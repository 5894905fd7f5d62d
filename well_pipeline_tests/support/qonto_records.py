"""Builders for Qonto-shaped supplier invoice records and tiny sandbox datasets.

Tests that need a handful of precise records (a day boundary, a null OCR field) build them here
instead of running the generator, so each test states exactly the data it depends on.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ORGANIZATION_ID = "0b7c6a1e-5d2f-4f7e-9a51-3c2d1e0f9a10"

# A real, tiny, valid PDF (one page, one line of text) for attachment fixtures.
MINIMAL_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R"
    b"/Resources<</Font<</F1 5 0 R>>>>>>endobj\n"
    b"4 0 obj<</Length 44>>stream\nBT /F1 12 Tf 72 770 Td (Test invoice) Tj ET\nendstream endobj\n"
    b"5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def rfc3339(moment: datetime) -> str:
    """Format like Qonto does in its examples: offset form, second precision."""
    return moment.isoformat(timespec="seconds")


def make_invoice(
    *,
    created_at: datetime | None = None,
    updated_at: datetime | None = None,
    invoice_id: str | None = None,
    attachment_id: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """One supplier invoice in the API's own object shape; any field can be overridden (None included)."""
    created = created_at or datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
    updated = updated_at or created + timedelta(minutes=5)
    invoice_id = invoice_id or str(uuid.uuid4())
    attachment_id = attachment_id or str(uuid.uuid4())
    record: dict[str, Any] = {
        "id": invoice_id,
        "organization_id": ORGANIZATION_ID,
        "status": "to_review",
        "source_type": "email",
        "source": "email_forward",
        "attachment_id": attachment_id,
        "display_attachment_id": attachment_id,
        "file_name": f"invoice-{invoice_id[:8]}.pdf",
        "invoice_number": "INV-2026-0001",
        "supplier_name": "Papeterie Dupont SARL",
        "vat_number": "FR40303265045",
        "tin": None,
        "iban": "FR7630006000011234567890189",
        "description": None,
        "total_amount": {"value": "1234.56", "currency": "EUR"},
        "total_amount_excluding_taxes": {"value": "1028.80", "currency": "EUR"},
        "total_tax_amount": {"value": "205.76", "currency": "EUR"},
        "payable_amount": {"value": "1234.56", "currency": "EUR"},
        "total_amount_credit_notes": None,
        "taxes": [{"tax_amount": {"value": "205.76", "currency": "EUR"}, "tax_rate": "0.20"}],
        "issue_date": created.date().isoformat(),
        "due_date": (created.date() + timedelta(days=30)).isoformat(),
        "payment_date": None,
        "scheduled_date": None,
        "created_at": rfc3339(created),
        "updated_at": rfc3339(updated),
        "analyzed_at": rfc3339(created + timedelta(minutes=1)),
        "initiator_id": "5d0c3a9b-6a0e-4c1e-8f0b-2b3c4d5e6f70",
        "declined_note": "",
        "has_discrepancies": False,
        "has_duplicates": False,
        "is_credit_note": False,
        "has_suggested_credit_notes": False,
        "is_attachment_invoice": True,
        "is_attachment_non_financial": False,
        "attachment_category": "INVOICE",
        "matched_transactions": [],
        "transfer_ids": [],
        "is_einvoice": False,
        "e_invoice_type": None,
        # Optional fields the live API serves (docs/CONTRACTS.md, issue 7), in the generator's key order.
        "einvoicing_lifecycle_events": [],
        "supplier_id": None,
        "issuer_name": None,
        "self_invoice_id": None,
        "related_invoices": [],
        "request_transfer": None,
        "available_actions": None,
        "meta": {
            "integration_type": None,
            "connector": None,
            "accounting_recorded_at": None,
            "accounting_recorded_source": None,
        },
    }
    record.update(overrides)
    return record


def write_dataset(
    data_dir: Path,
    invoices: Iterable[Mapping[str, Any]],
    attachments: Mapping[str, bytes] | None = None,
    *,
    with_default_attachments: bool = True,
) -> Path:
    """Write `qonto/invoices.jsonl` (+ attachment files) in the sandbox dataset layout; returns data_dir.

    With `with_default_attachments`, every invoice whose attachment has no explicit bytes gets MINIMAL_PDF
    stored under its attachment_id (with a per-record marker so contents differ).
    """
    qonto = Path(data_dir) / "qonto"
    (qonto / "attachments").mkdir(parents=True, exist_ok=True)
    invoices = list(invoices)
    explicit = dict(attachments or {})
    with (qonto / "invoices.jsonl.tmp").open("w", encoding="utf-8") as fh:
        for record in invoices:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    (qonto / "invoices.jsonl.tmp").replace(qonto / "invoices.jsonl")
    for record in invoices:
        att = record.get("attachment_id")
        if not att:
            continue
        if att in explicit:
            content = explicit[att]
        elif with_default_attachments:
            content = MINIMAL_PDF + f"% {record['id']}\n".encode()
        else:
            continue
        ext = Path(record.get("file_name") or "x.pdf").suffix or ".pdf"
        (qonto / "attachments" / f"{att}{ext}").write_bytes(content)
    return Path(data_dir)
