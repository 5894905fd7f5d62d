"""DuckDB implementation of `InvoiceStore` (`adapters/storage/ports.py`)."""

from __future__ import annotations

from well_pipeline.adapters.storage.duckdb.database import Database


class DuckDBInvoiceStore:
    def __init__(self, database: Database) -> None:
        self._db = database
