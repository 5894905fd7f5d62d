"""Score the stored invoices of some days and keep the decisions: the use case behind `scored_matches`.

Reads everything it needs first (invoices, documents, the Melio side, people's decisions), scores in memory
with the pure core (no connection or transaction open), then replaces the days' rows in one short transaction.
It talks to storage only through the `MatchStore` and `MelioStore` protocols, so any implementation works.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from well_pipeline.adapters.melio import MelioBill, MelioVendor
from well_pipeline.adapters.storage.ports import Storage
from well_pipeline.adapters.storage.records import ScoredRow, ScoringInputs
from well_pipeline.core.matching.duplicates import earlier_duplicates
from well_pipeline.core.matching.ledger_index import LedgerIndex
from well_pipeline.core.matching.vendor_index import VendorIndex
from well_pipeline.core.scoring.model import DocumentFacts, ScoredMatch
from well_pipeline.core.scoring.policy import ScoringPolicy
from well_pipeline.core.scoring.score import score_invoices
from well_pipeline.services.progress import DEFAULT_PACE, Pace
from well_pipeline.services.scoring_inputs import (
    duplicate_key,
    invoice_facts_from_row,
    ledger_bills,
    vendor_profiles,
)

Log = Callable[[str], None]


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


def stale_dates(storage: Storage) -> list[date]:
    """Days holding an invoice that is new or changed since it was last scored, or scored before the latest
    Melio export was loaded (a new vendor or ledger bill can change any decision)."""
    return storage.matches.stale_dates(storage.melio.latest_load_time())


def score_dates(storage: Storage, days: Sequence[date], policy: ScoringPolicy, *,
                log: Log = lambda message: None, pace: Pace = DEFAULT_PACE) -> ScoringReport:
    """Score every stored invoice created on `days` and replace those days' scored rows.

    `log` gets a line when scoring starts and its progress line when the decisions are stored: the batch is
    decided at once (a vendor's IBAN seen on the batch's other invoices is evidence), so there is none between."""
    started, begun = time.monotonic(), pace.clock()
    days = sorted(set(days))
    report = ScoringReport()
    vendors, bills = storage.melio.vendors(), storage.melio.bills()
    inputs = storage.matches.scoring_inputs(days)
    report.invoices, report.vendors, report.ledger_bills = len(inputs.invoices), len(vendors), len(bills)
    log(f"Scoring {len(inputs.invoices)} invoices against {len(vendors)} Melio vendors and {len(bills)} ledger bills")
    if not vendors:
        log("The Melio vendor directory is empty: every invoice will be refused until melio_vendor_directory "
            "is materialised from a vendors.csv")
    with pace.track("scoring", "invoices", len(inputs.invoices), log, started=begun,
                    detail=lambda: ", ".join(f"{k} {v:,}" for k, v in sorted(report.decisions.items()))) as progress:
        _decide_and_store(storage, days, policy, inputs, vendors, bills, report)
        report.seconds = time.monotonic() - started
        progress.advance(len(inputs.invoices))
    return report


def _decide_and_store(storage: Storage, days: list[date], policy: ScoringPolicy, inputs: ScoringInputs,
                      vendors: list[MelioVendor], bills: list[MelioBill], report: ScoringReport) -> None:
    """Score the read rows in memory (no connection open), then replace the days' rows in one transaction."""
    rows, overrides = inputs.invoices, inputs.overrides
    duplicates = earlier_duplicates(duplicate_key(*k) for k in inputs.duplicate_keys)
    facts = [
        invoice_facts_from_row(
            row,
            DocumentFacts(row["document_type"], row["document_size"], row["document_name"]) if row["has_document"]
            else None,
            duplicates.get(row["id"]),
        )
        for row in rows
    ]
    index = VendorIndex.build(vendor_profiles(vendors), inputs.learned, inputs.observed_ibans)
    ledger = LedgerIndex.build(ledger_bills(bills), index)
    matches = score_invoices(facts, index, policy, ledger=ledger, overrides=overrides)
    report.matches = matches
    report.overrides_applied = sum(1 for m in matches if m.qonto_id in overrides)
    for match in matches:
        report.decisions[match.decision.value] += 1
        report.hard_rules.update(str(h) for h in match.hard_rules)
    scored = [ScoredRow(m, row["created_date"], row["version"]) for m, row in zip(matches, rows, strict=True)]
    storage.matches.replace_days(days, scored, inputs.decisions_seen)
