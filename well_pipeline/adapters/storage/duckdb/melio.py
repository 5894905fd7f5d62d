"""DuckDB implementation of `MelioStore` (`adapters/storage/ports.py`): the Melio vendor directory and ledger,
replaced as a whole from each CSV export (rows that failed are kept in `melio_input_issues`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb
import pandas as pd

from well_pipeline.adapters.melio import CsvLoad, MelioBill, MelioVendor
from well_pipeline.adapters.storage.duckdb.database import Database, transaction, utc_now


def vendor_name(con: duckdb.DuckDBPyConnection, vendor_id: str | None) -> str | None:
    """The vendor's company name, None when the directory has no such vendor (also used by `matches.py`)."""
    row = con.execute("SELECT company_name FROM melio_vendors WHERE vendor_id = ?", [vendor_id]).fetchone()
    return row[0] if row else None


class DuckDBMelioStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def replace_vendors(self, load: CsvLoad[MelioVendor]) -> None:
        now = utc_now()
        rows = [(v.vendor_id, v.company_name, v.email, v.iban, v.vat_number, v.line, load.sha256, now, v.conflict)
                for v in load.rows]
        self._replace("melio_vendors", "vendors", rows, load, now)

    def replace_bills(self, load: CsvLoad[MelioBill]) -> None:
        now = utc_now()
        rows = [(b.bill_id, b.company_name, b.invoice_number, b.invoice_date, b.due_date, b.amount, b.currency,
                 b.status, b.line, load.sha256, now) for b in load.rows]
        self._replace("melio_bills", "bills", rows, load, now)

    def _replace(self, table: str, source: str, rows: Sequence[tuple], load: CsvLoad, now: datetime) -> None:
        issues = [(source, i.line, "error", str(i), now) for i in load.errors]
        issues += [(source, i.line, "warning", str(i), now) for i in load.warnings]
        issues += [(source, None, "note", note, now) for note in load.notes]
        with self._db.connect() as con:
            columns = [c[0] for c in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
            # dtype=object: Decimal amounts and None stay as they are (no float, no NaN) on the way in.
            frame = pd.DataFrame(list(rows), columns=columns, dtype=object)
            with transaction(con):
                con.execute(f"DELETE FROM {table}")
                if rows:
                    con.register("incoming_rows", frame)
                    try:
                        con.execute(f"INSERT INTO {table} SELECT * FROM incoming_rows")
                    finally:
                        con.unregister("incoming_rows")
                con.execute("DELETE FROM melio_input_issues WHERE source = ?", [source])
                if issues:
                    con.executemany("INSERT INTO melio_input_issues VALUES (?, ?, ?, ?, ?)", issues)

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
                               "UNION ALL SELECT loaded_at FROM melio_bills)").fetchone()[0]
