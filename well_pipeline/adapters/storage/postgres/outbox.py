"""PostgreSQL implementation of `OutboxStore` (`adapters/storage/ports.py`): the delivery outbox, its audit
(`delivery_attempts`), holds and re-send approvals.

Semantics are DuckDB's (`duckdb/outbox.py`); what PostgreSQL adds is that they hold with several delivery
processes at once, enforced by the database rather than by running one writer:
- a claim (`mark_sending`) locks the record's outbox row (`FOR UPDATE`), and its upsert only takes a row that is
  not `sending` (`ON CONFLICT ... WHERE state <> 'sending'`): of two processes claiming one record at the same
  moment, with or without an existing row, exactly one gets it and the other gets `ClaimConflictError`;
- a re-send approval is used up by one `UPDATE ... WHERE used_at IS NULL`, so only one claim uses it;
- a claim is *leased*: the claiming process holds a session advisory lock on the record (`_ClaimLeases`) from
  before its row turns `sending` until it is completed or given back. `expire_interrupted` turns only rows whose
  lease is free into `unconfirmed`: PostgreSQL frees a lease when its connection ends, so that is exactly a dead
  process's claim, while a live process's e-mail in flight on another machine is left alone;
- `confirm_delivered` / `approve_resend` are single atomic statements.
Every method is one short transaction on a connection of its own, never held while the mail server talks; a lease
is a lock on an idle connection, not a transaction.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

import psycopg

from well_pipeline.adapters.storage.postgres.database import PostgresDatabase
from well_pipeline.adapters.storage.records import (
    ANY_ROW,
    CHANGE_APPLIED,
    DEFERRED,
    HANDED_OVER_OUTCOMES,
    AwaitingDelivery,
    Claim,
    ClaimConflictError,
    DeliveryDay,
    DeliveryRow,
    HeldRecord,
    OutboxStatus,
    SendAudit,
    Unchecked,
)
from well_pipeline.adapters.storage.rows import held_record, plan_outdated, utc_now
from well_pipeline.core.delivery.plan import OutboxEntry, OutboxState, Planned

_INTERRUPTED = "interrupted between hand-over and confirmation"
_MAX_REPLY_CHARS = 2000

# Released records the next delivery run would try: see `_AWAITING` in duckdb/outbox.py (the same query).
_AWAITING = """
    SELECT s.qonto_id, i.version, i.created_date,
           CASE WHEN a.qonto_id IS NOT NULL THEN 'approved re-send'
                WHEN o.state = 'temporary_failure' THEN 'temporary failure'
                ELSE 'not sent yet' END AS reason
    FROM scored_matches s
    JOIN qonto_supplier_invoices i ON i.id = s.qonto_id AND s.record_version = i.version
    LEFT JOIN outbox o ON o.qonto_id = s.qonto_id
    LEFT JOIN delivery_holds h ON h.qonto_id = s.qonto_id
    LEFT JOIN resend_approvals a ON a.qonto_id = s.qonto_id AND a.record_version = i.version AND a.used_at IS NULL
    LEFT JOIN (SELECT qonto_id, max(decided_at) AS decided_at FROM review_decisions GROUP BY 1) d
           ON d.qonto_id = s.qonto_id
    WHERE s.decision IN ('auto_link', 'manual_link')
      AND (a.qonto_id IS NOT NULL
           OR ((o.qonto_id IS NULL OR o.state = 'temporary_failure')
               AND (h.qonto_id IS NULL OR h.updated_at <= d.decided_at)))
"""
_ATTEMPT = "INSERT INTO delivery_attempts VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"


def _write_holds(con: psycopg.Connection, qonto_ids: Sequence[str], holds: Sequence[Planned],
                 changes: Mapping[str, dict], now: datetime) -> None:
    """Inside the caller's transaction: the holds of `qonto_ids` become `holds`."""
    if qonto_ids:
        con.execute("DELETE FROM delivery_holds WHERE qonto_id = ANY(%s::text[])", [list(qonto_ids)])
    for hold in holds:
        fields = changes.get(hold.qonto_id)
        # ON CONFLICT: a hold another process wrote between our delete and insert is replaced, not an error.
        con.execute("INSERT INTO delivery_holds VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (qonto_id) DO UPDATE "
                    "SET code = excluded.code, reason = excluded.reason, related_qonto_id = excluded.related_qonto_id, "
                    "changed_fields = excluded.changed_fields, updated_at = excluded.updated_at",
                    [hold.qonto_id, hold.code, hold.reason, hold.related_qonto_id,
                     json.dumps(fields, default=str) if fields else None, now])


class _ClaimLeases:
    """The claims this process has in flight, visible to every other process through PostgreSQL itself.

    Each claim holds `pg_try_advisory_lock(<schema>:<record>)` on a connection of its own until the claim is
    completed or given back. No timeout or heartbeat can tell a slow live run from a dead one; the server can:
    the lock goes when the connection does (process killed, machine lost: see `open_session`'s keepalives).
    """

    PREFIX = "well.claim:"

    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database
        self._held: dict[str, psycopg.Connection] = {}
        self._guard = threading.Lock()

    def key_prefix(self) -> str:
        return f"{self.PREFIX}{self._db.schema}:"

    def take(self, qonto_id: str) -> bool:
        """True once this process holds the record's lease; False when a live process holds it."""
        con = self._db.open_session()
        try:
            taken = con.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
                                [self.key_prefix() + qonto_id]).fetchone()[0]
        except BaseException:
            con.close()
            raise
        if not taken:
            con.close()
            return False
        with self._guard:
            previous, self._held[qonto_id] = self._held.get(qonto_id), con
        if previous is not None:
            previous.close()
        return True

    def drop(self, qonto_id: str) -> None:
        with self._guard:
            con = self._held.pop(qonto_id, None)
        if con is not None:
            con.close()  # the server drops the lock with the session


class PostgresOutboxStore:
    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database
        self._leases = _ClaimLeases(database)

    # -- planning a run -------------------------------------------------------------------------------------------
    def expire_interrupted(self) -> int:
        # Only a `sending` row whose lease is free was left by a dead process (see `_ClaimLeases`); the lease is
        # tried for this transaction only, so a claimer racing this one waits at most for its commit. Rows another
        # process holds locked are mid-claim or mid-completion: skipped (SKIP LOCKED).
        now = utc_now()
        with self._db.connect() as con, con.transaction():
            rows = con.execute(
                """SELECT o.qonto_id, o.record_version, o.message_id,
                          EXISTS (SELECT 1 FROM resend_approvals r WHERE r.qonto_id = o.qonto_id
                                  AND r.record_version = o.record_version AND r.used_at IS NOT NULL)
                   FROM outbox o WHERE o.state = 'sending'
                     AND pg_try_advisory_xact_lock(hashtextextended(%s || o.qonto_id, 0))
                   FOR UPDATE OF o SKIP LOCKED""", [self._leases.key_prefix()]
            ).fetchall()
            for qonto_id, version, message_id, resend in rows:
                con.execute(_ATTEMPT, [qonto_id, version, message_id, "unconfirmed", None, _INTERRUPTED, resend, now])
            con.execute("UPDATE outbox SET state = 'unconfirmed', updated_at = %s, last_reply = %s "
                        "WHERE qonto_id = ANY(%s::text[])", [now, _INTERRUPTED, [r[0] for r in rows]])
        return len(rows)

    def candidates(self, days: Sequence[date]) -> list[DeliveryRow]:
        with self._db.connect() as con:
            rows = con.execute(
                """
                SELECT s.qonto_id, i.version, s.decision, s.vendor_id, s.vendor_name, i.supplier_name,
                       i.invoice_number, i.total_amount::text, i.currency,
                       coalesce(a.file_name, i.file_name), a.content_type, a.size_bytes, a.sha256, a.blob_path
                FROM scored_matches s
                JOIN qonto_supplier_invoices i ON i.id = s.qonto_id
                LEFT JOIN qonto_attachments a ON a.attachment_id = i.attachment_id
                WHERE s.created_date = ANY(%s::date[]) AND s.decision IN ('auto_link', 'manual_link')
                  AND s.record_version = i.version  -- only the version scoring released, never a newer unscored one
                ORDER BY i.created_at, s.qonto_id
                """,
                [list(days)],
            ).fetchall()
        return [DeliveryRow(*r) for r in rows]

    def entries(self) -> dict[str, OutboxEntry]:
        with self._db.connect() as con:
            rows = con.execute("SELECT qonto_id, record_version, state, message_id FROM outbox").fetchall()
        return {r[0]: OutboxEntry(r[0], r[1], OutboxState(r[2]), r[3]) for r in rows}

    def delivered_keys(self) -> dict[tuple[str, str], str]:
        with self._db.connect() as con:
            rows = con.execute(
                "SELECT dedup_vendor, dedup_number, qonto_id FROM outbox WHERE dedup_vendor IS NOT NULL AND "
                "dedup_number IS NOT NULL AND state IN ('sent', 'sending', 'unconfirmed') "
                "ORDER BY created_at, qonto_id"
            ).fetchall()
        keys: dict[tuple[str, str], str] = {}
        for vendor, number, qonto_id in rows:
            keys.setdefault((vendor, number), qonto_id)
        return keys

    def approved_resends(self) -> list[tuple[str, int]]:
        with self._db.connect() as con:
            rows = con.execute("SELECT qonto_id, record_version FROM resend_approvals WHERE used_at IS NULL "
                               "ORDER BY approved_at, qonto_id").fetchall()
        return [(q, v) for q, v in rows]

    def handed_over_since(self, since: datetime) -> list[datetime]:
        with self._db.connect() as con:
            rows = con.execute("SELECT attempted_at FROM delivery_attempts WHERE outcome = ANY(%s::text[]) "
                               "AND attempted_at >= %s", [list(HANDED_OVER_OUTCOMES), since]).fetchall()
        return [moment + timedelta(seconds=1) for (moment,) in rows]

    def record_versions(self, wanted: Mapping[str, Sequence[int]]) -> dict[str, dict[int, dict]]:
        found: dict[str, dict[int, dict]] = {}
        if not wanted:
            return found
        with self._db.connect() as con:
            for qonto_id, versions in wanted.items():
                rows = con.execute("SELECT version, raw_json FROM qonto_supplier_invoice_versions WHERE id = %s "
                                   "AND version = ANY(%s::integer[])", [qonto_id, list(versions)]).fetchall()
                found[qonto_id] = {v: json.loads(raw) for v, raw in rows}
        return found

    def replace_holds(self, qonto_ids: Sequence[str], holds: Sequence[Planned],
                      changes: Mapping[str, dict] | None = None) -> None:
        now = utc_now()
        with self._db.connect() as con, con.transaction():
            _write_holds(con, qonto_ids, holds, changes or {}, now)

    def lift_unreleased_holds(self) -> int:
        with self._db.connect() as con, con.transaction():
            lifted = con.execute(
                "DELETE FROM delivery_holds h WHERE NOT EXISTS (SELECT 1 FROM scored_matches s WHERE s.qonto_id = "
                "h.qonto_id AND s.decision IN ('auto_link', 'manual_link')) RETURNING h.qonto_id"
            ).fetchall()
        return len(lifted)

    def pending_days(self) -> list[date]:
        with self._db.connect() as con:
            rows = con.execute(
                """
                SELECT DISTINCT s.created_date FROM scored_matches s
                JOIN qonto_supplier_invoices i ON i.id = s.qonto_id
                LEFT JOIN outbox o ON o.qonto_id = s.qonto_id
                WHERE s.decision IN ('auto_link', 'manual_link')
                  AND (o.qonto_id IS NULL OR o.state = 'temporary_failure' OR o.record_version < i.version
                       OR EXISTS (SELECT 1 FROM resend_approvals r WHERE r.qonto_id = s.qonto_id
                                  AND r.record_version = i.version AND r.used_at IS NULL))
                ORDER BY 1
                """).fetchall()
        return [day for (day,) in rows]

    # -- one e-mail -----------------------------------------------------------------------------------------------
    def mark_sending(self, row: DeliveryRow, *, message_id: str, to_address: str, dedup: tuple[str, str] | None,
                     resend: bool, expected: OutboxEntry | None | Unchecked = ANY_ROW) -> Claim:
        # The lease before the row turns `sending`, so no moment exists where the row is `sending` and its lease
        # free; a lease another process holds is its claim in flight.
        if not self._leases.take(row.qonto_id):
            raise ClaimConflictError(row.qonto_id)
        try:
            return self._claim(row, message_id=message_id, to_address=to_address, dedup=dedup, resend=resend,
                               expected=expected)
        except BaseException:
            self._leases.drop(row.qonto_id)
            raise

    def _claim(self, row: DeliveryRow, *, message_id: str, to_address: str, dedup: tuple[str, str] | None,
               resend: bool, expected: OutboxEntry | None | Unchecked) -> Claim:
        now = utc_now()
        with self._db.connect() as con, con.transaction():
            cursor = con.execute("SELECT * FROM outbox WHERE qonto_id = %s FOR UPDATE", [row.qonto_id])
            found = cursor.fetchone()
            previous = dict(zip([c.name for c in cursor.description], found, strict=True)) if found else None
            if (previous is not None and previous["state"] == OutboxState.SENDING) or plan_outdated(previous, expected):
                raise ClaimConflictError(row.qonto_id)  # rolls the transaction back: nothing changed
            # No row to lock yet: two claimers may both get here. The insert of the second waits for the first to
            # commit, then its conflict clause takes nothing: a row it did not see (and lock) is never overwritten.
            claimed = con.execute(
                """
                INSERT INTO outbox VALUES (%s, %s, 'sending', %s, %s, %s, %s, %s, %s, 0, NULL, NULL, %s, %s, NULL)
                ON CONFLICT (qonto_id) DO UPDATE SET record_version = excluded.record_version, state = 'sending',
                    message_id = excluded.message_id, to_address = excluded.to_address, vendor_id = excluded.vendor_id,
                    dedup_vendor = excluded.dedup_vendor, dedup_number = excluded.dedup_number,
                    attachment_sha256 = excluded.attachment_sha256, updated_at = excluded.updated_at
                WHERE outbox.state <> 'sending' AND %s
                RETURNING qonto_id
                """,
                [row.qonto_id, row.record_version, message_id, to_address, row.vendor_id,
                 dedup[0] if dedup else None, dedup[1] if dedup else None, row.sha256, now, now,
                 previous is not None],
            ).fetchall()
            if not claimed:
                raise ClaimConflictError(row.qonto_id)
            used = False
            if resend:
                used = bool(con.execute(
                    "UPDATE resend_approvals SET used_at = %s WHERE qonto_id = %s AND record_version = %s "
                    "AND used_at IS NULL RETURNING qonto_id", [now, row.qonto_id, row.record_version]).fetchall())
                if not used and expected is not ANY_ROW:
                    raise ClaimConflictError(row.qonto_id)  # its approval was used by another claim meanwhile
        return Claim(previous, now if used else None)

    def release(self, row: DeliveryRow, claim: Claim, *, message_id: str, reason: str) -> None:
        # The next run then sends the record exactly as if this one had not tried: pending, neither failed nor
        # unconfirmed.
        now = utc_now()
        with self._db.connect() as con, con.transaction():
            if claim.previous is None:
                con.execute("DELETE FROM outbox WHERE qonto_id = %s AND state = 'sending'", [row.qonto_id])
            else:
                columns = [name for name in claim.previous if name != "qonto_id"]
                con.execute(f"UPDATE outbox SET {', '.join(f'{name} = %s' for name in columns)} "
                            "WHERE qonto_id = %s AND state = 'sending'",
                            [claim.previous[name] for name in columns] + [row.qonto_id])
            if claim.approval_used_at is not None:
                con.execute("UPDATE resend_approvals SET used_at = NULL WHERE qonto_id = %s AND record_version = %s "
                            "AND used_at = %s", [row.qonto_id, row.record_version, claim.approval_used_at])
            con.execute(_ATTEMPT, [row.qonto_id, row.record_version, message_id, DEFERRED, None,
                                   reason[:_MAX_REPLY_CHARS], claim.approval_used_at is not None, now])
        self._leases.drop(row.qonto_id)

    def complete(self, row: DeliveryRow, *, message_id: str, state: OutboxState, code: int | None, reply: str,
                 attempts: int, resend: bool, hold: Planned | None = None) -> None:
        now = utc_now()
        reply = reply[:_MAX_REPLY_CHARS]
        with self._db.connect() as con, con.transaction():
            con.execute(
                "UPDATE outbox SET state = %s, attempts = attempts + %s, last_code = %s, last_reply = %s, "
                "updated_at = %s, sent_at = CASE WHEN %s = 'sent' THEN %s ELSE sent_at END WHERE qonto_id = %s",
                [state.value, attempts, code, reply, now, state.value, now, row.qonto_id])
            con.execute(_ATTEMPT, [row.qonto_id, row.record_version, message_id, state.value, code, reply, resend,
                                   now])
            if hold is not None:
                _write_holds(con, [row.qonto_id], [hold], {}, now)
        self._leases.drop(row.qonto_id)

    # -- people's decisions ---------------------------------------------------------------------------------------
    def approve_resend(self, qonto_id: str, author: str) -> int | None:
        with self._db.connect() as con, con.transaction():
            found = con.execute("SELECT version FROM qonto_supplier_invoices WHERE id = %s FOR SHARE",
                                [qonto_id]).fetchone()
            if found is None:
                return None
            con.execute("INSERT INTO resend_approvals VALUES (%s, %s, %s, %s, NULL) ON CONFLICT DO NOTHING",
                        [qonto_id, found[0], author, utc_now()])
        return found[0]

    def confirm_delivered(self, qonto_id: str, author: str) -> bool:
        now = utc_now()
        with self._db.connect() as con, con.transaction():
            updated = con.execute(
                "UPDATE outbox SET state = 'sent', sent_at = %s, updated_at = %s, last_reply = %s WHERE qonto_id = %s "
                "AND state IN ('unconfirmed', 'sending') RETURNING message_id, record_version",
                [now, now, f"confirmed in Melio by {author}", qonto_id]).fetchall()
            if updated:
                con.execute(_ATTEMPT, [qonto_id, updated[0][1], updated[0][0], "confirmed_by_person", None,
                                       f"confirmed by {author}", False, now])
                con.execute("DELETE FROM delivery_holds WHERE qonto_id = %s", [qonto_id])
        return bool(updated)

    def dismiss_change(self, qonto_id: str, version: int, author: str, reason: str) -> bool:
        # The UPDATE locks the outbox row until commit: a claim of the record meanwhile (an approved re-send)
        # waits, then finds the row changed since its plan.
        now = utc_now()
        with self._db.connect() as con, con.transaction():
            updated = con.execute(
                "UPDATE outbox SET record_version = %s, updated_at = %s, last_reply = %s WHERE qonto_id = %s "
                "AND state = 'sent' AND record_version < %s AND EXISTS (SELECT 1 FROM delivery_holds h "
                "WHERE h.qonto_id = %s AND h.code = 'CHANGED_AFTER_DELIVERY') RETURNING message_id",
                [version, now, f"change to version {version} applied in Melio by hand ({author})", qonto_id,
                 version, qonto_id]).fetchall()
            if updated:
                con.execute(_ATTEMPT, [qonto_id, version, updated[0][0], CHANGE_APPLIED, None,
                                       f"dismissed by {author}: {reason}"[:_MAX_REPLY_CHARS], False, now])
                con.execute("DELETE FROM delivery_holds WHERE qonto_id = %s", [qonto_id])
        return bool(updated)

    # -- what people and checks read ------------------------------------------------------------------------------
    def status(self) -> OutboxStatus:
        with self._db.connect() as con:
            states = con.execute("SELECT state, count(*) FROM outbox GROUP BY 1 ORDER BY 1").fetchall()
            holds = con.execute("SELECT code, count(*) FROM delivery_holds GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
        return OutboxStatus([(s, n) for s, n in states], [(c, n) for c, n in holds])

    def held(self, limit: int) -> list[HeldRecord]:
        with self._db.connect() as con:
            rows = con.execute("SELECT qonto_id, code, reason, related_qonto_id, changed_fields FROM delivery_holds "
                               "ORDER BY updated_at DESC, qonto_id LIMIT %s", [limit]).fetchall()
        return [held_record(*row) for row in rows]

    def hold(self, qonto_id: str) -> HeldRecord | None:
        with self._db.connect() as con:
            row = con.execute("SELECT qonto_id, code, reason, related_qonto_id, changed_fields FROM delivery_holds "
                              "WHERE qonto_id = %s", [qonto_id]).fetchone()
        return None if row is None else held_record(*row)

    def send_audit(self) -> SendAudit:
        with self._db.connect() as con:
            twice = con.execute(
                """
                SELECT qonto_id FROM delivery_attempts
                WHERE outcome IN ('sent', 'unconfirmed') AND NOT resend
                GROUP BY qonto_id HAVING count(*) > 1 ORDER BY qonto_id
                """).fetchall()
            sent = con.execute("SELECT count(*) FROM outbox WHERE state = 'sent'").fetchone()[0]
        return SendAudit(sent, [q for (q,) in twice])

    # -- what the partitions and the sync sensor read -------------------------------------------------------------
    def day_deliveries(self, days: Sequence[date]) -> dict[date, DeliveryDay]:
        wanted = list(days)
        with self._db.connect() as con:
            totals = con.execute(
                """
                SELECT i.created_date,
                       count(*) FILTER (WHERE s.decision IN ('auto_link', 'manual_link')),
                       count(*) FILTER (WHERE o.qonto_id IS NOT NULL OR h.qonto_id IS NOT NULL)
                FROM qonto_supplier_invoices i
                LEFT JOIN scored_matches s ON s.qonto_id = i.id
                LEFT JOIN outbox o ON o.qonto_id = i.id
                LEFT JOIN delivery_holds h ON h.qonto_id = i.id
                WHERE i.created_date = ANY(%s::date[])
                GROUP BY 1
                """, [wanted]).fetchall()
            states = con.execute(
                "SELECT i.created_date, o.state, count(*) FROM outbox o JOIN qonto_supplier_invoices i "
                "ON i.id = o.qonto_id WHERE i.created_date = ANY(%s::date[]) GROUP BY 1, 2 ORDER BY 1, 2",
                [wanted]).fetchall()
            holds = con.execute(
                "SELECT i.created_date, h.code, count(*) FROM delivery_holds h JOIN qonto_supplier_invoices i "
                "ON i.id = h.qonto_id WHERE i.created_date = ANY(%s::date[]) GROUP BY 1, 2 ORDER BY 1, 2",
                [wanted]).fetchall()
            waiting = con.execute(
                f"SELECT created_date, count(*) FROM ({_AWAITING}) AS w WHERE created_date = ANY(%s::date[]) "
                "GROUP BY 1", [wanted]).fetchall()
        by_state: dict[date, dict[str, int]] = {}
        for day, state, count in states:
            by_state.setdefault(day, {})[state] = count
        by_hold: dict[date, dict[str, int]] = {}
        for day, code, count in holds:
            by_hold.setdefault(day, {})[code] = count
        waiting_by_day = dict(waiting)
        return {day: DeliveryDay(released, recorded, by_state.get(day, {}), by_hold.get(day, {}),
                                 waiting_by_day.get(day, 0))
                for day, released, recorded in totals if released or recorded}

    def awaiting_delivery(self) -> list[AwaitingDelivery]:
        with self._db.connect() as con:
            rows = con.execute(
                f"SELECT w.* FROM ({_AWAITING}) AS w JOIN qonto_supplier_invoices i ON i.id = w.qonto_id "
                "ORDER BY i.created_at, w.qonto_id").fetchall()
        return [AwaitingDelivery(*row) for row in rows]
