"""The PostgreSQL implementation of Well's storage (`adapters/storage/ports.py`), for multi-node deployments.

One PostgreSQL *schema* holds one workspace's tables, so several workspaces can share one database; several
processes may write at once (exclusive steps use row and advisory locks, see `outbox.py`). Documents stay in the
content-addressed `AttachmentStore` (a folder or, shared by several machines, an `s3://` store), as with DuckDB.

Importing this package imports psycopg (the optional extra `postgres`); nothing else in Well does, so a DuckDB
deployment never needs it (`WellStorageResource` and the CLI import this package only when it is chosen).
"""

from __future__ import annotations

from pathlib import Path

from well_pipeline.adapters.storage.attachment_store import AttachmentStore, FileAttachmentStore
from well_pipeline.adapters.storage.postgres.database import (
    DEFAULT_SCHEMA,
    PostgresConfigError,
    PostgresDatabase,
    migrate,
    redacted,
)
from well_pipeline.adapters.storage.postgres.invoices import PostgresInvoiceStore
from well_pipeline.adapters.storage.postgres.matches import PostgresMatchStore
from well_pipeline.adapters.storage.postgres.melio import PostgresMelioStore
from well_pipeline.adapters.storage.postgres.outbox import PostgresOutboxStore

__all__ = ["DEFAULT_SCHEMA", "PostgresConfigError", "PostgresDatabase", "PostgresStorage", "migrate", "redacted"]


class PostgresStorage:
    """Well's data in one schema of a PostgreSQL database plus the document store (a folder or any store)."""

    def __init__(self, dsn: str, schema: str, attachments_dir: Path | AttachmentStore, *,
                 connect_timeout_s: float = 10.0) -> None:
        self.database = PostgresDatabase(dsn, schema, connect_timeout_s=connect_timeout_s)
        self.invoices = PostgresInvoiceStore(self.database)
        self.melio = PostgresMelioStore(self.database)
        self.matches = PostgresMatchStore(self.database)
        self.outbox = PostgresOutboxStore(self.database)
        self.documents: AttachmentStore = (FileAttachmentStore(Path(attachments_dir))
                                           if isinstance(attachments_dir, (str, Path)) else attachments_dir)

    @property
    def location(self) -> str:
        """The DSN without its password, and the schema."""
        return f"{self.database.location} schema={self.database.schema}"

    def __repr__(self) -> str:
        return f"PostgresStorage({self.location!r})"
