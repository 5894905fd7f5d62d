"""PostgreSQL implementation of `MelioStore` (`adapters/storage/ports.py`): the Melio vendor directory and ledger,
replaced as a whole from each CSV export (rows that failed are kept in `melio_input_issues`).

A replacement is one transaction: readers see the old directory or the new one, never half of each. Two
replacements at once are serialised by an explicit `LOCK TABLE` (readers are not blocked; it lasts one export).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import psycopg
from psycopg import sql

from well_pipeline.adapters.melio import CsvLoad, MelioBill, MelioVendor
from well_pipeline.adapters.storage.postgres.database import PostgresDatabase
from well_pipeline.adapters.storage.rows import utc_now

_VENDOR_COLUMNS = ("vendor_id", "company_name", "email", "iban", "vat_number", "line", "source_sha256", "loaded_at",
                   "conflict")
_BILL_COLUMNS = ("bill_id", "company_name", "invoice_number", "invoice_date", "due_date", "amount", "currency",
                 "status", "line", "source_sha256", "loaded_at")


def vendor_name(con: psycopg.Connection, vendor_id: str | None) -> str | None:
    """The vendor's company name, None when the directory has no such vendor (also used by `matches.py`)."""
    row = con.execute("SELECT company_name FROM melio_vendors WHERE vendor_id = %s", [vendor_id]).fetchone()
    return row[0] if row else None


class PostgresMelioStore:
    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    def replace_vendors(self, load: CsvLoad[MelioVendor]) -> None:
        now = utc_now()
        rows = [(v.vendor_id, v.company_name, v.email, v.iban, v.vat_number, v.line, load.sha256, now, v.conflict)
                for v in load.rows]
        self._replace("melio_vendors", _VENDOR_COLUMNS, "vendors", rows, load, now)

    def replace_bills(self, load: CsvLoad[MelioBill]) -> None:
        now = utc_now()
        rows = [(b.bill_id, b.company_name, b.invoice_number, b.invoice_date, b.due_date, b.amount, b.currency,
                 b.status, b.line, load.sha256, now) for b in load.rows]
        self._replace("melio_bills", _BILL_COLUMNS, "bills", rows, load, now)

    def _replace(self, table: str, columns: Sequence[str], source: str, rows: Sequence[tuple], load: CsvLoad,
                 now: datetime) -> None:
        issues = [(source, i.line, "error", str(i), now) for i in load.errors]
        issues += [(source, i.line, "warning", str(i), now) for i in load.warnings]
        issues += [(source, None, "note", note, now) for note in load.notes]
        insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)))
        with self._db.connect() as con, con.transaction(), con.cursor() as cur:
            # Two replacements at once would each delete the rows they see, then both insert: one waits here.
            cur.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(sql.Identifier(table)))
            cur.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
            if rows:
                cur.executemany(insert, list(rows))
            cur.execute("DELETE FROM melio_input_issues WHERE source = %s", [source])
            if issues:
                cur.executemany("INSERT INTO melio_input_issues VALUES (%s, %s, %s, %s, %s)", issues)

    def vendors(self) -> list[MelioVendor]:
        with self._db.connect() as con:
            rows = con.execute("SELECT vendor_id, company_name, email, iban, vat_number, line, conflict "
                               "FROM melio_vendors ORDER BY line, vendor_id").fetchall()
        return [MelioVendor(*row) for row in rows]

    def bills(self) -> list[MelioBill]:
        with self._db.connect() as con:
            rows = con.execute("SELECT bill_id, company_name, invoice_number, invoice_date, due_date, amount, "
                               "currency, status, line FROM melio_bills ORDER BY line, bill_id").fetchall()
        return [MelioBill(*row) for row in rows]

    def vendor_exists(self, vendor_id: str) -> bool:
        with self._db.connect() as con:
            return vendor_name(con, vendor_id) is not None

    def latest_load_time(self) -> datetime | None:
        with self._db.connect() as con:
            return con.execute("SELECT max(loaded_at) FROM (SELECT loaded_at FROM melio_vendors "
                               "UNION ALL SELECT loaded_at FROM melio_bills) AS loads").fetchone()[0]
