"""The Qonto organisation that receives the supplier invoices (`qonto/organization.json`).

Shaped like `GET /v2/organization` (reference qonto-api.md §5) so the sandbox can serve it verbatim. Its
legal name and address are what the invoices print as the customer ("bill to"), and its id is every
invoice's `organization_id`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from . import identifiers as ids
from .names import ORG_FORMS, ORG_NAMES
from .timefmt import MS_PER_DAY, format_paris, format_z
from .translit import slug


@dataclass(frozen=True)
class Organization:
    """The parts of the organisation the invoice builder needs, plus the full API payload."""

    id: str
    legal_name: str
    address: tuple[str, str]
    member_ids: tuple[str, ...]
    payload: dict[str, Any]


def build_organization(rng: random.Random, now_ms: int) -> Organization:
    """A French SME with one main EUR Qonto account (and a secondary one), deterministic from `rng`."""
    org_id = ids.uuid4_from(rng)
    name = rng.choice(ORG_NAMES)
    form = rng.choice(ORG_FORMS)
    legal_name = f"{name} {form}"
    siren = ids.make_siren(rng)
    street_name = rng.choice(("Oberkampf", "de Charonne", "des Martyrs", "du Faubourg Saint-Denis"))
    street = f"{rng.randint(1, 120)} rue {street_name}"
    city = f"750{rng.randint(1, 20):02d} Paris"
    registration = date(2015, 1, 1) + timedelta(days=rng.randint(0, 2500))

    def account(main: bool, label: str, balance_cents: int) -> dict[str, Any]:
        iban = ids.make_iban(rng, "FR", bank="16958")  # Qonto's French bank code
        return {
            "id": ids.uuid4_from(rng),
            "slug": f"{slug(name)}-bank-account-{rng.randint(1, 9)}",
            "iban": iban,
            "bic": ids.QONTO_BIC,
            "currency": "EUR",
            "balance": balance_cents / 100,
            "balance_cents": balance_cents,
            "authorized_balance": balance_cents / 100,
            "authorized_balance_cents": balance_cents,
            "name": label,
            "updated_at": format_z(now_ms - rng.randint(0, 3 * 3600_000)),
            "status": "active",
            "main": main,
            "is_external_account": False,
            "account_number": iban[14:25],
        }

    payload = {
        "organization": {
            "id": org_id,
            "name": name,
            "slug": f"{slug(name)}-{rng.randint(1000, 9999)}",
            "legal_name": legal_name,
            "locale": "fr",
            "legal_share_capital": float(rng.choice((1000, 5000, 10000, 50000))),
            "legal_country": "FR",
            "legal_registration_date": registration.isoformat(),
            "legal_form": form,
            "legal_address": f"{street}, {city}",
            "legal_sector": rng.choice(("5610A", "4791B", "7022Z", "5811Z", "1071C")),
            "contract_signed_at": format_paris(now_ms - rng.randint(1000, 2000) * MS_PER_DAY),
            "legal_number": siren,
            "bank_accounts": [
                account(True, "Compte principal", rng.randint(2_000_000, 60_000_000)),
                account(False, "Réserve TVA", rng.randint(100_000, 5_000_000)),
            ],
        }
    }
    members = tuple(ids.uuid4_from(rng) for _ in range(4))
    return Organization(org_id, legal_name, (street, city), members, payload)
