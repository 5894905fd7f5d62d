"""DuckDB storage and the content-addressed attachment store."""

from well_pipeline.adapters.storage.attachment_store import AttachmentStore
from well_pipeline.adapters.storage.database import Database, DatabaseLockedError, migrate
from well_pipeline.adapters.storage.invoice_repository import AttachmentNeed, InvoiceRepository, UpsertCounts

__all__ = ["AttachmentNeed", "AttachmentStore", "Database", "DatabaseLockedError", "InvoiceRepository",
           "UpsertCounts", "migrate"]
