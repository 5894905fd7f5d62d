"""Duplicate Qonto records of one invoice: the same invoice number and amount under two Qonto ids.

Qonto only flags some (`has_duplicates`); a supplier re-sending a PDF, or a person uploading it twice, creates
another record. The earliest record keeps its chance to auto-link; every later copy is held for a person.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from well_pipeline.core.matching.normalize import normalize_invoice_number


@dataclass(frozen=True)
class DuplicateKeyFacts:
    qonto_id: str
    created_at: datetime
    invoice_number: str | None
    amount: Decimal | None
    currency: str | None


def earlier_duplicates(records: Iterable[DuplicateKeyFacts]) -> dict[str, str]:
    """qonto_id → the earliest other record with the same normalised number, amount and currency."""
    grouped: dict[tuple[str, Decimal, str], list[tuple[datetime, str]]] = {}
    for record in records:
        number = normalize_invoice_number(record.invoice_number)
        if not number or record.amount is None:
            continue
        key = (number, record.amount, (record.currency or "").upper())
        grouped.setdefault(key, []).append((record.created_at, record.qonto_id))
    result: dict[str, str] = {}
    for members in grouped.values():
        if len(members) < 2:
            continue
        members.sort()
        original = members[0][1]
        for _, qonto_id in members[1:]:
            result[qonto_id] = original
    return result
