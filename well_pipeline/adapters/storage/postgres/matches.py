"""PostgreSQL implementation of `MatchStore` (`adapters/storage/ports.py`): scored matches and review decisions.

Semantics are DuckDB's (`duckdb/matches.py`). With several writers, a decision's stale check and its write are one
transaction holding the invoice's row lock (`FOR UPDATE`): a new Qonto version stored at the same moment waits
for the decision (and then makes it stale for scoring), and two decisions on one record are applied one after the
other, each checking what the previous one left.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import psycopg

from well_pipeline.adapters.storage.postgres.database import PostgresDatabase
from well_pipeline.adapters.storage.postgres.melio import vendor_name
from well_pipeline.adapters.storage.records import (
    QUEUE_DECISIONS,
    DecisionRecord,
    MatchDetails,
    RowCoverage,
    ScoredDay,
    ScoredRow,
    ScoringInputs,
    StaleRecordError,
)
from well_pipeline.adapters.storage.rows import (
    ENTRY_COLUMNS,
    MATCH_COLUMNS,
    check_expected_decision,
    queue_entry,
    scored_values,
    utc_now,
)
from well_pipeline.core.matching.vendor_index import LearnedLink
from well_pipeline.core.scoring.display import QueueKey, QueuePage, select_page
from well_pipeline.core.scoring.model import ReviewOverride

# The latest decision per record (decisions are append-only; the highest id wins): DuckDB's QUALIFY, in Postgres.
_LATEST_DECISIONS = "SELECT DISTINCT ON (qonto_id) * FROM review_decisions ORDER BY qonto_id, decision_id DESC"


def _apply_decision(con: psycopg.Connection, qonto_id: str, action: str, vendor_id: str | None) -> None:
    """A person's decision on the current scored row: refused, or a manual link to the chosen vendor."""
    if action == "refuse":
        con.execute("UPDATE scored_matches SET decision = 'refused' WHERE qonto_id = %s", [qonto_id])
        return
    con.execute("UPDATE scored_matches SET decision = 'manual_link', vendor_id = %s, vendor_name = %s "
                "WHERE qonto_id = %s", [vendor_id, vendor_name(con, vendor_id), qonto_id])


def _reapply_decisions_since(con: psycopg.Connection, decision_id: int) -> int:
    """Decisions recorded while a scoring run was computing: applied again on top of its fresh rows."""
    rows = con.execute(
        f"""SELECT d.qonto_id, d.action, d.vendor_id FROM ({_LATEST_DECISIONS}) d
            JOIN qonto_supplier_invoices i ON i.id = d.qonto_id
            WHERE d.decision_id > %s AND d.record_version = i.version""",
        [decision_id]).fetchall()
    for qonto_id, action, vendor_id in rows:
        _apply_decision(con, qonto_id, action, vendor_id)
    return len(rows)


def _latest_decision_id(con: psycopg.Connection) -> int:
    return con.execute("SELECT coalesce(max(decision_id), 0) FROM review_decisions").fetchone()[0]


def _overrides(con: psycopg.Connection) -> dict[str, ReviewOverride]:
    """The latest decision per record. One made on an older version of the record no longer applies."""
    rows = con.execute(
        f"""
        SELECT d.qonto_id, d.action, d.vendor_id, d.reason, d.author, d.decided_at, d.record_version, i.version
        FROM ({_LATEST_DECISIONS}) d JOIN qonto_supplier_invoices i ON i.id = d.qonto_id
        """
    ).fetchall()
    result = {}
    for qonto_id, action, vendor_id, reason, author, decided_at, decided_version, current_version in rows:
        if decided_version is not None and decided_version != current_version:
            continue  # Qonto changed the record after the decision: it goes back to the queue
        result[qonto_id] = ReviewOverride(qonto_id, action, vendor_id, reason, author,
                                          decided_at.isoformat() + "Z", {"record_version": decided_version})
    return result


def _learned_links(con: psycopg.Connection) -> list[LearnedLink]:
    """Confirmed facts: each record a person approved or pinned (its latest decision), and each record Well
    delivered, links its supplier name, IBAN and Qonto supplier id to the vendor, citing the record."""
    rows = con.execute(
        f"""
        SELECT d.vendor_id, d.supplier_name, d.iban, i.supplier_id, d.qonto_id FROM ({_LATEST_DECISIONS}) d
        LEFT JOIN qonto_supplier_invoices i ON i.id = d.qonto_id
        WHERE d.action IN ('pin', 'approve') AND d.vendor_id IS NOT NULL
        UNION ALL
        SELECT o.vendor_id, i.supplier_name, i.iban, i.supplier_id, o.qonto_id FROM outbox o
        JOIN qonto_supplier_invoices i ON i.id = o.qonto_id
        WHERE o.state = 'sent' AND o.vendor_id IS NOT NULL
        """
    ).fetchall()
    return [LearnedLink(v, supplier_name=n, iban=i, supplier_id=sid, source_id=q) for v, n, i, sid, q in rows]


def _observed_ibans(con: psycopg.Connection, outside_days: Sequence[date]) -> list[tuple[str, str, int]]:
    """(vendor_id, IBAN, records) over records created outside `outside_days` that scoring resolved to a vendor
    (not ambiguous, not themselves a possible fraud): negative evidence only, it reveals an odd IBAN out."""
    return con.execute(
        """
        SELECT s.vendor_id, i.iban, count(*) FROM scored_matches s
        JOIN qonto_supplier_invoices i ON i.id = s.qonto_id
        WHERE s.vendor_id IS NOT NULL AND i.iban IS NOT NULL AND s.decision <> 'refused'
          AND NOT s.hard_rules && ARRAY['AMBIGUOUS_VENDOR', 'BANK_DETAILS_CHANGED']::text[]
          AND s.created_date <> ALL(%s::date[])
        GROUP BY 1, 2
        """, [list(outside_days)]).fetchall()


class PostgresMatchStore:
    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    # ---- scoring ------------------------------------------------------------------------------------------------
    def scoring_inputs(self, days: Sequence[date]) -> ScoringInputs:
        """Everything scoring reads besides the Melio side, from one snapshot (a repeatable-read transaction)."""
        with self._db.connect() as con:
            con.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                cursor = con.execute(
                    """
                    SELECT i.*, a.content_type AS document_type, a.size_bytes AS document_size,
                           a.file_name AS document_name, a.attachment_id IS NOT NULL AS has_document
                    FROM qonto_supplier_invoices i LEFT JOIN qonto_attachments a ON a.attachment_id = i.attachment_id
                    WHERE i.created_date = ANY(%s::date[]) ORDER BY i.created_at, i.id
                    """,
                    [list(days)],
                )
                columns = [c.name for c in cursor.description]
                invoices = [dict(zip(columns, r, strict=True)) for r in cursor.fetchall()]
                keys = con.execute("SELECT id, created_at, invoice_number, total_amount, currency, supplier_name, "
                                   "iban FROM qonto_supplier_invoices").fetchall()
                return ScoringInputs(invoices=invoices, duplicate_keys=keys, decisions_seen=_latest_decision_id(con),
                                     overrides=_overrides(con), learned=_learned_links(con),
                                     observed_ibans=_observed_ibans(con, days))
            finally:
                con.execute("COMMIT")

    def replace_days(self, days: Sequence[date], rows: Sequence[ScoredRow], decisions_seen: int | None = None
                     ) -> None:
        """Replace the scored rows of invoices created on `days` in one short transaction; decisions recorded
        after `decisions_seen` (while scoring computed) are applied again on top (see the protocol)."""
        now = utc_now()
        values = [scored_values(r, now) for r in rows]
        with self._db.connect() as con, con.transaction(), con.cursor() as cur:
            # A decision committing meanwhile must either be seen by the re-apply below or land after our rows:
            # the review_decisions lock orders the two (decisions take it in SHARE ROW EXCLUSIVE too).
            cur.execute("LOCK TABLE review_decisions IN SHARE ROW EXCLUSIVE MODE")
            cur.execute("DELETE FROM scored_matches WHERE created_date = ANY(%s::date[])", [list(days)])
            ids = [r.match.qonto_id for r in rows]
            if ids:
                # A record whose creation date moved (Qonto corrected it) must not keep a row elsewhere.
                cur.execute("DELETE FROM scored_matches WHERE qonto_id = ANY(%s::text[])", [ids])
                cur.executemany(f"INSERT INTO scored_matches ({', '.join(MATCH_COLUMNS)}) "
                                f"VALUES ({', '.join(['%s'] * len(MATCH_COLUMNS))})", values)
            if decisions_seen is not None:
                _reapply_decisions_since(con, decisions_seen)

    def stale_dates(self, melio_loaded_at: datetime | None) -> list[date]:
        with self._db.connect() as con:
            rows = con.execute(
                """
                SELECT DISTINCT i.created_date FROM qonto_supplier_invoices i
                LEFT JOIN scored_matches s ON s.qonto_id = i.id
                LEFT JOIN qonto_attachments a ON a.attachment_id = i.attachment_id
                WHERE s.qonto_id IS NULL OR s.record_version <> i.version
                   OR a.fetched_at >= s.scored_at  -- a document arrived after the record was scored
                   OR s.scored_at <= %s::timestamp
                ORDER BY 1
                """, [melio_loaded_at]).fetchall()
        return [r[0] for r in rows]

    # ---- review decisions ---------------------------------------------------------------------------------------
    def record_decision(self, *, qonto_id: str, action: str, author: str, vendor_id: str | None = None,
                        reason: str | None = None, expected_decision: str | None = None) -> ReviewOverride:
        """Store a person's decision and apply it to the current scored row, checked and written in one
        transaction under the invoice's row lock (see the module docstring)."""
        now = utc_now()
        with self._db.connect() as con, con.transaction():
            con.execute("LOCK TABLE review_decisions IN SHARE ROW EXCLUSIVE MODE")
            row = con.execute(
                "SELECT i.version, s.record_version, i.supplier_name, i.iban, s.vendor_id, s.decision "
                "FROM qonto_supplier_invoices i LEFT JOIN scored_matches s ON s.qonto_id = i.id WHERE i.id = %s "
                "FOR UPDATE OF i", [qonto_id]).fetchone()
            if row is None:
                raise KeyError(qonto_id)
            version, scored_version, supplier_name, iban, scored_vendor, decision = row
            if scored_version is None or scored_version != version:
                raise StaleRecordError(
                    f"{qonto_id} changed in Qonto (version {version}) since it was scored (version "
                    f"{scored_version}); materialise scored_matches for its day, then decide on the new version")
            check_expected_decision(qonto_id, decision, expected_decision)
            vendor_id = vendor_id or (scored_vendor if action == "approve" else None)
            con.execute(
                "INSERT INTO review_decisions (qonto_id, action, vendor_id, reason, author, decided_at, "
                "record_version, supplier_name, iban) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [qonto_id, action, vendor_id, reason, author, now, version, supplier_name, iban])
            _apply_decision(con, qonto_id, action, vendor_id)
        return ReviewOverride(qonto_id, action, vendor_id, reason, author, now.isoformat() + "Z",
                              {"record_version": version})

    def decision_history(self, qonto_id: str) -> list[DecisionRecord]:
        with self._db.connect() as con:
            rows = con.execute("SELECT action, vendor_id, reason, author, decided_at FROM review_decisions "
                               "WHERE qonto_id = %s ORDER BY decision_id", [qonto_id]).fetchall()
        return [DecisionRecord(*row) for row in rows]

    # ---- reading the queue --------------------------------------------------------------------------------------
    def queue(self, limit: int | None = None, decisions: Sequence[str] = QUEUE_DECISIONS,
              days: Sequence[date] | None = None) -> QueuePage:
        """The review queue in reading order, placed in Python by the same pure key as DuckDB's (see there)."""
        where = "s.decision = ANY(%s::text[])"
        params: list = [list(decisions)]
        if days is not None:
            where += " AND s.created_date = ANY(%s::date[])"
            params.append(list(days))
        with self._db.connect() as con:
            keys = [QueueKey(qonto_id, decision, score, tuple(rules or ()), created_at)
                    for qonto_id, decision, score, rules, created_at in con.execute(
                        f"SELECT s.qonto_id, s.decision, s.score, s.hard_rules, i.created_at FROM scored_matches s "
                        f"JOIN qonto_supplier_invoices i ON i.id = s.qonto_id WHERE {where}", params).fetchall()]
            chosen, totals = select_page(keys, limit)
            rows = con.execute(
                f"SELECT {ENTRY_COLUMNS} FROM scored_matches s JOIN qonto_supplier_invoices i ON i.id = s.qonto_id "
                "WHERE s.qonto_id = ANY(%s::text[])", [[k.qonto_id for k in chosen]]).fetchall()
        by_id = {row[0]: row for row in rows}
        entries = [queue_entry(*by_id[key.qonto_id]) for key in chosen if key.qonto_id in by_id]
        return QueuePage(tuple(entries), totals)

    def details(self, qonto_id: str) -> MatchDetails | None:
        with self._db.connect() as con:
            row = con.execute(
                f"SELECT {ENTRY_COLUMNS}, s.completeness, s.strength, s.policy_fit, i.due_date "
                "FROM scored_matches s JOIN qonto_supplier_invoices i ON i.id = s.qonto_id WHERE s.qonto_id = %s",
                [qonto_id]).fetchone()
        if row is None:
            return None
        *entry, completeness, strength, policy_fit, due_date = row
        return MatchDetails(queue_entry(*entry), completeness, strength, policy_fit, due_date)

    # ---- the asset checks ---------------------------------------------------------------------------------------
    def row_coverage(self) -> RowCoverage:
        with self._db.connect() as con:
            missing, orphans = con.execute(
                """
                WITH scored_days AS (SELECT DISTINCT created_date FROM scored_matches)
                SELECT
                  (SELECT count(*) FROM qonto_supplier_invoices i JOIN scored_days d USING (created_date)
                   WHERE i.id NOT IN (SELECT qonto_id FROM scored_matches)),
                  (SELECT count(*) FROM scored_matches WHERE qonto_id NOT IN (SELECT id FROM qonto_supplier_invoices))
                """
            ).fetchone()
        return RowCoverage(invoices_without_row=missing, rows_without_invoice=orphans)

    def scores_out_of_range(self) -> int:
        with self._db.connect() as con:
            return con.execute(
                "SELECT count(*) FROM scored_matches WHERE NOT (score BETWEEN 0 AND 1 AND completeness BETWEEN 0 "
                "AND 1 AND strength BETWEEN 0 AND 1 AND policy_fit BETWEEN 0 AND 1)").fetchone()[0]

    def auto_links_with_hard_rules(self) -> list[tuple[str, tuple[str, ...]]]:
        with self._db.connect() as con:
            rows = con.execute("SELECT qonto_id, hard_rules FROM scored_matches WHERE decision = 'auto_link' "
                               "AND cardinality(hard_rules) > 0 ORDER BY qonto_id").fetchall()
        return [(qonto_id, tuple(rules)) for qonto_id, rules in rows]

    # ---- what the partitions show -------------------------------------------------------------------------------
    def day_decisions(self, days: Sequence[date]) -> dict[date, ScoredDay]:
        with self._db.connect() as con:
            rows = con.execute(
                """
                SELECT created_date, decision, count(*), count(*) FILTER (WHERE cardinality(hard_rules) > 0)
                FROM scored_matches WHERE created_date = ANY(%s::date[])
                GROUP BY 1, 2 ORDER BY 1, 2
                """,
                [list(days)],
            ).fetchall()
        decisions: dict[date, dict[str, int]] = {}
        capped: dict[date, int] = {}
        for day, decision, count, with_rule in rows:
            decisions.setdefault(day, {})[decision] = count
            capped[day] = capped.get(day, 0) + with_rule
        return {day: ScoredDay(sum(by.values()), by, capped[day]) for day, by in decisions.items()}
