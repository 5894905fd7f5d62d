"""Which storage implementation a deployment runs on: the one place both the Dagster resource and the CLI ask.

Why a function of plain values: the resource (`defs/resources.py`) and the CLI (`cli/common.py`) read the same
settings but must not import each other; and the PostgreSQL package (psycopg, an optional extra) is imported only
when it is chosen, so a DuckDB deployment never needs it. Documents go to the store `attachments_url` names
(`attachment_url.py`: a folder, or an `s3://` store whose boto3 is imported only then), whichever the backend.
"""

from __future__ import annotations

from pathlib import Path

from well_pipeline.adapters.storage.attachment_url import open_attachment_store
from well_pipeline.adapters.storage.duckdb import DuckDBStorage
from well_pipeline.adapters.storage.ports import Storage

BACKENDS = ("duckdb", "postgres")


def open_storage(backend: str, *, duckdb_path: Path, attachments_url: str, postgres_dsn: str = "",
                 postgres_schema: str = "well", read_only: bool = False, lock_timeout_s: float = 30.0,
                 s3_endpoint_url: str = "", s3_region: str = "") -> Storage:
    """The storage of `backend`, its documents in the store `attachments_url` names. DuckDB: `read_only` opens
    without locking writers out, `lock_timeout_s` is how long an open waits for another process's write lock.
    PostgreSQL: readers never block writers, so both only bound how long connecting may take."""
    documents = open_attachment_store(attachments_url, s3_endpoint_url=s3_endpoint_url, s3_region=s3_region)
    if backend == "postgres":
        from well_pipeline.adapters.storage.postgres import PostgresStorage

        if not postgres_dsn.strip():
            raise ValueError("storage_backend is postgres but postgres_dsn is empty: set WELL_POSTGRES_DSN")
        return PostgresStorage(postgres_dsn, postgres_schema, documents,
                               connect_timeout_s=max(lock_timeout_s, 1.0))
    if backend != "duckdb":
        raise ValueError(f"unknown storage backend {backend!r}: one of {', '.join(BACKENDS)}")
    return DuckDBStorage(duckdb_path, documents, read_only=read_only, lock_timeout_s=lock_timeout_s)
