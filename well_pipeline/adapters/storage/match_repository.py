"""Scored matches and review decisions in DuckDB.

`scored_matches` is derived data: each materialisation of a partition replaces its rows. `review_decisions`
is the durable record of what people decided (append-only, with author and time); scoring reads it back, so a
decision survives re-materialisation, backfills and a Qonto disconnect.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd

from well_pipeline.adapters.storage.duckdb.database import transaction, utc_now
from well_pipeline.core.matching.vendor_index import LearnedLink
from well_pipeline.core.scoring.display import (
    QueueEntry,
    QueueKey,
    QueuePage,
    parse_candidates,
    parse_reasons,
    select_page,
)
from well_pipeline.core.scoring.model import ReviewOverride, ScoredMatch

MATCH_COLUMNS = ["qonto_id", "created_date", "record_version", "decision", "score", "completeness", "strength",
                 "policy_fit", "raw_score", "vendor_id", "vendor_name", "melio_bill_id", "hard_rules", "reasons",
                 "candidates", "scored_at"]
QUEUE_DECISIONS = ("review", "refused")


@dataclass(frozen=True)
class ScoredRow:
    match: ScoredMatch
    created_date: date
    record_version: int


class StaleRecordError(ValueError):
    """A person tried to decide on a record whose newest version has not been scored yet."""


def _apply_decision(con: duckdb.DuckDBPyConnection, qonto_id: str, action: str, vendor_id: str | None) -> None:
    if action == "refuse":
        con.execute("UPDATE scored_matches SET decision = 'refused' WHERE qonto_id = ?", [qonto_id])
        return
    name = con.execute("SELECT company_name FROM melio_vendors WHERE vendor_id = ?", [vendor_id]).fetchone()
    con.execute("UPDATE scored_matches SET decision = 'manual_link', vendor_id = ?, vendor_name = ? "
                "WHERE qonto_id = ?", [vendor_id, name[0] if name else None, qonto_id])


class MatchRepository:
    def replace_days(self, con: duckdb.DuckDBPyConnection, days: Sequence[date], rows: Sequence[ScoredRow],
                     decisions_seen: int | None = None) -> None:
        """Replace the scored rows of invoices created on `days` in one short transaction.

        `decisions_seen` is the latest review decision the scoring read; any later one (made while it computed)
        is applied again on top, so a person's refusal is never overwritten by an auto_link computed before it.
        """
        now = utc_now()
        frame = pd.DataFrame(
            [[r.match.qonto_id, r.created_date, r.record_version, r.match.decision.value, r.match.score,
              r.match.completeness, r.match.strength, r.match.policy_fit, r.match.raw_score, r.match.vendor_id,
              r.match.vendor_name, r.match.melio_bill_id, [str(h) for h in r.match.hard_rules],
              json.dumps([x.as_dict() for x in r.match.reasons], ensure_ascii=False),
              json.dumps([c.as_dict() for c in r.match.candidates], ensure_ascii=False), now] for r in rows],
            columns=MATCH_COLUMNS,
        )
        with transaction(con):
            con.execute("DELETE FROM scored_matches WHERE created_date IN (SELECT unnest(?::DATE[]))", [list(days)])
            ids = [r.match.qonto_id for r in rows]
            if ids:
                # A record whose creation date moved (Qonto corrected it) must not keep a row elsewhere.
                con.execute("DELETE FROM scored_matches WHERE qonto_id IN (SELECT unnest(?::VARCHAR[]))", [ids])
                con.register("incoming_matches", frame)
                try:
                    con.execute(f"INSERT INTO scored_matches SELECT {', '.join(MATCH_COLUMNS)} FROM incoming_matches")
                finally:
                    con.unregister("incoming_matches")
            if decisions_seen is not None:
                self.reapply_decisions_since(con, decisions_seen)

    # ---- review decisions ----------------------------------------------------------------------
    def record_decision(self, con: duckdb.DuckDBPyConnection, *, qonto_id: str, action: str, author: str,
                        vendor_id: str | None = None, reason: str | None = None) -> ReviewOverride:
        """Store a person's decision and apply it to the current scored row at once (one transaction).

        The decision is stamped with the version the person was shown (the scored one). When Qonto changed the
        record since it was scored, the decision is refused: the person must look at the new version first.
        """
        row = con.execute(
            "SELECT i.version, s.record_version, i.supplier_name, i.iban, s.vendor_id FROM qonto_supplier_invoices i "
            "LEFT JOIN scored_matches s ON s.qonto_id = i.id WHERE i.id = ?", [qonto_id]
        ).fetchone()
        if row is None:
            raise KeyError(qonto_id)
        version, scored_version, supplier_name, iban, scored_vendor = row
        if scored_version is None or scored_version != version:
            raise StaleRecordError(
                f"{qonto_id} changed in Qonto (version {version}) since it was scored (version {scored_version}); "
                "materialise scored_matches for its day, then decide on the new version")
        vendor_id = vendor_id or (scored_vendor if action == "approve" else None)
        now = utc_now()
        with transaction(con):
            con.execute(
                "INSERT INTO review_decisions (qonto_id, action, vendor_id, reason, author, decided_at, record_version,"
                " supplier_name, iban) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [qonto_id, action, vendor_id, reason, author, now, version, supplier_name, iban],
            )
            _apply_decision(con, qonto_id, action, vendor_id)
        return ReviewOverride(qonto_id, action, vendor_id, reason, author, now.isoformat() + "Z",
                              {"record_version": version})

    def latest_decision_id(self, con: duckdb.DuckDBPyConnection) -> int:
        return con.execute("SELECT coalesce(max(decision_id), 0) FROM review_decisions").fetchone()[0]

    def reapply_decisions_since(self, con: duckdb.DuckDBPyConnection, decision_id: int) -> int:
        """Decisions recorded while a scoring run was computing: applied again on top of its fresh rows."""
        rows = con.execute(
            """SELECT d.qonto_id, d.action, d.vendor_id FROM review_decisions d
               JOIN qonto_supplier_invoices i ON i.id = d.qonto_id
               WHERE d.decision_id > ? AND d.record_version = i.version
               QUALIFY row_number() OVER (PARTITION BY d.qonto_id ORDER BY d.decision_id DESC) = 1""",
            [decision_id]).fetchall()
        for qonto_id, action, vendor_id in rows:
            _apply_decision(con, qonto_id, action, vendor_id)
        return len(rows)

    def overrides(self, con: duckdb.DuckDBPyConnection) -> dict[str, ReviewOverride]:
        """The latest decision per record. One made on an older version of the record no longer applies."""
        rows = con.execute(
            """
            SELECT d.qonto_id, d.action, d.vendor_id, d.reason, d.author, d.decided_at, d.record_version, i.version
            FROM review_decisions d JOIN qonto_supplier_invoices i ON i.id = d.qonto_id
            QUALIFY row_number() OVER (PARTITION BY d.qonto_id ORDER BY d.decision_id DESC) = 1
            """
        ).fetchall()
        result = {}
        for qonto_id, action, vendor_id, reason, author, decided_at, decided_version, current_version in rows:
            if decided_version is not None and decided_version != current_version:
                continue  # Qonto changed the record after the decision: it goes back to the queue
            result[qonto_id] = ReviewOverride(qonto_id, action, vendor_id, reason, author,
                                              decided_at.isoformat() + "Z", {"record_version": decided_version})
        return result

    def learned_links(self, con: duckdb.DuckDBPyConnection) -> list[LearnedLink]:
        """Confirmed facts: each record a person approved or pinned (its latest decision), and each record Well
        delivered, links its supplier name, IBAN and Qonto supplier id to the vendor, citing the record."""
        rows = con.execute(
            """
            WITH decided AS (
                SELECT qonto_id, action, vendor_id, supplier_name, iban FROM review_decisions
                QUALIFY row_number() OVER (PARTITION BY qonto_id ORDER BY decision_id DESC) = 1)
            SELECT d.vendor_id, d.supplier_name, d.iban, i.supplier_id, d.qonto_id FROM decided d
            LEFT JOIN qonto_supplier_invoices i ON i.id = d.qonto_id
            WHERE d.action IN ('pin', 'approve') AND d.vendor_id IS NOT NULL
            UNION ALL
            SELECT o.vendor_id, i.supplier_name, i.iban, i.supplier_id, o.qonto_id FROM outbox o
            JOIN qonto_supplier_invoices i ON i.id = o.qonto_id
            WHERE o.state = 'sent' AND o.vendor_id IS NOT NULL
            """
        ).fetchall()
        return [LearnedLink(v, supplier_name=n, iban=i, supplier_id=sid, source_id=q) for v, n, i, sid, q in rows]

    def observed_ibans(self, con: duckdb.DuckDBPyConnection,
                       outside_days: Sequence[date]) -> list[tuple[str, str, int]]:
        """(vendor_id, IBAN, records) over records created outside `outside_days` that scoring resolved to a vendor
        (not ambiguous, not themselves a possible fraud): negative evidence only, it reveals an odd IBAN out."""
        return con.execute(
            """
            SELECT s.vendor_id, i.iban, count(*) FROM scored_matches s
            JOIN qonto_supplier_invoices i ON i.id = s.qonto_id
            WHERE s.vendor_id IS NOT NULL AND i.iban IS NOT NULL AND s.decision <> 'refused'
              AND NOT list_has_any(s.hard_rules, ['AMBIGUOUS_VENDOR', 'BANK_DETAILS_CHANGED'])
              AND s.created_date NOT IN (SELECT unnest(?::DATE[]))
            GROUP BY ALL
            """, [list(outside_days)]).fetchall()

    def queue(self, con: duckdb.DuckDBPyConnection, limit: int | None = None,
              decisions: Sequence[str] = QUEUE_DECISIONS, days: Sequence[date] | None = None) -> QueuePage:
        """The review queue in reading order (`core/scoring/display.py`): at most `limit` records per section
        (all when None), with every section's true total, optionally only invoices created on `days`.

        The order is decided in Python by the same pure key the CLI and the UI use, so SQL and display cannot
        disagree: first the few placing columns of every queued record (cheap, even for thousands of
        paid-in-Qonto records after a backfill), then the full rows of the chosen ones. Rows are plain Python
        values (None, Decimal, datetime), never pandas NaN/NaT.
        """
        where = "s.decision IN (SELECT unnest(?::VARCHAR[]))"
        params: list = [list(decisions)]
        if days is not None:
            where += " AND s.created_date IN (SELECT unnest(?::DATE[]))"
            params.append(list(days))
        keys = [QueueKey(qonto_id, decision, score, tuple(rules or ()), created_at)
                for qonto_id, decision, score, rules, created_at in con.execute(
                    f"SELECT s.qonto_id, s.decision, s.score, s.hard_rules, i.created_at FROM scored_matches s "
                    f"JOIN qonto_supplier_invoices i ON i.id = s.qonto_id WHERE {where}", params).fetchall()]
        chosen, totals = select_page(keys, limit)
        rows = con.execute(
            """
            SELECT s.qonto_id, s.decision, s.score, s.raw_score, s.hard_rules, s.reasons, s.candidates, s.vendor_id,
                   s.vendor_name, i.created_at, i.supplier_name, i.invoice_number, i.total_amount, i.currency,
                   i.status, i.iban
            FROM scored_matches s JOIN qonto_supplier_invoices i ON i.id = s.qonto_id
            WHERE s.qonto_id IN (SELECT unnest(?::VARCHAR[]))
            """, [[k.qonto_id for k in chosen]]).fetchall()
        by_id = {row[0]: row for row in rows}
        entries = []
        for key in chosen:
            row = by_id.get(key.qonto_id)
            if row is None:
                continue
            (qonto_id, decision, score, raw_score, rules, reasons, candidates, vendor_id, vendor_name, created_at,
             supplier_name, invoice_number, total_amount, currency, status, iban) = row
            entries.append(QueueEntry(
                qonto_id=qonto_id, decision=decision, score=score, raw_score=raw_score,
                hard_rules=tuple(rules or ()), reasons=parse_reasons(reasons),
                candidates=parse_candidates(candidates), vendor_id=vendor_id, vendor_name=vendor_name,
                created_at=created_at, supplier_name=supplier_name, invoice_number=invoice_number,
                total_amount=total_amount, currency=currency, status=status, iban=iban))
        return QueuePage(tuple(entries), totals)
