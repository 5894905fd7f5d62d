"""Duplicate Qonto records of one invoice: the same invoice under two Qonto ids.

Qonto only flags some (`has_duplicates`); a supplier re-sending a PDF, or a person uploading it twice, creates
another record. Two records are copies of one invoice when they share the normalised invoice number and either
the amount (and currency) or the supplier (its normalised name or its IBAN): OCR often misses the amount on one
copy, so the amount alone would let such a re-upload through. The earliest record keeps its chance to
auto-link; every later copy is held for a person (a corrected re-issue under the same number deserves a look
too).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from well_pipeline.core.matching.normalize import normalize_iban, normalize_invoice_number, normalize_name


@dataclass(frozen=True)
class DuplicateKeyFacts:
    qonto_id: str
    created_at: datetime
    invoice_number: str | None
    amount: Decimal | None
    currency: str | None
    supplier_name: str | None = None
    iban: str | None = None


def _keys(record: DuplicateKeyFacts, number: str) -> list[tuple]:
    keys: list[tuple] = []
    if record.amount is not None:
        keys.append(("amount", number, record.amount, (record.currency or "").upper()))
    name = normalize_name(record.supplier_name).key
    if name:
        keys.append(("supplier", number, name))
    iban = normalize_iban(record.iban)
    if iban:
        keys.append(("iban", number, iban))
    return keys


def earlier_duplicates(records: Iterable[DuplicateKeyFacts]) -> dict[str, str]:
    """qonto_id → the earliest other record it copies (same number, and same amount or same supplier)."""
    grouped: dict[tuple, list[tuple[datetime, str]]] = {}
    for record in records:
        number = normalize_invoice_number(record.invoice_number)
        if not number:
            continue
        for key in _keys(record, number):
            grouped.setdefault(key, []).append((record.created_at, record.qonto_id))
    result: dict[str, tuple[datetime, str]] = {}
    for members in grouped.values():
        if len(members) < 2:
            continue
        members.sort()
        original = members[0]
        for _, qonto_id in members[1:]:
            if qonto_id != original[1] and (qonto_id not in result or original < result[qonto_id]):
                result[qonto_id] = original
    return {qonto_id: original[1] for qonto_id, original in result.items()}
