"""Well's storage: the protocols every implementation follows (`ports.py`), the DuckDB implementation
(`duckdb/`), the PostgreSQL one (`postgres/`, imported only when chosen: `choice.py`), and the content-addressed
document store (`attachment_store.py`; `attachment_url.py` opens the `file://` or `s3://` one a URL names)."""

from well_pipeline.adapters.storage.attachment_store import (
    AttachmentMissingError,
    AttachmentStore,
    AttachmentStoreError,
    FileAttachmentStore,
)
from well_pipeline.adapters.storage.duckdb import DuckDBStorage
from well_pipeline.adapters.storage.duckdb.database import Database, DatabaseLockedError, migrate
from well_pipeline.adapters.storage.ports import InvoiceStore, MatchStore, MelioStore, OutboxStore, Storage
from well_pipeline.adapters.storage.records import AttachmentNeed, DatabaseUnavailableError, UpsertCounts

__all__ = ["AttachmentMissingError", "AttachmentNeed", "AttachmentStore", "AttachmentStoreError", "Database",
           "DatabaseLockedError", "DatabaseUnavailableError", "DuckDBStorage", "FileAttachmentStore", "InvoiceStore",
           "MatchStore", "MelioStore", "OutboxStore", "Storage", "UpsertCounts", "migrate"]
