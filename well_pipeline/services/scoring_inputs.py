"""Turn stored rows and parsed records into the pure core's inputs (InvoiceFacts, VendorProfile, LedgerBill).

The core knows nothing of Qonto's wire format, DuckDB or CSV files; these small mappers are the only place
that does, so a change of a column or a field touches one function.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from well_pipeline.core.matching.duplicates import DuplicateKeyFacts
from well_pipeline.core.matching.vendor_index import VendorProfile
from well_pipeline.core.scoring.model import DocumentFacts, InvoiceFacts, LedgerBill

_TYPES_BY_SUFFIX = {".pdf": "application/pdf", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
                    ".gif": "image/gif"}


def content_type_for(file_name: str | None) -> str | None:
    """Best guess from a file name, for documents whose server-side type is unknown."""
    if not file_name:
        return None
    suffix = Path(file_name).suffix.lower()
    return _TYPES_BY_SUFFIX.get(suffix) or mimetypes.guess_type(file_name)[0]


def _supplier_email(raw: Mapping[str, Any] | None) -> str | None:
    # Qonto's supplier invoice object has no supplier e-mail today; accept one if Qonto adds it.
    if not raw:
        return None
    value = raw.get("supplier_email") or raw.get("email")
    return value if isinstance(value, str) else None


def _supplier_email_from_json(raw_json: str | None) -> str | None:
    """`_supplier_email` of a stored row's `raw_json`, parsed only when the text holds one of its keys.

    Qonto sends no e-mail today, so scoring 100k rows must not pay 100k `json.loads`: a substring test
    skips almost every row, and a row that passes is parsed and read exactly as a record would be.
    """
    # The keys as InvoiceRepository's json.dumps writes them (": " follows a key; an escaped quote inside a
    # string value cannot produce this byte sequence).
    if not raw_json or ('"supplier_email":' not in raw_json and '"email":' not in raw_json):
        return None
    try:
        raw = json.loads(raw_json)
    except ValueError:
        return None
    return _supplier_email(raw) if isinstance(raw, dict) else None


def invoice_facts_from_row(row: Mapping[str, Any], document: DocumentFacts | None,
                           duplicate_of: str | None = None) -> InvoiceFacts:
    """From a `qonto_supplier_invoices` row (as a dict) and its stored document."""
    amount = row.get("total_amount")
    return InvoiceFacts(
        qonto_id=row["id"],
        supplier_name=row.get("supplier_name"),
        iban=row.get("iban"),
        vat_number=row.get("vat_number"),
        invoice_number=row.get("invoice_number"),
        amount=Decimal(str(amount)) if amount is not None else None,
        currency=row.get("currency"),
        due_date=row.get("due_date"),
        status=row.get("status"),
        is_credit_note=bool(row.get("is_credit_note")),
        is_non_financial=bool(row.get("is_attachment_non_financial")),
        has_duplicates=bool(row.get("has_duplicates")),
        document=document,
        supplier_email=_supplier_email_from_json(row.get("raw_json")),
        duplicate_of=duplicate_of,
        created_at=row.get("created_at"),
        supplier_id=row.get("supplier_id"),
        issuer_name=row.get("issuer_name"),
        payment_links=tuple(row.get("payment_links") or ()),
    )


def invoice_facts_from_record(record: Any, document: DocumentFacts | None, duplicate_of: str | None = None
                              ) -> InvoiceFacts:
    """From a parsed `SupplierInvoice` (benchmarks and tests that skip DuckDB)."""
    total = record.total_amount
    return InvoiceFacts(
        qonto_id=record.id, supplier_name=record.supplier_name, iban=record.iban, vat_number=record.vat_number,
        invoice_number=record.invoice_number, amount=total.amount if total else None,
        currency=total.currency if total else None, due_date=record.due_date, status=record.status,
        is_credit_note=bool(record.is_credit_note), is_non_financial=bool(record.is_attachment_non_financial),
        has_duplicates=bool(record.has_duplicates), document=document, supplier_email=_supplier_email(record.raw),
        duplicate_of=duplicate_of, created_at=record.created_at, supplier_id=record.supplier_id,
        issuer_name=record.issuer_name, payment_links=record.payment_links,
    )


def duplicate_key(qonto_id: str, created_at: datetime, invoice_number: str | None, amount: Any,
                  currency: str | None, supplier_name: str | None = None, iban: str | None = None) -> DuplicateKeyFacts:
    created = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
    return DuplicateKeyFacts(qonto_id, created, invoice_number,
                             Decimal(str(amount)) if amount is not None else None, currency, supplier_name, iban)


def vendor_profiles(vendors: Iterable[Any]) -> list[VendorProfile]:
    """From `MelioVendor` rows (or anything with the same attributes)."""
    return [VendorProfile(v.vendor_id, v.company_name, v.iban, v.vat_number, v.email, getattr(v, "conflict", None))
            for v in vendors]


def ledger_bills(bills: Iterable[Any]) -> list[LedgerBill]:
    return [LedgerBill(b.bill_id, getattr(b, "vendor_id", None), b.company_name, b.invoice_number) for b in bills]
