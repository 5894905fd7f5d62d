"""Reads and writes of Qonto supplier invoices, attachments and rejects in DuckDB.

Every write method takes an open connection and runs one short transaction over one batch (a page of 100
records, a handful of attachments): the slow network work happens between batches, never inside one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from well_pipeline.adapters.storage.duckdb.database import transaction, utc_now
from well_pipeline.core.record_versions import ChangeSet, Incoming, StoredVersion, classify, fingerprint

if TYPE_CHECKING:
    from well_pipeline.adapters.qonto.records import RejectedRecord, SupplierInvoice

INVOICE_COLUMNS = [
    "id", "organization_id", "status", "supplier_name", "invoice_number", "total_amount", "currency",
    "payable_amount", "issue_date", "due_date", "iban", "vat_number", "attachment_id", "file_name",
    "attachment_category", "has_duplicates", "is_credit_note", "is_attachment_non_financial",
    "created_at", "updated_at", "created_date", "unknown_fields", "record_hash", "version", "raw_json",
    "first_seen_at", "last_changed_at", "supplier_id", "issuer_name", "payment_links",
]


def _utc_naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


@dataclass
class UpsertCounts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    stale: int = 0

    def add(self, changes: ChangeSet) -> None:
        self.new += len(changes.new)
        self.changed += len(changes.changed)
        self.unchanged += len(changes.unchanged)
        self.stale += len(changes.stale)

    @property
    def seen(self) -> int:
        return self.new + self.changed + self.unchanged + self.stale


@dataclass(frozen=True)
class AttachmentNeed:
    attachment_id: str
    invoice_id: str


class InvoiceRepository:
    """Persistence for the `qonto_supplier_invoices` asset and its side tables."""

    # ---- invoices ------------------------------------------------------------------------------
    def upsert_invoices(self, con: duckdb.DuckDBPyConnection, invoices: Sequence[SupplierInvoice]) -> ChangeSet:
        """Insert new ids, update changed ones (version + 1, history kept), leave unchanged rows untouched."""
        if not invoices:
            return ChangeSet()
        by_id = {}
        incoming = []
        for invoice in invoices:
            record_hash = fingerprint(invoice.raw)
            incoming.append(Incoming(invoice.id, record_hash, invoice.updated_at))
            previous = by_id.get(invoice.id)
            if previous is None or invoice.updated_at >= previous[0].updated_at:
                by_id[invoice.id] = (invoice, record_hash)
        ids = list(by_id)
        with transaction(con):
            stored = self._stored_versions(con, ids)
            changes = classify(incoming, stored)
            now = utc_now()
            rows = []
            for record_id in changes.new + changes.changed:
                invoice, record_hash = by_id[record_id]
                previous = stored.get(record_id)
                version = previous.version + 1 if previous else 1
                rows.append(self._row(invoice, record_hash, version, now))
            if rows:
                frame = pd.DataFrame(rows, columns=INVOICE_COLUMNS)
                con.register("incoming_invoices", frame)
                try:
                    assignments = ", ".join(
                        f"{c} = excluded.{c}" for c in INVOICE_COLUMNS if c not in {"id", "first_seen_at"}
                    )
                    con.execute(
                        f"INSERT INTO qonto_supplier_invoices ({', '.join(INVOICE_COLUMNS)}) "
                        f"SELECT {', '.join(INVOICE_COLUMNS)} "
                        f"FROM incoming_invoices ON CONFLICT (id) DO UPDATE SET {assignments}"
                    )
                    con.execute(
                        "INSERT INTO qonto_supplier_invoice_versions "
                        "SELECT id, version, record_hash, updated_at, raw_json, last_changed_at FROM incoming_invoices"
                    )
                finally:
                    con.unregister("incoming_invoices")
        return changes

    def _stored_versions(self, con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, StoredVersion]:
        rows = con.execute(
            "SELECT id, record_hash, updated_at, version FROM qonto_supplier_invoices WHERE id IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [ids],
        ).fetchall()
        return {r[0]: StoredVersion(record_hash=r[1], updated_at=r[2].replace(tzinfo=UTC), version=r[3])
                for r in rows}

    @staticmethod
    def _row(invoice: SupplierInvoice, record_hash: str, version: int, now: datetime) -> list[Any]:
        total = invoice.total_amount
        payable = invoice.payable_amount
        created = _utc_naive(invoice.created_at)
        return [
            invoice.id, invoice.organization_id, invoice.status, invoice.supplier_name, invoice.invoice_number,
            total.amount if total else None, total.currency if total else None,
            payable.amount if payable else None, invoice.issue_date, invoice.due_date, invoice.iban,
            invoice.vat_number, invoice.attachment_id, invoice.file_name, invoice.attachment_category,
            invoice.has_duplicates, invoice.is_credit_note, invoice.is_attachment_non_financial,
            created, _utc_naive(invoice.updated_at), created.date(), list(invoice.unknown_fields), record_hash,
            version, json.dumps(invoice.raw, ensure_ascii=False, sort_keys=True), now, now,
            invoice.supplier_id, invoice.issuer_name, list(invoice.payment_links),
        ]

    # ---- rejects -------------------------------------------------------------------------------
    def record_rejects(self, con: duckdb.DuckDBPyConnection, rejects: Iterable[RejectedRecord]) -> int:
        """Keep every record Well could not parse, with its reason; the same record is counted, not duplicated."""
        now = utc_now()
        rows = []
        for reject in rejects:
            key = reject.record_id or "sha256:" + hashlib.sha256(reject.raw_text.encode("utf-8")).hexdigest()
            rows.append((key, reject.record_id, reject.reason, reject.raw_text, now, now, 1))
        if not rows:
            return 0
        with transaction(con):
            con.executemany(
                "INSERT INTO qonto_rejected_records VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (reject_key) DO UPDATE "
                "SET reason = excluded.reason, raw_text = excluded.raw_text, last_seen_at = excluded.last_seen_at, "
                "seen_count = qonto_rejected_records.seen_count + 1",
                rows,
            )
            # A record that parses again later is no longer a reject.
        return len(rows)

    def clear_rejects(self, con: duckdb.DuckDBPyConnection, record_ids: Sequence[str]) -> None:
        if record_ids:
            con.execute("DELETE FROM qonto_rejected_records WHERE record_id IN (SELECT unnest(?::VARCHAR[]))",
                        [list(record_ids)])

    # ---- attachments ---------------------------------------------------------------------------
    def attachments_needed(self, con: duckdb.DuckDBPyConnection, start: date, end: date) -> list[AttachmentNeed]:
        """Attachments of invoices created in [start, end) that are not stored yet (failures are retried)."""
        rows = con.execute(
            """
            SELECT DISTINCT i.attachment_id, first(i.id ORDER BY i.id)
            FROM qonto_supplier_invoices i
            LEFT JOIN qonto_attachments a ON a.attachment_id = i.attachment_id
            WHERE i.created_date >= ? AND i.created_date < ? AND i.attachment_id IS NOT NULL AND a.attachment_id IS NULL
            GROUP BY i.attachment_id
            ORDER BY 1
            """,
            [start, end],
        ).fetchall()
        return [AttachmentNeed(attachment_id=r[0], invoice_id=r[1]) for r in rows]

    def record_attachments(self, con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[str, str, int, str | None,
                           str | None, str]]) -> None:
        """Rows of (attachment_id, sha256, size_bytes, content_type, file_name, blob_path)."""
        if not rows:
            return
        now = utc_now()
        with transaction(con):
            con.executemany(
                "INSERT INTO qonto_attachments VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (attachment_id) DO NOTHING",
                [(*row, now) for row in rows],
            )
            con.execute(
                "DELETE FROM qonto_attachment_failures WHERE attachment_id IN (SELECT unnest(?::VARCHAR[]))",
                [[row[0] for row in rows]],
            )

    def record_attachment_failures(self, con: duckdb.DuckDBPyConnection,
                                   failures: Sequence[tuple[str, str | None, str]]) -> None:
        """Rows of (attachment_id, invoice_id, reason); attempts accumulate across runs."""
        if not failures:
            return
        now = utc_now()
        with transaction(con):
            con.executemany(
                "INSERT INTO qonto_attachment_failures VALUES (?, ?, ?, 1, ?) ON CONFLICT (attachment_id) DO UPDATE "
                "SET reason = excluded.reason, attempts = qonto_attachment_failures.attempts + 1, "
                "last_failed_at = excluded.last_failed_at",
                [(a, i, r, now) for a, i, r in failures],
            )

    # ---- sync marker ---------------------------------------------------------------------------
    def get_marker(self, con: duckdb.DuckDBPyConnection, name: str) -> str | None:
        row = con.execute("SELECT value FROM sync_state WHERE name = ?", [name]).fetchone()
        return row[0] if row else None

    def set_marker(self, con: duckdb.DuckDBPyConnection, name: str, value: str) -> None:
        con.execute(
            "INSERT INTO sync_state VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            [name, value, utc_now()],
        )

    # ---- reporting -----------------------------------------------------------------------------
    def range_summary(self, con: duckdb.DuckDBPyConnection, start: date, end: date) -> dict[str, int]:
        row = con.execute(
            """
            SELECT count(*),
                   count(*) FILTER (WHERE a.attachment_id IS NOT NULL),
                   count(*) FILTER (WHERE i.attachment_id IS NOT NULL AND a.attachment_id IS NULL),
                   count(*) FILTER (WHERE i.supplier_name IS NULL OR i.invoice_number IS NULL
                                    OR i.total_amount IS NULL OR i.due_date IS NULL)
            FROM qonto_supplier_invoices i LEFT JOIN qonto_attachments a ON a.attachment_id = i.attachment_id
            WHERE i.created_date >= ? AND i.created_date < ?
            """,
            [start, end],
        ).fetchone()
        return {"rows": row[0], "with_attachment": row[1], "attachment_missing": row[2], "incomplete_ocr": row[3]}

    def preview(self, con: duckdb.DuckDBPyConnection, start: date, end: date, limit: int = 10) -> pd.DataFrame:
        return con.execute(
            """
            SELECT id, created_at, status, supplier_name, invoice_number, total_amount, currency, due_date, version
            FROM qonto_supplier_invoices WHERE created_date >= ? AND created_date < ?
            ORDER BY created_at DESC, id LIMIT ?
            """,
            [start, end, limit],
        ).df()
