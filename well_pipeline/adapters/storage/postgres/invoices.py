"""PostgreSQL implementation of `InvoiceStore` (`adapters/storage/ports.py`): Qonto supplier invoices, their
versions, their documents' metadata, rejected records and the named sync markers.

Semantics are DuckDB's (`duckdb/invoices.py`); what differs is that other processes may write at the same time.
An upsert of a page takes the schema's ingest lock (an advisory lock, for its transaction only), so two ingests
of the same records cannot both number the same new version; everything else is a single `ON CONFLICT` statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

import psycopg

from well_pipeline.adapters.qonto.records import RejectedRecord, SupplierInvoice
from well_pipeline.adapters.storage.postgres.database import PostgresDatabase
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

_INSERT_INVOICE = (
    f"INSERT INTO qonto_supplier_invoices ({', '.join(INVOICE_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(INVOICE_COLUMNS))}) ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in INVOICE_COLUMNS if c not in {"id", "first_seen_at"})
)
_SUMMARY = """count(*),
              count(*) FILTER (WHERE a.attachment_id IS NOT NULL),
              count(*) FILTER (WHERE i.attachment_id IS NOT NULL AND a.attachment_id IS NULL),
              count(*) FILTER (WHERE i.supplier_name IS NULL OR i.invoice_number IS NULL
                               OR i.total_amount IS NULL OR i.due_date IS NULL)
       FROM qonto_supplier_invoices i LEFT JOIN qonto_attachments a ON a.attachment_id = i.attachment_id"""


def lock_ingest(con: psycopg.Connection) -> None:
    """Inside the caller's transaction: wait for any other ingest of this schema to commit (released at the end)."""
    con.execute("SELECT pg_advisory_xact_lock(hashtextextended('well.ingest:' || current_schema(), 0))")


class PostgresInvoiceStore:
    """`InvoiceStore` in one PostgreSQL schema; each method opens, uses and closes its own connection."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    # ---- ingest --------------------------------------------------------------------------------------------
    def upsert_invoices(self, invoices: Sequence[SupplierInvoice], rejects: Sequence[RejectedRecord] = ()
                        ) -> ChangeSet:
        changes = ChangeSet()
        with self._db.connect() as con, con.transaction():
            lock_ingest(con)
            if invoices:
                changes = self._upsert(con, invoices)
            self._record_rejects(con, rejects)
            if invoices:  # a record that parses again is no longer a reject
                con.execute("DELETE FROM qonto_rejected_records WHERE record_id = ANY(%s::text[])",
                            [[i.id for i in invoices]])
        return changes

    def _upsert(self, con: psycopg.Connection, invoices: Sequence[SupplierInvoice]) -> ChangeSet:
        """Insert new ids, update changed ones (version + 1, history kept), leave unchanged rows untouched."""
        by_id: dict[str, tuple[SupplierInvoice, str]] = {}
        incoming = []
        for invoice in invoices:
            record_hash = fingerprint(invoice.raw)
            incoming.append(Incoming(invoice.id, record_hash, invoice.updated_at))
            previous = by_id.get(invoice.id)
            if previous is None or invoice.updated_at >= previous[0].updated_at:
                by_id[invoice.id] = (invoice, record_hash)
        rows = con.execute("SELECT id, record_hash, updated_at, version FROM qonto_supplier_invoices "
                           "WHERE id = ANY(%s::text[])", [list(by_id)]).fetchall()
        stored = {r[0]: StoredVersion(record_hash=r[1], updated_at=r[2].replace(tzinfo=UTC), version=r[3])
                  for r in rows}
        changes = classify(incoming, stored)
        now = utc_now()
        written = []
        for record_id in changes.new + changes.changed:
            invoice, record_hash = by_id[record_id]
            previous = stored.get(record_id)
            written.append(invoice_row(invoice, record_hash, previous.version + 1 if previous else 1, now))
        if written:
            with con.cursor() as cur:
                cur.executemany(_INSERT_INVOICE, written)
                at = {c: INVOICE_COLUMNS.index(c) for c in
                      ("id", "version", "record_hash", "updated_at", "raw_json", "last_changed_at")}
                cur.executemany(
                    "INSERT INTO qonto_supplier_invoice_versions VALUES (%s, %s, %s, %s, %s, %s)",
                    [[row[at[c]] for c in ("id", "version", "record_hash", "updated_at", "raw_json",
                                           "last_changed_at")] for row in written])
        return changes

    @staticmethod
    def _record_rejects(con: psycopg.Connection, rejects: Sequence[RejectedRecord]) -> None:
        """Keep every record Well could not parse, with its reason; the same record is counted, not duplicated."""
        if not rejects:
            return
        now = utc_now()
        with con.cursor() as cur:
            cur.executemany(
                "INSERT INTO qonto_rejected_records VALUES (%s, %s, %s, %s, %s, %s, 1) ON CONFLICT (reject_key) "
                "DO UPDATE SET reason = excluded.reason, raw_text = excluded.raw_text, "
                "last_seen_at = excluded.last_seen_at, seen_count = qonto_rejected_records.seen_count + 1",
                [(reject_key(r), r.record_id, r.reason, r.raw_text, now, now) for r in rejects])

    def attachments_needed(self, start: date, end: date) -> list[AttachmentNeed]:
        with self._db.connect() as con:
            rows = con.execute(
                """
                SELECT i.attachment_id, min(i.id)
                FROM qonto_supplier_invoices i
                LEFT JOIN qonto_attachments a ON a.attachment_id = i.attachment_id
                WHERE i.created_date >= %s AND i.created_date < %s AND i.attachment_id IS NOT NULL
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
        with self._db.connect() as con, con.transaction(), con.cursor() as cur:
            if stored:
                cur.executemany(
                    "INSERT INTO qonto_attachments VALUES (%s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (attachment_id) DO NOTHING",
                    [(s.attachment_id, s.sha256, s.size_bytes, s.content_type, s.file_name, s.blob_path, now)
                     for s in stored])
                cur.execute("DELETE FROM qonto_attachment_failures WHERE attachment_id = ANY(%s::text[])",
                            [[s.attachment_id for s in stored]])
            if failed:
                cur.executemany(
                    "INSERT INTO qonto_attachment_failures VALUES (%s, %s, %s, 1, %s) ON CONFLICT (attachment_id) "
                    "DO UPDATE SET reason = excluded.reason, attempts = qonto_attachment_failures.attempts + 1, "
                    "last_failed_at = excluded.last_failed_at",
                    [(f.attachment_id, f.invoice_id, f.reason, now) for f in failed])

    # ---- named markers ---------------------------------------------------------------------------------------
    def get_marker(self, name: str) -> str | None:
        with self._db.connect() as con:
            row = con.execute("SELECT value FROM sync_state WHERE name = %s", [name]).fetchone()
        return row[0] if row else None

    def set_marker(self, name: str, value: str) -> None:
        with self._db.connect() as con:
            con.execute("INSERT INTO sync_state VALUES (%s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
                        "value = excluded.value, updated_at = excluded.updated_at", [name, value, utc_now()])

    # ---- reporting -------------------------------------------------------------------------------------------
    def range_summary(self, start: date, end: date) -> RangeSummary:
        with self._db.connect() as con:
            row = con.execute(f"SELECT {_SUMMARY} WHERE i.created_date >= %s AND i.created_date < %s",
                              [start, end]).fetchone()
        return RangeSummary(rows=row[0], with_attachment=row[1], attachment_missing=row[2], incomplete_ocr=row[3])

    def preview(self, start: date, end: date, limit: int = 10) -> list[InvoicePreview]:
        with self._db.connect() as con:
            rows = con.execute(
                """
                SELECT id, created_at, status, supplier_name, invoice_number, total_amount, currency, due_date,
                       version
                FROM qonto_supplier_invoices WHERE created_date >= %s AND created_date < %s
                ORDER BY created_at DESC, id LIMIT %s
                """,
                [start, end, limit],
            ).fetchall()
        return [InvoicePreview(*row) for row in rows]

    def count(self) -> int:
        with self._db.connect() as con:
            return con.execute("SELECT count(*) FROM qonto_supplier_invoices").fetchone()[0]

    def day_summaries(self, days: Sequence[date]) -> dict[date, RangeSummary]:
        with self._db.connect() as con:
            rows = con.execute(f"SELECT i.created_date, {_SUMMARY} WHERE i.created_date = ANY(%s::date[]) "
                               "GROUP BY 1", [list(days)]).fetchall()
        return {day: RangeSummary(rows=n, with_attachment=docs, attachment_missing=missing, incomplete_ocr=ocr)
                for day, n, docs, missing, ocr in rows}

    def days_changed_since(self, moment: datetime) -> list[date]:
        with self._db.connect() as con:
            rows = con.execute(
                """
                SELECT DISTINCT i.created_date FROM qonto_supplier_invoices i
                LEFT JOIN qonto_attachments a ON a.attachment_id = i.attachment_id
                WHERE i.last_changed_at >= %s OR a.fetched_at >= %s
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
