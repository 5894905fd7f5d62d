"""DuckDB implementation of `InvoiceStore` (`adapters/storage/ports.py`): Qonto supplier invoices, their versions,
their documents' metadata, rejected records and the named sync markers.

Every write is one short transaction over one batch (a page of 100 records, a handful of documents) on a connection
of its own: the slow network work happens between batches, never inside one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

import duckdb
import pandas as pd

from well_pipeline.adapters.qonto.records import RejectedRecord, SupplierInvoice
from well_pipeline.adapters.storage.duckdb.database import Database, transaction
from well_pipeline.adapters.storage.records import (
    AttachmentDigest,
    AttachmentNeed,
    FailedAttachment,
    InvoicePreview,
    MissingDocument,
    RangeSummary,
    StoredAttachment,
    UnparsedRecord,
)
from well_pipeline.adapters.storage.rows import INVOICE_COLUMNS, invoice_row, reject_key, utc_now
from well_pipeline.core.record_versions import ChangeSet, Incoming, StoredVersion, classify, fingerprint


class DuckDBInvoiceStore:
    """`InvoiceStore` on one DuckDB file; each method opens, uses and closes its own connection."""

    def __init__(self, database: Database) -> None:
        self._db = database

    # ---- ingest --------------------------------------------------------------------------------------------
    def upsert_invoices(self, invoices: Sequence[SupplierInvoice], rejects: Sequence[RejectedRecord] = ()
                        ) -> ChangeSet:
        changes = ChangeSet()
        with self._db.connect() as con, transaction(con):
            if invoices:
                changes = self._upsert(con, invoices)
            self._record_rejects(con, rejects)
            # A record that parses again is no longer a reject.
            if invoices:
                con.execute("DELETE FROM qonto_rejected_records WHERE record_id IN (SELECT unnest(?::VARCHAR[]))",
                            [[i.id for i in invoices]])
        return changes

    def _upsert(self, con: duckdb.DuckDBPyConnection, invoices: Sequence[SupplierInvoice]) -> ChangeSet:
        """Insert new ids, update changed ones (version + 1, history kept), leave unchanged rows untouched."""
        by_id: dict[str, tuple[SupplierInvoice, str]] = {}
        incoming = []
        for invoice in invoices:
            record_hash = fingerprint(invoice.raw)
            incoming.append(Incoming(invoice.id, record_hash, invoice.updated_at))
            previous = by_id.get(invoice.id)
            if previous is None or invoice.updated_at >= previous[0].updated_at:
                by_id[invoice.id] = (invoice, record_hash)
        stored = self._stored_versions(con, list(by_id))
        changes = classify(incoming, stored)
        now = utc_now()
        rows = []
        for record_id in changes.new + changes.changed:
            invoice, record_hash = by_id[record_id]
            previous = stored.get(record_id)
            rows.append(invoice_row(invoice, record_hash, previous.version + 1 if previous else 1, now))
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

    @staticmethod
    def _stored_versions(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, StoredVersion]:
        rows = con.execute(
            "SELECT id, record_hash, updated_at, version FROM qonto_supplier_invoices WHERE id IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [ids],
        ).fetchall()
        return {r[0]: StoredVersion(record_hash=r[1], updated_at=r[2].replace(tzinfo=UTC), version=r[3])
                for r in rows}

    @staticmethod
    def _record_rejects(con: duckdb.DuckDBPyConnection, rejects: Sequence[RejectedRecord]) -> None:
        """Keep every record Well could not parse, with its reason; the same record is counted, not duplicated."""
        if not rejects:
            return
        now = utc_now()
        rows = []
        for reject in rejects:
            rows.append((reject_key(reject), reject.record_id, reject.reason, reject.raw_text, now, now, 1))
        con.executemany(
            "INSERT INTO qonto_rejected_records VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (reject_key) DO UPDATE "
            "SET reason = excluded.reason, raw_text = excluded.raw_text, last_seen_at = excluded.last_seen_at, "
            "seen_count = qonto_rejected_records.seen_count + 1",
            rows,
        )

    def attachments_needed(self, start: date, end: date) -> list[AttachmentNeed]:
        with self._db.connect() as con:
            rows = con.execute(
                """
                SELECT DISTINCT i.attachment_id, first(i.id ORDER BY i.id)
                FROM qonto_supplier_invoices i
                LEFT JOIN qonto_attachments a ON a.attachment_id = i.attachment_id
                WHERE i.created_date >= ? AND i.created_date < ? AND i.attachment_id IS NOT NULL
                  AND a.attachment_id IS NULL
                GROUP BY i.attachment_id
                ORDER BY 1
                """,
                [start, end],
            ).fetchall()
        return [AttachmentNeed(attachment_id=r[0], invoice_id=r[1]) for r in rows]

    def record_attachments(self, stored: Sequence[StoredAttachment], failed: Sequence[FailedAttachment] = ()
                           ) -> None:
        if not stored and not failed:
            return
        now = utc_now()
        with self._db.connect() as con, transaction(con):
            if stored:
                con.executemany(
                    "INSERT INTO qonto_attachments VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (attachment_id) DO NOTHING",
                    [(s.attachment_id, s.sha256, s.size_bytes, s.content_type, s.file_name, s.blob_path, now)
                     for s in stored],
                )
                con.execute(
                    "DELETE FROM qonto_attachment_failures WHERE attachment_id IN (SELECT unnest(?::VARCHAR[]))",
                    [[s.attachment_id for s in stored]],
                )
            if failed:
                con.executemany(
                    "INSERT INTO qonto_attachment_failures VALUES (?, ?, ?, 1, ?) ON CONFLICT (attachment_id) "
                    "DO UPDATE SET reason = excluded.reason, attempts = qonto_attachment_failures.attempts + 1, "
                    "last_failed_at = excluded.last_failed_at",
                    [(f.attachment_id, f.invoice_id, f.reason, now) for f in failed],
                )

    # ---- named markers ---------------------------------------------------------------------------------------
    def get_marker(self, name: str) -> str | None:
        with self._db.connect() as con:
            row = con.execute("SELECT value FROM sync_state WHERE name = ?", [name]).fetchone()
        return row[0] if row else None

    def set_marker(self, name: str, value: str) -> None:
        with self._db.connect() as con:
            con.execute(
                "INSERT INTO sync_state VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                [name, value, utc_now()],
            )

    # ---- reporting -------------------------------------------------------------------------------------------
    def range_summary(self, start: date, end: date) -> RangeSummary:
        with self._db.connect() as con:
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
        return RangeSummary(rows=row[0], with_attachment=row[1], attachment_missing=row[2], incomplete_ocr=row[3])

    def preview(self, start: date, end: date, limit: int = 10) -> list[InvoicePreview]:
        with self._db.connect() as con:
            rows = con.execute(
                """
                SELECT id, created_at, status, supplier_name, invoice_number, total_amount, currency, due_date,
                       version
                FROM qonto_supplier_invoices WHERE created_date >= ? AND created_date < ?
                ORDER BY created_at DESC, id LIMIT ?
                """,
                [start, end, limit],
            ).fetchall()
        return [InvoicePreview(*row) for row in rows]

    def count(self) -> int:
        with self._db.connect() as con:
            return con.execute("SELECT count(*) FROM qonto_supplier_invoices").fetchone()[0]

    def day_summaries(self, days: Sequence[date]) -> dict[date, RangeSummary]:
        with self._db.connect() as con:
            rows = con.execute(
                """
                SELECT i.created_date, count(*),
                       count(*) FILTER (WHERE a.attachment_id IS NOT NULL),
                       count(*) FILTER (WHERE i.attachment_id IS NOT NULL AND a.attachment_id IS NULL),
                       count(*) FILTER (WHERE i.supplier_name IS NULL OR i.invoice_number IS NULL
                                        OR i.total_amount IS NULL OR i.due_date IS NULL)
                FROM qonto_supplier_invoices i LEFT JOIN qonto_attachments a ON a.attachment_id = i.attachment_id
                WHERE i.created_date IN (SELECT unnest(?::DATE[]))
                GROUP BY 1
                """,
                [list(days)],
            ).fetchall()
        return {day: RangeSummary(rows=n, with_attachment=docs, attachment_missing=missing, incomplete_ocr=ocr)
                for day, n, docs, missing, ocr in rows}

    def days_changed_since(self, moment: datetime) -> list[date]:
        with self._db.connect() as con:
            rows = con.execute(
                """
                SELECT DISTINCT i.created_date FROM qonto_supplier_invoices i
                LEFT JOIN qonto_attachments a ON a.attachment_id = i.attachment_id
                WHERE i.last_changed_at >= ? OR a.fetched_at >= ?
                ORDER BY 1
                """,
                [moment, moment],
            ).fetchall()
        return [day for (day,) in rows]

    # ---- what the asset checks read --------------------------------------------------------------------------
    def attachment_digests(self) -> list[AttachmentDigest]:
        with self._db.connect() as con:
            rows = con.execute(
                "SELECT attachment_id, sha256, size_bytes FROM qonto_attachments ORDER BY attachment_id").fetchall()
        return [AttachmentDigest(*row) for row in rows]

    def missing_documents(self) -> list[MissingDocument]:
        with self._db.connect() as con:
            rows = con.execute(
                """SELECT i.id, f.reason FROM qonto_supplier_invoices i
                   LEFT JOIN qonto_attachments a ON a.attachment_id = i.attachment_id
                   LEFT JOIN qonto_attachment_failures f ON f.attachment_id = i.attachment_id
                   WHERE i.attachment_id IS NOT NULL AND a.attachment_id IS NULL ORDER BY i.id"""
            ).fetchall()
        return [MissingDocument(*row) for row in rows]

    def count_without_attachment(self) -> int:
        with self._db.connect() as con:
            return con.execute(
                "SELECT count(*) FROM qonto_supplier_invoices WHERE attachment_id IS NULL").fetchone()[0]

    def unparsed_records(self) -> list[UnparsedRecord]:
        with self._db.connect() as con:
            rows = con.execute(
                "SELECT coalesce(record_id, reject_key), reason FROM qonto_rejected_records "
                "ORDER BY last_seen_at DESC"
            ).fetchall()
        return [UnparsedRecord(*row) for row in rows]
