"""What "a day holds rows" means for each partitioned asset, straight from the DuckDB tables.

Read with plain read-only SQL, independently of the store methods the pipeline uses, so a test comparing it with
the partitions Dagster shows (the instance, or the UI in the browser test) checks the pipeline, not itself.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import duckdb

from well_pipeline_tests.support.workspace_defs import DELIVERED_BILLS, QONTO_SUPPLIER_INVOICES, SCORED_MATCHES

TRUTH_SQL = {
    QONTO_SUPPLIER_INVOICES: "SELECT DISTINCT created_date FROM qonto_supplier_invoices",
    SCORED_MATCHES: "SELECT DISTINCT created_date FROM scored_matches",
    # A released record (auto or manual link), or a record delivery wrote an outbox row or a hold for.
    DELIVERED_BILLS: """
        SELECT DISTINCT i.created_date FROM qonto_supplier_invoices i
        WHERE i.id IN (SELECT qonto_id FROM scored_matches WHERE decision IN ('auto_link', 'manual_link'))
           OR i.id IN (SELECT qonto_id FROM outbox) OR i.id IN (SELECT qonto_id FROM delivery_holds)""",
}


def days_holding_rows(database: Path) -> dict[dg.AssetKey, set[date]]:
    """Per asset of the default workspace `main`, the days holding its rows in the DuckDB file (read-only)."""
    with duckdb.connect(str(database), read_only=True) as con:
        return {key: {day for (day,) in con.execute(sql).fetchall()} for key, sql in TRUTH_SQL.items()}
