"""Money as people read it: "22.80 EUR", never "22.800000000 EUR", "22.8" or "nan".

DuckDB stores amounts as DECIMAL(38, 9) and pandas turns a missing one into NaN; every place that shows an
amount to a person (the CLI, the Dagster UI, the e-mail body) goes through `format_money` so they agree.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

# ISO 4217 currencies without minor units (Qonto may list them; Melio is USD-first, but be exact anyway).
_ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "CLP", "ISK", "HUF", "XOF", "XAF", "VND", "UGX"})


def _as_decimal(amount: object) -> Decimal | None:
    if amount is None:
        return None
    if isinstance(amount, float):
        if math.isnan(amount) or math.isinf(amount):
            return None
        return Decimal(repr(amount))
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount).strip())
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def format_money(amount: object, currency: object = None) -> str:
    """`22.8, "EUR"` → `"22.80 EUR"`; a missing amount gives `""` (an empty field stays empty)."""
    value = _as_decimal(amount)
    if value is None:
        return ""
    code = _text(currency).upper()
    places = Decimal(1) if code in _ZERO_DECIMAL_CURRENCIES else Decimal("0.01")
    try:
        shown = f"{value.quantize(places, rounding=ROUND_HALF_EVEN):f}"
    except InvalidOperation:  # beyond Decimal's precision (~1e26): show it exactly rather than fail the page
        shown = f"{value:f}"
    return f"{shown} {code}" if code else shown
