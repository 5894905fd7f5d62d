"""The Qonto client's public value types: listing pages, attachment metadata/downloads/failures, counters."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from well_pipeline.adapters.qonto.records import RecordResult

__all__ = [
    "AttachmentDownload",
    "AttachmentFailure",
    "AttachmentInfo",
    "ClientStats",
    "InvoicePage",
]


@dataclass(frozen=True)
class InvoicePage:
    """One page of `GET /v2/supplier_invoices`, records parsed and filtered to the requested window."""

    number: int
    total_count: int | None
    results: list[RecordResult]
    total_pages: int | None = None
    next_page: int | None = None
    received: int = 0  # records in the raw page, before local window filtering and de-duplication
    # Ids of the raw page's records in order (same scope as `received`; records without a readable id are
    # missing), so a caller can reconcile *distinct* ids with `total_count` (a repeated record is not progress).
    raw_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class AttachmentInfo:
    """`GET /v2/attachments/{id}`; `url` is a pre-signed download URL valid ~30 min (a credential: no repr)."""

    id: str
    file_name: str | None
    file_size: int | None
    content_type: str | None
    url: str = field(repr=False)
    created_at: datetime | None = None


@dataclass(frozen=True)
class AttachmentDownload:
    """A downloaded attachment with its SHA-256 (hex) and size in bytes."""

    attachment_id: str
    file_name: str | None
    content_type: str | None
    content: bytes = field(repr=False)
    sha256: str = ""
    size: int = 0


@dataclass(frozen=True)
class AttachmentFailure:
    """An attachment that could not be downloaded; the batch goes on. `status` is the HTTP status if any."""

    attachment_id: str
    reason: str
    status: int | None = None
    deadline_hit: bool = False  # the last attempt ran out of `qonto_request_deadline_s` (Qonto answers too slowly)


class ClientStats:
    """Thread-safe counters for run metadata and benchmarks (read attributes, or `as_dict()`)."""

    FIELDS = (
        "requests",
        "retries",
        "rate_limited",
        "downloads",
        "bytes",
        "download_retries",
        "url_refreshes",
        "rejected_records",
        "duplicates_skipped",
        "deadline_hits",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.rate_limited = 0
        self.downloads = 0
        self.bytes = 0
        self.download_retries = 0
        self.url_refreshes = 0
        self.rejected_records = 0
        self.duplicates_skipped = 0
        self.deadline_hits = 0  # calls cut short by `request_deadline_s` (API requests and downloads)
        # Wall seconds during which at least one API request was held by the client's rate limiter (its ceilings,
        # or a pause after a 429); not summed over threads, so it never exceeds the time the calls took.
        self.limiter_wait_s = 0.0

    def add(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def as_dict(self) -> dict[str, float]:
        with self._lock:
            data: dict[str, float] = {name: getattr(self, name) for name in self.FIELDS}
            data["limiter_wait_s"] = round(self.limiter_wait_s, 3)
            return data

    def __repr__(self) -> str:
        return f"ClientStats({self.as_dict()})"
