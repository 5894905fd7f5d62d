"""Score a generated dataset straight from its files and measure the decisions against its ground truth.

Shared by the accuracy test (small dataset, default suite) and the scoring benchmark (100,000 invoices). It
goes through the production readers (Melio CSV adapters, Qonto record parser) and the production core; only
DuckDB is skipped, so the timing is the scoring itself.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, replace
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


# The truth columns the measures read (the file has more; keeping only these bounds memory on 100k rows).
TRUTH_COLUMNS = ("true_vendor_id", "must_not_auto_link", "reason", "clean_known", "safe_known", "case")


def load_dataset(data_dir: Path) -> LoadedDataset:
    """Stream the dataset into the core's inputs: each JSONL line becomes an `InvoiceFacts` and is dropped, so the
    raw records (hundreds of MB at 100,000 invoices) are never all in memory at once."""
    started = time.monotonic()
    vendors = read_vendor_directory(data_dir / "melio" / "vendors.csv").rows
    bills = read_ledger(data_dir / "melio" / "bills.csv").rows
    attachments = {p.stem: p.name for p in (data_dir / "qonto" / "attachments").iterdir()}
    folder = data_dir / "qonto" / "attachments"
    facts: list[InvoiceFacts] = []
    with (data_dir / "qonto" / "invoices.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            record = parse_record(json.loads(line))
            if not isinstance(record, SupplierInvoice):
                continue
            name = attachments.get(record.attachment_id or "")
            document = (DocumentFacts(content_type_for(name), (folder / name).stat().st_size, name)
                        if name else None)
            facts.append(invoice_facts_from_record(record, document))
    duplicates = earlier_duplicates(
        duplicate_key(f.qonto_id, f.created_at, f.invoice_number, f.amount, f.currency, f.supplier_name, f.iban)
        for f in facts)
    facts = [replace(f, duplicate_of=duplicates[f.qonto_id]) if f.qonto_id in duplicates else f for f in facts]
    with (data_dir / "truth" / "invoices.csv").open(encoding="utf-8") as fh:
        truth = {row["qonto_id"]: {k: row.get(k) or "" for k in TRUTH_COLUMNS} for row in csv.DictReader(fh)}
    return LoadedDataset(facts, vendors, bills, truth, time.monotonic() - started)


def score_dataset(data: LoadedDataset, policy: ScoringPolicy | None = None) -> tuple[list[ScoredMatch], float]:
    started = time.monotonic()
    index = VendorIndex.build(vendor_profiles(data.vendors))
    ledger = LedgerIndex.build(ledger_bills(data.bills), index)
    matches = score_invoices(data.facts, index, policy or ScoringPolicy(), ledger=ledger)
    return matches, time.monotonic() - started


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


REVIEW_DECISIONS = (Decision.REVIEW, Decision.REFUSED)


@dataclass
class Accuracy:
    auto_links: int
    auto_link_precision: float
    unsafe_auto_links: int
    unsafe_by_reason: dict[str, int]
    wrong_vendor_auto_links: int
    clean_known: int
    clean_auto_link_rate: float
    safe_known: int
    safe_known_auto_link_rate: float
    bank_detail_changes: int
    bank_detail_changes_held: int
    bank_detail_changes_in_review: int
    review_with_known_vendor: int
    review_top3_recall: float
    wrong_auto_links: list[str]
    top3_misses: list[str]

    def as_dict(self) -> dict:
        return {"auto_links": self.auto_links, "auto_link_precision": round(self.auto_link_precision, 5),
                "unsafe_auto_links": self.unsafe_auto_links, "unsafe_by_reason": self.unsafe_by_reason,
                "wrong_vendor_auto_links": self.wrong_vendor_auto_links,
                "clean_known": self.clean_known, "clean_auto_link_rate": round(self.clean_auto_link_rate, 5),
                "safe_known": self.safe_known,
                "safe_known_auto_link_rate": round(self.safe_known_auto_link_rate, 5),
                "bank_detail_changes": self.bank_detail_changes,
                "bank_detail_changes_held": self.bank_detail_changes_held,
                "bank_detail_changes_in_review": self.bank_detail_changes_in_review,
                "review_with_known_vendor": self.review_with_known_vendor,
                "review_top3_recall": round(self.review_top3_recall, 5)}


def measure(matches: list[ScoredMatch], truth: dict[str, dict[str, str]]) -> Accuracy:
    """An auto-link is right when its vendor is the true one and the record may be auto-linked at all.

    - unsafe: an auto-link of a record that must never auto-link (settled, bank-detail change, unknown vendor,
      credit note, ...), counted per truth reason;
    - clean_known: records a careful system can auto-link from the record alone (an identifier on the record
      ties it to the directory entry); safe_known: every record that may be auto-linked (its vendor is known and
      nothing forbids it), including name-only ones the product holds until a person confirms the supplier once;
    - review_top3_recall: among review and refused records whose vendor is in Melio, the share whose true vendor
      is among the first three ranked alternatives.
    """
    auto = [m for m in matches if m.decision is Decision.AUTO_LINK]
    unsafe = [m for m in auto if _true(truth[m.qonto_id]["must_not_auto_link"])]
    unsafe_ids = {m.qonto_id for m in unsafe}
    wrong_vendor = [m for m in auto if m.qonto_id not in unsafe_ids
                    and m.vendor_id != truth[m.qonto_id]["true_vendor_id"]]
    by_reason: dict[str, int] = {}
    for m in unsafe:
        for reason in filter(None, truth[m.qonto_id]["reason"].split(";")):
            by_reason[reason] = by_reason.get(reason, 0) + 1
    clean = [m for m in matches if _true(truth[m.qonto_id]["clean_known"])]
    has_safe = any(row.get("safe_known") for row in truth.values())
    safe = [m for m in matches if (_true(truth[m.qonto_id]["safe_known"]) if has_safe
                                   else _true(truth[m.qonto_id]["clean_known"]))]
    bank = [m for m in matches if truth[m.qonto_id]["case"] == "bank_detail_change"]
    queue = [m for m in matches if m.decision in REVIEW_DECISIONS and truth[m.qonto_id]["true_vendor_id"]]
    misses = [m.qonto_id for m in queue
              if truth[m.qonto_id]["true_vendor_id"] not in {c.vendor_id for c in m.candidates[:3]}]
    return Accuracy(
        auto_links=len(auto),
        auto_link_precision=(len(auto) - len(unsafe) - len(wrong_vendor)) / len(auto) if auto else 1.0,
        unsafe_auto_links=len(unsafe),
        unsafe_by_reason=dict(sorted(by_reason.items())),
        wrong_vendor_auto_links=len(wrong_vendor),
        clean_known=len(clean),
        clean_auto_link_rate=sum(m.decision is Decision.AUTO_LINK for m in clean) / len(clean) if clean else 0.0,
        safe_known=len(safe),
        safe_known_auto_link_rate=sum(m.decision is Decision.AUTO_LINK for m in safe) / len(safe) if safe else 0.0,
        bank_detail_changes=len(bank),
        bank_detail_changes_held=sum(m.decision is not Decision.AUTO_LINK for m in bank),
        bank_detail_changes_in_review=sum(m.decision is Decision.REVIEW for m in bank),
        review_with_known_vendor=len(queue),
        review_top3_recall=(len(queue) - len(misses)) / len(queue) if queue else 1.0,
        wrong_auto_links=[m.qonto_id for m in unsafe + wrong_vendor],
        top3_misses=misses,
    )


def distinct_supplier_keys(facts: list[InvoiceFacts]) -> int:
    return len({normalize_name(f.supplier_name).key for f in facts})
