"""Score a generated dataset straight from its files and measure the decisions against its ground truth.

Shared by the accuracy test (small dataset, default suite) and the scoring benchmark (100,000 invoices). It
goes through the production readers (Melio CSV adapters, Qonto record parser) and the production core; only
DuckDB is skipped, so the timing is the scoring itself.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

from well_pipeline.adapters.melio import read_ledger, read_vendor_directory
from well_pipeline.adapters.qonto.records import SupplierInvoice, parse_record
from well_pipeline.core.matching.duplicates import earlier_duplicates
from well_pipeline.core.matching.ledger_index import LedgerIndex
from well_pipeline.core.matching.normalize import normalize_name
from well_pipeline.core.matching.vendor_index import VendorIndex
from well_pipeline.core.scoring.model import Decision, DocumentFacts, InvoiceFacts, ScoredMatch
from well_pipeline.core.scoring.policy import ScoringPolicy
from well_pipeline.core.scoring.score import score_invoices
from well_pipeline.services.scoring_inputs import (
    content_type_for,
    duplicate_key,
    invoice_facts_from_record,
    ledger_bills,
    vendor_profiles,
)


@dataclass
class LoadedDataset:
    facts: list[InvoiceFacts]
    vendors: list
    bills: list
    truth: dict[str, dict[str, str]]
    load_seconds: float


def load_dataset(data_dir: Path) -> LoadedDataset:
    started = time.monotonic()
    vendors = read_vendor_directory(data_dir / "melio" / "vendors.csv").rows
    bills = read_ledger(data_dir / "melio" / "bills.csv").rows
    attachments = {p.stem: p for p in (data_dir / "qonto" / "attachments").iterdir()}
    records = []
    with (data_dir / "qonto" / "invoices.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            record = parse_record(json.loads(line))
            if isinstance(record, SupplierInvoice):
                records.append(record)
    duplicates = earlier_duplicates(
        duplicate_key(r.id, r.created_at, r.invoice_number, r.total_amount.amount if r.total_amount else None,
                      r.total_amount.currency if r.total_amount else None)
        for r in records
    )
    facts = []
    for record in records:
        path = attachments.get(record.attachment_id or "")
        document = DocumentFacts(content_type_for(path.name), path.stat().st_size, path.name) if path else None
        facts.append(invoice_facts_from_record(record, document, duplicates.get(record.id)))
    with (data_dir / "truth" / "invoices.csv").open(encoding="utf-8") as fh:
        truth = {row["qonto_id"]: row for row in csv.DictReader(fh)}
    return LoadedDataset(facts, vendors, bills, truth, time.monotonic() - started)


def score_dataset(data: LoadedDataset, policy: ScoringPolicy | None = None) -> tuple[list[ScoredMatch], float]:
    started = time.monotonic()
    index = VendorIndex.build(vendor_profiles(data.vendors))
    ledger = LedgerIndex.build(ledger_bills(data.bills), index)
    matches = score_invoices(data.facts, index, policy or ScoringPolicy(), ledger=ledger)
    return matches, time.monotonic() - started


def _true(value: str) -> bool:
    return value.strip().lower() == "true"


@dataclass
class Accuracy:
    auto_links: int
    auto_link_precision: float
    clean_known: int
    clean_auto_link_rate: float
    bank_detail_changes: int
    bank_detail_changes_held: int
    wrong_auto_links: list[str]

    def as_dict(self) -> dict:
        return {"auto_links": self.auto_links, "auto_link_precision": round(self.auto_link_precision, 5),
                "clean_known": self.clean_known, "clean_auto_link_rate": round(self.clean_auto_link_rate, 5),
                "bank_detail_changes": self.bank_detail_changes,
                "bank_detail_changes_held": self.bank_detail_changes_held}


def measure(matches: list[ScoredMatch], truth: dict[str, dict[str, str]]) -> Accuracy:
    """An auto-link is right when its vendor is the true one and the record may be auto-linked at all."""
    auto = [m for m in matches if m.decision is Decision.AUTO_LINK]
    wrong = [m.qonto_id for m in auto
             if m.vendor_id != truth[m.qonto_id]["true_vendor_id"] or _true(truth[m.qonto_id]["must_not_auto_link"])]
    clean = [m for m in matches if _true(truth[m.qonto_id]["clean_known"])]
    bank = [m for m in matches if truth[m.qonto_id]["case"] == "bank_detail_change"]
    return Accuracy(
        auto_links=len(auto),
        auto_link_precision=(len(auto) - len(wrong)) / len(auto) if auto else 1.0,
        clean_known=len(clean),
        clean_auto_link_rate=sum(m.decision is Decision.AUTO_LINK for m in clean) / len(clean) if clean else 0.0,
        bank_detail_changes=len(bank),
        bank_detail_changes_held=sum(m.decision is not Decision.AUTO_LINK for m in bank),
        wrong_auto_links=wrong,
    )


def distinct_supplier_keys(facts: list[InvoiceFacts]) -> int:
    return len({normalize_name(f.supplier_name).key for f in facts})
