"""Well's storage: the protocols every implementation follows (`ports.py`), the DuckDB implementation
(`duckdb/`), the PostgreSQL one (`postgres/`, imported only when chosen: `choice.py`), and the content-addressed
document files (`attachment_store.py`)."""

from well_pipeline.adapters.storage.attachment_store import AttachmentStore
from well_pipeline.adapters.storage.duckdb import DuckDBStorage
from well_pipeline.adapters.storage.duckdb.database import Database, DatabaseLockedError, migrate
from well_pipeline.adapters.storage.ports import InvoiceStore, MatchStore, MelioStore, OutboxStore, Storage
from well_pipeline.adapters.storage.records import AttachmentNeed, UpsertCounts

__all__ = ["AttachmentNeed", "AttachmentStore", "Database", "DatabaseLockedError", "DuckDBStorage", "InvoiceStore",
           "MatchStore", "MelioStore", "OutboxStore", "Storage", "UpsertCounts", "migrate"]
