"""The DuckDB implementation of Well's storage (`adapters/storage/ports.py`): one file, one writer process.

DuckDB allows one writing process at a time: Dagster serialises writers with the `duckdb` concurrency pool and
every store method holds the file only for one short transaction (see `database.py`).
"""

from __future__ import annotations

from pathlib import Path

from well_pipeline.adapters.storage.attachment_store import AttachmentStore, FileAttachmentStore
from well_pipeline.adapters.storage.duckdb.database import Database, DatabaseLockedError
from well_pipeline.adapters.storage.duckdb.invoices import DuckDBInvoiceStore
from well_pipeline.adapters.storage.duckdb.matches import DuckDBMatchStore
from well_pipeline.adapters.storage.duckdb.melio import DuckDBMelioStore
from well_pipeline.adapters.storage.duckdb.outbox import DuckDBOutboxStore

__all__ = ["Database", "DatabaseLockedError", "DuckDBStorage"]


class DuckDBStorage:
    """Well's data in one DuckDB file plus the document store (a folder, or any `AttachmentStore`).
    `read_only` for commands that only look."""

    def __init__(self, path: Path, documents_dir: Path | AttachmentStore, *, read_only: bool = False,
                 lock_timeout_s: float = 30.0) -> None:
        self.database = Database(Path(path), lock_timeout_s=lock_timeout_s, read_only=read_only)
        self.invoices = DuckDBInvoiceStore(self.database)
        self.melio = DuckDBMelioStore(self.database)
        self.matches = DuckDBMatchStore(self.database)
        self.outbox = DuckDBOutboxStore(self.database)
        self.documents: AttachmentStore = (FileAttachmentStore(Path(documents_dir))
                                           if isinstance(documents_dir, (str, Path)) else documents_dir)

    @property
    def location(self) -> str:
        return str(self.database.path)

    def __repr__(self) -> str:
        return f"DuckDBStorage({self.location!r})"
