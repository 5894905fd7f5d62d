"""Has anything changed in Qonto since the sync marker? One small request answers it (the sync sensor's probe).

Why a probe: a sync run costs a process, a DuckDB write lock and a Dagster run; most ticks have nothing to do.
The probe asks `GET /v2/supplier_invoices?filter[updated_at_from]=<marker − overlap>&per_page=100` (page 1 only)
and compares what it lists with the records the marker's window already holds (the cursor's `known`
fingerprints): the overlap re-lists records the last sync stored, which are no change.

The client is kept between ticks (`ProbeClients`), so its OAuth access token (1 h) is reused: a quiet tick is one
API request, plus a token refresh at most once an hour. A disconnect (no refresh token stored) is seen before any
request, and the cached client is dropped.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from well_pipeline.adapters.qonto import QontoClient, RejectedRecord
from well_pipeline.adapters.secrets import QONTO_REFRESH_TOKEN, SecretStore
from well_pipeline.services.qonto_connection import QontoConnectionConfig, QontoConnectionError, open_client
from well_pipeline.services.sync_cursor import fingerprints

PAGE_SIZE = 100
# A sensor evaluation must end well inside Dagster's sensor timeout (60 s): one retry, a short deadline.
PROBE_RETRIES = 1
PROBE_DEADLINE_S = 20.0


@dataclass(frozen=True)
class ProbeResult:
    """What the probe saw. `total`: records Qonto lists as updated since `since` (None: not said); `seen`: the
    fingerprints of page 1's records; `unknown`: how many of them the marker's window does not hold."""

    since: datetime | None
    asked_at: datetime
    total: int | None
    received: int
    seen: tuple[str, ...]
    unknown: int
    server_offset_s: float | None
    seconds: float

    @property
    def changed(self) -> bool:
        """A record not stored yet was listed, or more records than one page holds (not all compared)."""
        return self.unknown > 0 or (self.total is not None and self.total > self.received)

    def describe(self) -> str:
        since = self.since.isoformat() if self.since else "the start"
        total = self.total if self.total is not None else self.received
        return (f"{total} record(s) updated since {since}, {self.unknown} not stored yet"
                + (f", {total - self.received} beyond the first page" if total > self.received else ""))


def probe_changes(client: QontoClient, since: datetime | None, known: Collection[str], *,
                  now: datetime | None = None) -> ProbeResult:
    """One request: page 1 of the records Qonto updated since `since` (None: every record)."""
    asked_at = (now or datetime.now(UTC)).astimezone(UTC)
    started = time.monotonic()
    pages = client.iter_supplier_invoice_pages(updated_at_from=since, per_page=PAGE_SIZE)
    try:
        page = next(pages)
    finally:
        pages.close()  # never fetch page 2: the generator stops here
    pairs = [(f"reject:{r.raw_text}", "") if isinstance(r, RejectedRecord) else (r.id, r.updated_at.isoformat())
             for r in page.results]
    seen = fingerprints(pairs)
    known_set = set(known)
    return ProbeResult(since=since, asked_at=asked_at, total=page.total_count, received=page.received,
                       seen=seen, unknown=sum(1 for fp in seen if fp not in known_set),
                       server_offset_s=client.server_clock_offset_s, seconds=time.monotonic() - started)


class ProbeClients:
    """One Qonto client kept between sensor ticks (its access token lives an hour), rebuilt when the connection's
    configuration changes, dropped when Qonto is disconnected or refuses the token."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[object, ...] | None = None
        self._client: QontoClient | None = None

    def client(self, config: QontoConnectionConfig, secrets: SecretStore) -> QontoClient:
        """The kept client, or a new one. Raises `QontoConnectionError` (or the secret store's error) when Qonto
        is not connected: no request is made then."""
        config = dataclasses.replace(config, max_retries=min(config.max_retries, PROBE_RETRIES),
                                     request_deadline_s=min(config.request_deadline_s, PROBE_DEADLINE_S))
        with self._lock:
            if config.auth_mode == "oauth" and secrets.get(QONTO_REFRESH_TOKEN) is None:
                self._forget()
                raise QontoConnectionError("Qonto is not connected (no refresh token): run `well qonto connect`")
            key = (config, str(secrets.path))
            if self._client is None or self._key != key:
                self._forget()
                self._client = open_client(config, secrets)
                self._key = key
            return self._client

    def forget(self) -> None:
        """Drop the kept client (after Qonto refused its token, or in tests)."""
        with self._lock:
            self._forget()

    def _forget(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client, self._key = None, None
