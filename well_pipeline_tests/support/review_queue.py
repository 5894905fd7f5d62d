"""A real Well storage holding exactly the review-queue records a test states.

Invoices go in through the `InvoiceStore` (parsed from Qonto-shaped records) and scored rows through
`MatchStore.replace_days`, the same paths the pipeline uses, so the data has the real schema and values.
`fill_queue` works on any `Storage` (the contract tests use it); `write_queue` makes a DuckDB file at a path.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from well_pipeline.adapters.qonto.records import parse_supplier_invoice
from well_pipeline.adapters.storage import DuckDBStorage, Storage
from well_pipeline.adapters.storage.records import ScoredRow
from well_pipeline.core.scoring.model import Candidate, Decision, ScoredMatch
from well_pipeline.core.scoring.reasons import Part, Reason
from well_pipeline_tests.support.qonto_records import make_invoice

T0 = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
DUPONT = Candidate("V-1", "Papeterie Dupont SARL", 0.92, 97.0, ("NAME_SIMILAR",))
NORDLICHT = Candidate("V-2", "Nordlicht Logistik GmbH", 0.31, 40.0, ("NAME_WEAK",))


def record(qonto_id: str, *, decision: str = "review", score: float = 0.7, raw_score: float | None = None,
           hard_rules: tuple[str, ...] = (), reasons: tuple[Reason, ...] | None = None,
           candidates: tuple[Candidate, ...] = (DUPONT, NORDLICHT), hours: int = 0,
           **invoice: Any) -> tuple[dict, ScoredMatch]:
    """One Qonto invoice and its scored row. Reasons default to one per hard rule plus the decision's."""
    if reasons is None:
        reasons = (*(Reason(code, Part.HARD_RULE, f"text of {code}") for code in hard_rules),
                   Reason(decision.upper(), Part.DECISION, f"decision text for {qonto_id}"))
    raw = make_invoice(invoice_id=qonto_id, attachment_id=f"att-{qonto_id}", created_at=T0 + timedelta(hours=hours),
                       **invoice)
    top = candidates[0] if candidates else None
    match = ScoredMatch(
        qonto_id=qonto_id, decision=Decision(decision), score=score, completeness=1.0, strength=score,
        policy_fit=1.0, vendor_id=top.vendor_id if top else None, vendor_name=top.company_name if top else None,
        reasons=reasons, candidates=candidates, hard_rules=hard_rules,
        raw_score=score if raw_score is None else raw_score)
    return raw, match


def store_invoices(storage: Storage, raws: list[dict]) -> None:
    """Qonto-shaped records into the storage, as ingest stores them (each new id is version 1)."""
    storage.invoices.upsert_invoices([parse_supplier_invoice(raw) for raw in raws])


def created_day(raw: dict) -> date:
    """The Qonto day an invoice belongs to (its partition): the UTC date of its creation."""
    return parse_supplier_invoice(raw).created_at.astimezone(UTC).date()


def fill_queue(storage: Storage, records: list[tuple[dict, ScoredMatch]]) -> None:
    """Store the invoices and their scored rows (version 1 each) in `storage`."""
    store_invoices(storage, [raw for raw, _ in records])
    created = {raw["id"]: created_day(raw) for raw, _ in records}
    rows = [ScoredRow(match, created[match.qonto_id], 1) for _, match in records]
    storage.matches.replace_days(sorted(set(created.values())), rows)


def write_queue(path: Path, records: list[tuple[dict, ScoredMatch]]) -> Storage:
    """Store the invoices and their scored rows in a fresh (migrated) DuckDB file at `path`."""
    storage = DuckDBStorage(path, path.parent / "attachments")
    fill_queue(storage, records)
    return storage
