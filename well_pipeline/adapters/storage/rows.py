"""Rows as every SQL implementation stores and reads them: the column lists and the pure conversions between
Well's values and table rows, shared by `duckdb/` and `postgres/` so the two cannot drift apart.

Only plain Python here (no database module): each implementation keeps its own SQL dialect and connections.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from well_pipeline.adapters.qonto.records import RejectedRecord, SupplierInvoice
from well_pipeline.adapters.storage.records import ANY_ROW, HeldRecord, ScoredRow, StaleRecordError, Unchecked
from well_pipeline.core.delivery.plan import OutboxEntry, OutboxState
from well_pipeline.core.scoring.display import QueueEntry, parse_candidates, parse_reasons

INVOICE_COLUMNS = [
    "id", "organization_id", "status", "supplier_name", "invoice_number", "total_amount", "currency",
    "payable_amount", "issue_date", "due_date", "iban", "vat_number", "attachment_id", "file_name",
    "attachment_category", "has_duplicates", "is_credit_note", "is_attachment_non_financial",
    "created_at", "updated_at", "created_date", "unknown_fields", "record_hash", "version", "raw_json",
    "first_seen_at", "last_changed_at", "supplier_id", "issuer_name", "payment_links",
]

MATCH_COLUMNS = ["qonto_id", "created_date", "record_version", "decision", "score", "completeness", "strength",
                 "policy_fit", "raw_score", "vendor_id", "vendor_name", "melio_bill_id", "hard_rules", "reasons",
                 "candidates", "scored_at"]

# The columns `queue_entry` takes, in its order (scored_matches s joined with qonto_supplier_invoices i).
ENTRY_COLUMNS = ("s.qonto_id, s.decision, s.score, s.raw_score, s.hard_rules, s.reasons, s.candidates, s.vendor_id, "
                 "s.vendor_name, i.created_at, i.supplier_name, i.invoice_number, i.total_amount, i.currency, "
                 "i.status, i.iban")


def utc_now() -> datetime:
    """Now as stored: naive UTC, whole seconds."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def utc_naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def invoice_row(invoice: SupplierInvoice, record_hash: str, version: int, now: datetime) -> list[Any]:
    """The `qonto_supplier_invoices` row of `invoice`, in `INVOICE_COLUMNS` order (timestamps naive UTC)."""
    total = invoice.total_amount
    payable = invoice.payable_amount
    created = utc_naive(invoice.created_at)
    return [
        invoice.id, invoice.organization_id, invoice.status, invoice.supplier_name, invoice.invoice_number,
        total.amount if total else None, total.currency if total else None,
        payable.amount if payable else None, invoice.issue_date, invoice.due_date, invoice.iban,
        invoice.vat_number, invoice.attachment_id, invoice.file_name, invoice.attachment_category,
        invoice.has_duplicates, invoice.is_credit_note, invoice.is_attachment_non_financial,
        created, utc_naive(invoice.updated_at), created.date(), list(invoice.unknown_fields), record_hash,
        version, json.dumps(invoice.raw, ensure_ascii=False, sort_keys=True), now, now,
        invoice.supplier_id, invoice.issuer_name, list(invoice.payment_links),
    ]


def reject_key(reject: RejectedRecord) -> str:
    """A rejected record's key: its id, or a digest of its text when it had none (the same record counts once)."""
    return reject.record_id or "sha256:" + hashlib.sha256(reject.raw_text.encode("utf-8")).hexdigest()


def scored_values(row: ScoredRow, now: datetime) -> list[Any]:
    """The `scored_matches` row of `row`, in `MATCH_COLUMNS` order (reasons and candidates as JSON text)."""
    match = row.match
    return [match.qonto_id, row.created_date, row.record_version, match.decision.value, match.score,
            match.completeness, match.strength, match.policy_fit, match.raw_score, match.vendor_id,
            match.vendor_name, match.melio_bill_id, [str(h) for h in match.hard_rules],
            json.dumps([x.as_dict() for x in match.reasons], ensure_ascii=False),
            json.dumps([c.as_dict() for c in match.candidates], ensure_ascii=False), now]


def queue_entry(qonto_id: str, decision: str, score: float, raw_score: float | None, rules: list[str] | None,
                reasons: str | None, candidates: str | None, vendor_id: str | None, vendor_name: str | None,
                created_at: datetime | None, supplier_name: str | None, invoice_number: str | None,
                total_amount: object, currency: str | None, status: str | None, iban: str | None) -> QueueEntry:
    """A stored scored row joined with its invoice (`ENTRY_COLUMNS`), as the queue and `well review show` read it."""
    return QueueEntry(
        qonto_id=qonto_id, decision=decision, score=score, raw_score=raw_score, hard_rules=tuple(rules or ()),
        reasons=parse_reasons(reasons), candidates=parse_candidates(candidates), vendor_id=vendor_id,
        vendor_name=vendor_name, created_at=created_at, supplier_name=supplier_name,
        invoice_number=invoice_number, total_amount=total_amount, currency=currency, status=status, iban=iban)


def plan_outdated(previous: Mapping[str, Any] | None, expected: OutboxEntry | None | Unchecked) -> bool:
    """True when a claim names the outbox row it planned from (`expected`, None: no row) and the stored row
    (`previous`, None: none) is no longer that one (`OutboxStore.mark_sending`)."""
    if expected is ANY_ROW:
        return False
    current = None if previous is None else OutboxEntry(previous["qonto_id"], previous["record_version"],
                                                        OutboxState(previous["state"]), previous["message_id"])
    return current != expected


def held_record(qonto_id: str, code: str, reason: str, related: str | None, changed: str | None) -> HeldRecord:
    """A `delivery_holds` row (its changed fields stored as JSON text) as the interface returns it."""
    return HeldRecord(qonto_id, code, reason, related, json.loads(changed) if changed else None)


def check_expected_decision(qonto_id: str, decision: str | None, expected: str | None) -> None:
    """`StaleRecordError` when the decision was made on the record as `expected` and it is now another one."""
    if expected is not None and decision != expected:
        raise StaleRecordError(f"{qonto_id} was decided meanwhile (it is now {decision}, no longer {expected}); "
                               "look at it again, then decide")
