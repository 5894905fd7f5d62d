"""Score the stored invoices of a date range and keep the decisions: the use case behind `scored_matches`.

Reads everything it needs in one go (invoices, documents, the Melio side, people's decisions), scores in
memory with the pure core (no transaction open), then replaces the range's rows in one short transaction.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from well_pipeline.adapters.storage import Database
from well_pipeline.adapters.storage.match_repository import MatchRepository, ScoredRow
from well_pipeline.adapters.storage.melio_repository import MelioRepository
from well_pipeline.core.matching.duplicates import earlier_duplicates
from well_pipeline.core.matching.ledger_index import LedgerIndex
from well_pipeline.core.matching.vendor_index import VendorIndex
from well_pipeline.core.scoring.model import DocumentFacts, ScoredMatch
from well_pipeline.core.scoring.policy import ScoringPolicy
from well_pipeline.core.scoring.score import score_invoices
from well_pipeline.services.scoring_inputs import (
    duplicate_key,
    invoice_facts_from_row,
    ledger_bills,
    vendor_profiles,
)
from well_pipeline.settings import Settings

Log = Callable[[str], None]


def policy_from_settings(settings: Settings) -> ScoringPolicy:
    amount = settings.max_auto_link_amount.strip()
    return ScoringPolicy(
        auto_link_threshold=settings.auto_link_threshold,
        review_threshold=settings.review_threshold,
        eligible_statuses=settings.csv_set("eligible_statuses"),
        auto_link_paid_in_qonto=settings.auto_link_paid_in_qonto,
        allowed_currencies=frozenset(c.upper() for c in settings.csv_set("allowed_currencies")),
        max_auto_link_amount=Decimal(amount) if amount else None,
        blocked_vendor_ids=settings.csv_set("blocked_vendor_ids"),
    )


@dataclass
class ScoringReport:
    invoices: int = 0
    vendors: int = 0
    ledger_bills: int = 0
    decisions: Counter = field(default_factory=Counter)
    hard_rules: Counter = field(default_factory=Counter)
    overrides_applied: int = 0
    seconds: float = 0.0
    matches: list[ScoredMatch] = field(default_factory=list)


def stale_dates(database: Database) -> list[date]:
    """Days holding an invoice that is new or changed since it was last scored, or scored before the latest
    Melio export was loaded (a new vendor or ledger bill can change any decision)."""
    with database.connect() as con:
        rows = con.execute(
            """
            SELECT DISTINCT i.created_date FROM qonto_supplier_invoices i
            LEFT JOIN scored_matches s ON s.qonto_id = i.id
            LEFT JOIN qonto_attachments a ON a.attachment_id = i.attachment_id
            WHERE s.qonto_id IS NULL OR s.record_version <> i.version
               OR a.fetched_at >= s.scored_at  -- a document arrived after the record was scored
               OR s.scored_at <= (SELECT max(loaded_at) FROM (SELECT loaded_at FROM melio_vendors
                                                           UNION ALL SELECT loaded_at FROM melio_bills))
            ORDER BY 1
            """
        ).fetchall()
    return [r[0] for r in rows]


def score_range(database: Database, start: date, end: date, policy: ScoringPolicy, *,
                log: Log = lambda message: None) -> ScoringReport:
    """Score every stored invoice created in [start, end) and replace its scored rows."""
    days = [start + timedelta(days=n) for n in range((end - start).days)]
    return score_dates(database, days, policy, log=log)


def score_dates(database: Database, days: Sequence[date], policy: ScoringPolicy, *,
                log: Log = lambda message: None) -> ScoringReport:
    """Score every stored invoice created on `days` and replace those days' scored rows."""
    started = time.monotonic()
    days = sorted(set(days))
    report = ScoringReport()
    matches_repo, melio_repo = MatchRepository(), MelioRepository()
    with database.connect() as con:
        cursor = con.execute(
            """
            SELECT i.*, a.content_type AS document_type, a.size_bytes AS document_size, a.file_name AS document_name,
                   a.attachment_id IS NOT NULL AS has_document
            FROM qonto_supplier_invoices i LEFT JOIN qonto_attachments a ON a.attachment_id = i.attachment_id
            WHERE i.created_date IN (SELECT unnest(?::DATE[])) ORDER BY i.created_at, i.id
            """,
            [days],
        )
        columns = [c[0] for c in cursor.description]
        rows = [dict(zip(columns, r, strict=True)) for r in cursor.fetchall()]
        keys = con.execute("SELECT id, created_at, invoice_number, total_amount, currency, supplier_name, iban "
                           "FROM qonto_supplier_invoices").fetchall()
        vendors = melio_repo.vendors(con)
        bills = melio_repo.bills(con)
        decisions_seen = matches_repo.latest_decision_id(con)
        overrides = matches_repo.overrides(con)
        learned = matches_repo.learned_links(con)
        observed = matches_repo.observed_ibans(con, days)
    report.invoices, report.vendors, report.ledger_bills = len(rows), len(vendors), len(bills)
    log(f"Scoring {len(rows)} invoices against {len(vendors)} Melio vendors and {len(bills)} ledger bills")
    if not vendors:
        log("The Melio vendor directory is empty: every invoice will be refused until melio_vendor_directory "
            "is materialised from a vendors.csv")

    duplicates = earlier_duplicates(duplicate_key(*k) for k in keys)
    facts = [
        invoice_facts_from_row(
            row,
            DocumentFacts(row["document_type"], row["document_size"], row["document_name"]) if row["has_document"]
            else None,
            duplicates.get(row["id"]),
        )
        for row in rows
    ]
    index = VendorIndex.build(vendor_profiles(vendors), learned, observed)
    ledger = LedgerIndex.build(ledger_bills(bills), index)
    matches = score_invoices(facts, index, policy, ledger=ledger, overrides=overrides)
    report.matches = matches
    report.overrides_applied = sum(1 for m in matches if m.qonto_id in overrides)
    for match in matches:
        report.decisions[match.decision.value] += 1
        report.hard_rules.update(str(h) for h in match.hard_rules)
    scored = [ScoredRow(m, row["created_date"], row["version"]) for m, row in zip(matches, rows, strict=True)]
    with database.connect() as con:
        matches_repo.replace_days(con, days, scored, decisions_seen)
    report.seconds = time.monotonic() - started
    log(f"Scored in {report.seconds:.1f} s: " + ", ".join(f"{k} {v}" for k, v in sorted(report.decisions.items())))
    return report
