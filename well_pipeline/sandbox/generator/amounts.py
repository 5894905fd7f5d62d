"""Invoice amounts that add up the way accountants expect.

Totals are `Decimal`s quantised to cents with ROUND_HALF_UP: tax per rate = base x rate, total = net + taxes,
and the strings written to JSON/CSV are exactly those values ("1234.56"). Amounts follow a per-vendor
log-normal (a SaaS vendor bills ~49.00 every month, a builder bills thousands) because amount similarity is
one of the signals a duplicate detector uses.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .vendors import Vendor

CENT = Decimal("0.01")
_MIN = Decimal("3.50")
_MAX = Decimal("250000.00")


@dataclass(frozen=True)
class Amounts:
    """Net, per-rate taxes (rate string, base, tax) and gross total, all in `currency`."""

    net: Decimal
    taxes: tuple[tuple[str, Decimal, Decimal], ...]
    total: Decimal
    currency: str

    @property
    def tax_total(self) -> Decimal:
        return sum((t[2] for t in self.taxes), Decimal("0.00"))


def cents(value: Decimal) -> Decimal:
    """Quantise to 2 decimals, half-up (the rounding invoices use)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def draw_net(rng: random.Random, vendor: Vendor) -> Decimal:
    """A net amount for one invoice of `vendor` (recurring price most of the time if it has one)."""
    if vendor.recurring_amount is not None and rng.random() < 0.85:
        return vendor.recurring_amount
    value = Decimal(f"{math.exp(rng.gauss(vendor.amount_mu, 0.6)):.2f}")
    return min(max(value, _MIN), _MAX)


def draw_amounts(rng: random.Random, vendor: Vendor) -> Amounts:
    """Net + taxes + total for one invoice; reverse-charged and non-EU invoices carry no tax lines."""
    net = draw_net(rng, vendor)
    taxes: list[tuple[str, Decimal, Decimal]] = []
    if vendor.charges_vat:
        rates = vendor.vat_rates
        if len(rates) > 1 and rng.random() < 0.08 and net >= Decimal("10.00"):
            first = cents(net * Decimal(rng.randint(20, 80)) / 100)
            bases = ((rates[0], first), (rates[1], net - first))
        else:
            rate = rates[0] if len(rates) == 1 or rng.random() < 0.9 else rng.choice(rates[1:])
            bases = ((rate, net),)
        for rate, base in bases:
            taxes.append((rate, base, cents(base * Decimal(rate))))
    total = net + sum((t[2] for t in taxes), Decimal("0.00"))
    return Amounts(net, tuple(taxes), total, vendor.currency)


def money(value: Decimal | None, currency: str) -> dict[str, str] | None:
    """The Qonto amount object `{"value": "123.45", "currency": "EUR"}` (None stays None)."""
    if value is None:
        return None
    return {"value": f"{value:.2f}", "currency": currency}
