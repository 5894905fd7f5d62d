"""What Well needs from its storage, one protocol per aggregate; each implementation owns its connections.

Why protocols: services, the Dagster layer and the CLI must not know which database holds the data (DuckDB on one
machine today, PostgreSQL for multi-node deployments next). They call these methods; every method opens, uses and
closes its own connection, and a write is one short transaction that never spans network work (Qonto, SMTP), so
readers (the CLI) are never locked out for long.

The aggregates:
- `InvoiceStore`: Qonto supplier invoices, their versions and documents' metadata, rejected records, and the
  named sync markers (they move with the invoices they describe);
- `MelioStore`: the Melio vendor directory and ledger, replaced as a whole from each export;
- `MatchStore`: scored matches and people's review decisions;
- `OutboxStore`: delivery to Melio: the outbox, attempts, holds and re-send approvals.

`Storage` bundles one of each plus the content-addressed document files. Implementations live in one folder each
(`adapters/storage/duckdb/`); `well_pipeline_tests/adapters/storage/contract/` runs the same tests against every
one of them.
"""

from __future__ import annotations

from typing import Protocol

from well_pipeline.adapters.storage.attachment_store import AttachmentStore


class InvoiceStore(Protocol):
    """Qonto supplier invoices, document metadata, rejected records and sync markers."""


class MelioStore(Protocol):
    """The Melio vendor directory and bill ledger."""


class MatchStore(Protocol):
    """Scored matches and review decisions."""


class OutboxStore(Protocol):
    """The delivery outbox, its attempts, holds and re-send approvals."""


class Storage(Protocol):
    """One workspace's data: the four aggregates and the document files."""

    invoices: InvoiceStore
    melio: MelioStore
    matches: MatchStore
    outbox: OutboxStore
    documents: AttachmentStore

    @property
    def location(self) -> str:
        """Where the data lives, for logs and metadata (a path or a DSN without its password)."""
        ...
