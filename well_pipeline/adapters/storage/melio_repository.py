"""The Melio vendor directory and ledger in DuckDB, replaced as a whole from each CSV export."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb
import pandas as pd

from well_pipeline.adapters.melio import CsvLoad, MelioBill, MelioVendor
from well_pipeline.adapters.storage.duckdb.database import transaction, utc_now


class MelioRepository:
    def replace_vendors(self, con: duckdb.DuckDBPyConnection, load: CsvLoad[MelioVendor]) -> None:
        now = utc_now()
        rows = [(v.vendor_id, v.company_name, v.email, v.iban, v.vat_number, v.line, load.sha256, now, v.conflict)
                for v in load.rows]
        self._replace(con, "melio_vendors", "vendors", rows, load, now)

    def replace_bills(self, con: duckdb.DuckDBPyConnection, load: CsvLoad[MelioBill]) -> None:
        now = utc_now()
        rows = [(b.bill_id, b.company_name, b.invoice_number, b.invoice_date, b.due_date, b.amount, b.currency,
                 b.status, b.line, load.sha256, now) for b in load.rows]
        self._replace(con, "melio_bills", "bills", rows, load, now)

    @staticmethod
    def _replace(con: duckdb.DuckDBPyConnection, table: str, source: str, rows: Sequence[tuple], load: CsvLoad,
                 now: datetime) -> None:
        issues = [(source, i.line, "error", str(i), now) for i in load.errors]
        issues += [(source, i.line, "warning", str(i), now) for i in load.warnings]
        issues += [(source, None, "note", note, now) for note in load.notes]
        columns = [c[0] for c in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
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

    def vendors(self, con: duckdb.DuckDBPyConnection) -> list[MelioVendor]:
        rows = con.execute("SELECT vendor_id, company_name, email, iban, vat_number, line, conflict FROM melio_vendors "
                           "ORDER BY line, vendor_id").fetchall()
        return [MelioVendor(*row) for row in rows]

    def bills(self, con: duckdb.DuckDBPyConnection) -> list[MelioBill]:
        rows = con.execute("SELECT bill_id, company_name, invoice_number, invoice_date, due_date, amount, currency, "
                           "status, line FROM melio_bills ORDER BY line, bill_id").fetchall()
        return [MelioBill(*row) for row in rows]
