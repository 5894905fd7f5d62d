"""DuckDB implementation of `OutboxStore` (`adapters/storage/ports.py`)."""

from __future__ import annotations

from well_pipeline.adapters.storage.duckdb.database import Database


class DuckDBOutboxStore:
    def __init__(self, database: Database) -> None:
        self._db = database
