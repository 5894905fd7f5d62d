"""The delivery outbox in DuckDB: each write is one short transaction around, never across, an SMTP exchange.

The delivery run opens a connection per step (claim, then complete or release) and closes it while the mail
server talks, so `well` commands can read and write the file between two e-mails (DuckDB allows one writing
process at a time).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import duckdb

from well_pipeline.adapters.storage.duckdb.database import transaction, utc_now
from well_pipeline.core.delivery.plan import OutboxEntry, OutboxState, Planned


@dataclass(frozen=True)
class DeliveryRow:
    """A record released by scoring, with everything the e-mail needs (document bytes are read separately)."""

    qonto_id: str
    record_version: int
    decision: str
    vendor_id: str | None
    vendor_name: str | None
    supplier_name: str | None
    invoice_number: str | None
    amount: str | None
    currency: str | None
    file_name: str | None
    content_type: str | None
    size_bytes: int | None
    sha256: str | None
    blob_path: str | None


# Outcomes in `delivery_attempts` of an e-mail the relay took (or may have taken): what a sending quota counts.
HANDED_OVER_OUTCOMES = ("sent", "unconfirmed")
# Outcome of a claim given back without any hand-over (quota answer, configuration error): audit only.
DEFERRED = "deferred"


@dataclass(frozen=True)
class Claim:
    """What `mark_sending` replaced, so `release` can put it back: the previous outbox row (None: there was
    none) and whether a re-send approval was used by this claim."""

    previous: dict[str, Any] | None
    approval_used_at: datetime | None


class OutboxRepository:
    def candidates(self, con: duckdb.DuckDBPyConnection, days: Sequence[date]) -> list[DeliveryRow]:
        rows = con.execute(
            """
            SELECT s.qonto_id, i.version, s.decision, s.vendor_id, s.vendor_name, i.supplier_name, i.invoice_number,
                   CAST(i.total_amount AS VARCHAR), i.currency, coalesce(a.file_name, i.file_name), a.content_type,
                   a.size_bytes, a.sha256, a.blob_path
            FROM scored_matches s
            JOIN qonto_supplier_invoices i ON i.id = s.qonto_id
            LEFT JOIN qonto_attachments a ON a.attachment_id = i.attachment_id
            WHERE s.created_date IN (SELECT unnest(?::DATE[])) AND s.decision IN ('auto_link', 'manual_link')
              AND s.record_version = i.version  -- only the version scoring released, never a newer unscored one
            ORDER BY i.created_at, s.qonto_id
            """,
            [list(days)],
        ).fetchall()
        return [DeliveryRow(*r) for r in rows]

    def entries(self, con: duckdb.DuckDBPyConnection) -> dict[str, OutboxEntry]:
        return {r[0]: OutboxEntry(r[0], r[1], OutboxState(r[2]), r[3]) for r in con.execute(
            "SELECT qonto_id, record_version, state, message_id FROM outbox").fetchall()}

    def delivered_keys(self, con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], str]:
        """(vendor, number) → Qonto id of everything handed to Melio (sent, or possibly sent)."""
        rows = con.execute(
            "SELECT dedup_vendor, dedup_number, qonto_id FROM outbox WHERE dedup_vendor IS NOT NULL AND "
            "dedup_number IS NOT NULL AND state IN ('sent', 'sending', 'unconfirmed') ORDER BY created_at, qonto_id"
        ).fetchall()
        keys: dict[tuple[str, str], str] = {}
        for vendor, number, qonto_id in rows:
            keys.setdefault((vendor, number), qonto_id)
        return keys

    def approved_resends(self, con: duckdb.DuckDBPyConnection) -> list[tuple[str, int]]:
        return [(q, v) for q, v in con.execute(
            "SELECT qonto_id, record_version FROM resend_approvals WHERE used_at IS NULL").fetchall()]

    def expire_interrupted(self, con: duckdb.DuckDBPyConnection) -> int:
        """Rows left `sending` by a run that died: their outcome is unknown, so they become `unconfirmed`.

        Safe because delivery runs one at a time (the `duckdb` pool): no other run can be mid-send.
        """
        now = utc_now()
        with transaction(con):
            rows = con.execute(
                """SELECT o.qonto_id, o.record_version, o.message_id,
                          EXISTS (SELECT 1 FROM resend_approvals r WHERE r.qonto_id = o.qonto_id
                                  AND r.record_version = o.record_version AND r.used_at IS NOT NULL)
                   FROM outbox o WHERE o.state = 'sending'"""
            ).fetchall()
            for qonto_id, version, message_id, resend in rows:
                con.execute("INSERT INTO delivery_attempts VALUES (?, ?, ?, 'unconfirmed', NULL, ?, ?, ?)",
                            [qonto_id, version, message_id, "interrupted between hand-over and confirmation", resend,
                             now])
            con.execute("UPDATE outbox SET state = 'unconfirmed', updated_at = ?, last_reply = "
                        "'interrupted between hand-over and confirmation' WHERE state = 'sending'", [now])
        return len(rows)

    def mark_sending(self, con: duckdb.DuckDBPyConnection, row: DeliveryRow, *, message_id: str, to_address: str,
                     dedup: tuple[str, str] | None, resend: bool) -> Claim:
        """Committed before the e-mail leaves. A re-send uses up its approval here, whatever happens next (unless
        the claim is released: nothing was handed over). Returns what `release` needs to undo the claim."""
        now = utc_now()
        with transaction(con):
            cursor = con.execute("SELECT * FROM outbox WHERE qonto_id = ?", [row.qonto_id])
            found = cursor.fetchone()
            previous = dict(zip([c[0] for c in cursor.description], found, strict=True)) if found else None
            con.execute(
                """
                INSERT INTO outbox VALUES (?, ?, 'sending', ?, ?, ?, ?, ?, ?, 0, NULL, NULL, ?, ?, NULL)
                ON CONFLICT (qonto_id) DO UPDATE SET record_version = excluded.record_version, state = 'sending',
                    message_id = excluded.message_id, to_address = excluded.to_address, vendor_id = excluded.vendor_id,
                    dedup_vendor = excluded.dedup_vendor, dedup_number = excluded.dedup_number,
                    attachment_sha256 = excluded.attachment_sha256, updated_at = excluded.updated_at
                """,
                [row.qonto_id, row.record_version, message_id, to_address, row.vendor_id,
                 dedup[0] if dedup else None, dedup[1] if dedup else None, row.sha256, now, now],
            )
            used = False
            if resend:
                used = bool(con.execute(
                    "UPDATE resend_approvals SET used_at = ? WHERE qonto_id = ? AND record_version = ? "
                    "AND used_at IS NULL RETURNING qonto_id", [now, row.qonto_id, row.record_version]).fetchall())
        return Claim(previous, now if used else None)

    def release(self, con: duckdb.DuckDBPyConnection, row: DeliveryRow, claim: Claim, *, message_id: str,
                reason: str) -> None:
        """Undo a claim whose e-mail was never handed over (a quota answer, a configuration error).

        The outbox row is put back as it was (deleted if there was none) and a used re-send approval is
        usable again, so the next run sends the record exactly as if this one had not tried: pending, neither
        failed nor unconfirmed. The audit keeps a `deferred` line with the reason.
        """
        now = utc_now()
        with transaction(con):
            if claim.previous is None:
                con.execute("DELETE FROM outbox WHERE qonto_id = ? AND state = 'sending'", [row.qonto_id])
            else:
                columns = [name for name in claim.previous if name != "qonto_id"]
                con.execute(f"UPDATE outbox SET {', '.join(f'{name} = ?' for name in columns)} "
                            "WHERE qonto_id = ? AND state = 'sending'",
                            [claim.previous[name] for name in columns] + [row.qonto_id])
            if claim.approval_used_at is not None:
                con.execute("UPDATE resend_approvals SET used_at = NULL WHERE qonto_id = ? AND record_version = ? "
                            "AND used_at = ?", [row.qonto_id, row.record_version, claim.approval_used_at])
            con.execute("INSERT INTO delivery_attempts VALUES (?, ?, ?, ?, NULL, ?, ?, ?)",
                        [row.qonto_id, row.record_version, message_id, DEFERRED, reason[:2000],
                         claim.approval_used_at is not None, now])

    def handed_over_since(self, con: duckdb.DuckDBPyConnection, since: datetime) -> list[datetime]:
        """When each e-mail the relay took (or may have taken) since `since` was recorded: a quota's history.

        Stored times are whole seconds, rounded down; each counts as one second later (the safe side).
        """
        rows = con.execute("SELECT attempted_at FROM delivery_attempts WHERE outcome IN (SELECT unnest(?::VARCHAR[])) "
                           "AND attempted_at >= ?", [list(HANDED_OVER_OUTCOMES), since]).fetchall()
        return [moment + timedelta(seconds=1) for (moment,) in rows]

    def complete(self, con: duckdb.DuckDBPyConnection, row: DeliveryRow, *, message_id: str, state: OutboxState,
                 code: int | None, reply: str, attempts: int, resend: bool) -> None:
        """Written after the server's answer (or its absence), in one transaction with the audit row."""
        now = utc_now()
        with transaction(con):
            con.execute(
                "UPDATE outbox SET state = ?, attempts = attempts + ?, last_code = ?, last_reply = ?, updated_at = ?, "
                "sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END WHERE qonto_id = ?",
                [state.value, attempts, code, reply[:2000], now, state.value, now, row.qonto_id],
            )
            con.execute("INSERT INTO delivery_attempts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [row.qonto_id, row.record_version, message_id, state.value, code, reply[:2000], resend, now])

    def replace_holds(self, con: duckdb.DuckDBPyConnection, qonto_ids: Sequence[str], holds: Sequence[Planned],
                      changes: dict[str, dict]) -> None:
        now = utc_now()
        with transaction(con):
            if qonto_ids:
                con.execute("DELETE FROM delivery_holds WHERE qonto_id IN (SELECT unnest(?::VARCHAR[]))",
                            [list(qonto_ids)])
            for hold in holds:
                fields = changes.get(hold.qonto_id)
                con.execute("INSERT INTO delivery_holds VALUES (?, ?, ?, ?, ?, ?)",
                            [hold.qonto_id, hold.code, hold.reason, hold.related_qonto_id,
                             json.dumps(fields, default=str) if fields else None, now])

    def record_versions(self, con: duckdb.DuckDBPyConnection, qonto_id: str, versions: Sequence[int]
                        ) -> dict[int, dict]:
        rows = con.execute("SELECT version, raw_json FROM qonto_supplier_invoice_versions WHERE id = ? AND version IN "
                           "(SELECT unnest(?::INTEGER[]))", [qonto_id, list(versions)]).fetchall()
        return {v: json.loads(raw) for v, raw in rows}

    # ---- people's decisions --------------------------------------------------------------------
    def approve_resend(self, con: duckdb.DuckDBPyConnection, qonto_id: str, author: str) -> int:
        version = con.execute("SELECT version FROM qonto_supplier_invoices WHERE id = ?", [qonto_id]).fetchone()
        if version is None:
            raise KeyError(qonto_id)
        con.execute("INSERT INTO resend_approvals VALUES (?, ?, ?, ?, NULL) ON CONFLICT DO NOTHING",
                    [qonto_id, version[0], author, utc_now()])
        return version[0]

    def confirm_delivered(self, con: duckdb.DuckDBPyConnection, qonto_id: str, author: str) -> bool:
        """A person found the message in Melio: an unconfirmed row becomes sent (no e-mail is sent)."""
        now = utc_now()
        with transaction(con):
            updated = con.execute(
                "UPDATE outbox SET state = 'sent', sent_at = ?, updated_at = ?, last_reply = ? WHERE qonto_id = ? AND "
                "state IN ('unconfirmed', 'sending') RETURNING message_id, record_version",
                [now, now, f"confirmed in Melio by {author}", qonto_id]).fetchall()
            if updated:
                con.execute("INSERT INTO delivery_attempts VALUES (?, ?, ?, 'confirmed_by_person', NULL, ?, FALSE, ?)",
                            [qonto_id, updated[0][1], updated[0][0], f"confirmed by {author}", now])
                con.execute("DELETE FROM delivery_holds WHERE qonto_id = ?", [qonto_id])
        return bool(updated)
