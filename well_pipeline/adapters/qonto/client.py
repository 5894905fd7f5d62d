"""The production Qonto Business API client (sync httpx, thread pools for concurrency).

What it is for: list supplier invoices over time ranges and download their attachments quickly, without
ever exceeding Qonto's rate limit, surviving the failures a remote API has (429, 5xx, timeouts, dropped
connections, expired tokens and pre-signed URLs), and failing *loudly and clearly* on the ones retrying
cannot fix (revoked consent, missing scope, the sandbox's HTML-instead-of-JSON trap, malformed answers).

Design notes:
- One `httpx.Client` for the API (auth, staging token, User-Agent, TLS 1.3, pooled connections) shared by
  all worker threads, and a second auth-less client for pre-signed download URLs: those URLs are
  credentials themselves, must not receive our bearer token, and are not counted against the API limit.
- Every API request first takes a slot from the shared `RateLimiter`; a 429 pauses the limiter for
  everyone (Retry-After when given, else exponential backoff with jitter).
- Every network call (API request, download, OAuth token call) runs under one overall deadline
  (`request_deadline_s`, see deadline.py): a server trickling its answer cannot hold a run. A deadline hit is
  retried like a timeout and, when every attempt hits it, raises `QontoTimeoutError` naming the path.
- Listing uses `page` (never `current_page`, which Qonto silently ignores) until `meta.next_page` is null.
  Pages after the first can be fetched concurrently (bounded) and are still yielded in order.
- Time filters are half-open `[from, to)`. Qonto's bound semantics are UNCONFIRMED, so the server is asked
  for a range one second wider on each side and the exact range is applied locally — correct whether the
  server treats bounds as inclusive, exclusive, or truncates fractions.
- Records are parsed by `records.parse_record`: a malformed record becomes a `RejectedRecord`, never an
  exception, and duplicates across pages (data shifting while paging) are dropped by id.

Layout: `QontoClient` (this module) composes its parts and holds the listing and pagination; `config.py` the
typed configuration; `api.py` the request core (rate limit, retries, deadlines, error mapping); `attachments.py`
the attachment downloads; `values.py` the public value types (re-exported here); `responses.py` the pure
response readers; `timestamps.py` the time-filter helpers.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from well_pipeline.adapters.qonto.api import ApiSession
from well_pipeline.adapters.qonto.attachments import AttachmentDownloader
from well_pipeline.adapters.qonto.auth import OAuthTokenAuth
from well_pipeline.adapters.qonto.config import QontoClientConfig
from well_pipeline.adapters.qonto.errors import QontoProtocolError
from well_pipeline.adapters.qonto.rate_limiter import RateLimiter
from well_pipeline.adapters.qonto.records import RecordResult, RejectedRecord, SupplierInvoice, parse_record
from well_pipeline.adapters.qonto.timestamps import as_utc, ceil_second, floor_second, rfc3339_z
from well_pipeline.adapters.qonto.transport import install_httpx_log_redaction, is_html
from well_pipeline.adapters.qonto.values import (
    AttachmentDownload,
    AttachmentFailure,
    AttachmentInfo,
    ClientStats,
    InvoicePage,
)

__all__ = [
    "AttachmentDownload",
    "AttachmentFailure",
    "AttachmentInfo",
    "ClientStats",
    "InvoicePage",
    "QontoClient",
]

logger = logging.getLogger("well.qonto")

MAX_PER_PAGE = 100
_BOUND_SLACK = timedelta(seconds=1)


def _record_id(record: RecordResult) -> str | None:
    return record.record_id if isinstance(record, RejectedRecord) else record.id


def _changed_while_paging(before: int, after: int) -> str:
    return f"Qonto supplier invoices changed while paging (total_count {before} -> {after})"


def _log_warning(message: str) -> None:
    logger.warning("%s", message)


# ---- the client ------------------------------------------------------------------------------------------


class QontoClient:
    """Qonto Business API client. Thread-safe; use as a context manager or call `close()`.

    `config` says where Qonto is and how hard to push (see `QontoClientConfig`); `auth` is an `ApiKeyAuth` or
    `OAuthTokenAuth` (an OAuth auth without a staging token gets the config's: Qonto's sandbox token endpoint needs
    it too). `limiter` replaces the config's rate limiter (to share one budget between clients); `transport`
    replaces the network (tests), downloads included; `sleep` is how retries wait.
    """

    def __init__(self, config: QontoClientConfig, auth: httpx.Auth, *, limiter: RateLimiter | None = None,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        if isinstance(auth, OAuthTokenAuth) and auth.staging_token is None and config.staging_token is not None:
            auth.staging_token = config.staging_token
        install_httpx_log_redaction()
        self.config = config
        self.api_url = config.api_url
        self.stats = ClientStats()
        self._auth = auth
        self._api = ApiSession(config, auth, limiter=limiter or config.rate_limiter(), stats=self.stats,
                               transport=transport, sleep=sleep)  # first: refuses plain http to a remote host
        self._attachments = AttachmentDownloader(config, self._api, transport=transport, sleep=sleep)

    # -- lifecycle --------------------------------------------------------------------------------------
    def __enter__(self) -> QontoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._api.close()
        self._attachments.close()
        close = getattr(self._auth, "close", None)
        if callable(close):
            close()

    def __repr__(self) -> str:
        return f"QontoClient(api_url={self.api_url!r}, auth={self._auth!r}, limiter={self.limiter!r})"

    @property
    def limiter(self) -> RateLimiter:
        return self._api.limiter

    def report_limiter_waits(self, report: Callable[[str], None] | None) -> None:
        """Send each long rate-limit wait (`rate_limiter.LONG_WAIT_S` or more) to `report` as one line saying
        which ceiling is reached and the time left before requests resume; None stops it. Callers pass their
        log (the ingest use case passes the run's, so the wait shows in the Dagster event log). `report` may be
        called from the client's worker threads. The stalled time is `stats.limiter_wait_s` either way."""
        self._api.waits.report = report

    @property
    def server_clock_offset_s(self) -> float | None:
        """Qonto's clock minus ours, from the first response's `Date` header (1-second resolution); None until
        known. Callers that keep a sync marker use it (see services/sync_marker.py)."""
        return self._api.server_clock_offset_s

    # -- attachments ----------------------------------------------------------------------------------------
    def get_attachment(self, attachment_id: str) -> AttachmentInfo:
        """`GET /v2/attachments/{id}`: metadata and a fresh pre-signed URL (valid ~30 min)."""
        return self._attachments.get_attachment(attachment_id)

    def fetch_attachments(
        self, ids: Iterable[str], *, max_bytes: int | None = None
    ) -> Iterator[AttachmentDownload | AttachmentFailure]:
        """Download attachments with `download_concurrency` workers; results come in completion order.

        `ids` is consumed lazily (it may be a live listing); blanks and repeats are skipped. A missing,
        oversized or persistently failing attachment yields an `AttachmentFailure` and the batch goes on;
        `QontoAuthError`/`QontoScopeError` are raised because every remaining download would fail too.
        """
        return self._attachments.fetch_attachments(ids, max_bytes=max_bytes)

    # -- supplier invoices ------------------------------------------------------------------------------
    def _list_params(
        self,
        created_at_from: datetime | None,
        created_at_to: datetime | None,
        updated_at_from: datetime | None,
        updated_at_to: datetime | None,
        statuses: Iterable[str] | None,
        sort_by: str,
        per_page: int,
    ) -> list[tuple[str, str]]:
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE} (Qonto's maximum)")
        params: list[tuple[str, str]] = []
        for name, moment, widen in (
            ("created_at_from", created_at_from, lambda m: floor_second(m) - _BOUND_SLACK),
            ("created_at_to", created_at_to, lambda m: ceil_second(m) + _BOUND_SLACK),
            ("updated_at_from", updated_at_from, lambda m: floor_second(m) - _BOUND_SLACK),
            ("updated_at_to", updated_at_to, lambda m: ceil_second(m) + _BOUND_SLACK),
        ):
            if moment is not None:
                params.append((f"filter[{name}]", rfc3339_z(widen(as_utc(moment, name)))))
        if statuses is not None:
            if isinstance(statuses, str):
                statuses = [statuses]
            for status in statuses:
                params.append(("filter[status][]", status))  # array form, as qontoctl sends it
        if sort_by:
            params.append(("sort_by", sort_by))
        params.append(("per_page", str(per_page)))
        return params

    def _fetch_page(
        self, params: list[tuple[str, str]], number: int, in_window: Callable[[SupplierInvoice], bool]
    ) -> tuple[InvoicePage, list[RecordResult]]:
        body = self._api.get_json("/v2/supplier_invoices", [*params, ("page", str(number))], what=f"(page {number})")
        if not isinstance(body, dict) or not isinstance(body.get("supplier_invoices"), list) \
                or not isinstance(body.get("meta"), dict):
            shape = sorted(body) if isinstance(body, dict) else type(body).__name__
            raise QontoProtocolError(
                f"Unexpected answer shape for /v2/supplier_invoices page {number}: expected an object with "
                f"'supplier_invoices' (list) and 'meta' (object), got {shape}",
                path="/v2/supplier_invoices",
            )
        meta = body["meta"]
        current = meta.get("current_page")
        if isinstance(current, int) and current != number:
            raise QontoProtocolError(
                f"Qonto returned page {current} when page {number} was requested: the 'page' parameter was "
                "ignored (see the current_page gotcha); refusing to loop over the same page",
                path="/v2/supplier_invoices",
            )
        next_page = meta.get("next_page")
        if next_page is not None and (not isinstance(next_page, int) or isinstance(next_page, bool)
                                      or next_page <= number):
            raise QontoProtocolError(
                f"meta.next_page must be null or an integer after {number}, got {next_page!r:.30}",
                path="/v2/supplier_invoices",
            )
        total_count = meta.get("total_count") if isinstance(meta.get("total_count"), int) else None
        total_pages = meta.get("total_pages") if isinstance(meta.get("total_pages"), int) else None
        parsed = [parse_record(item) for item in body["supplier_invoices"]]
        kept = [r for r in parsed if isinstance(r, RejectedRecord) or in_window(r)]
        page = InvoicePage(
            number=number,
            total_count=total_count,
            results=kept,
            total_pages=total_pages,
            next_page=next_page,
            received=len(parsed),
            raw_ids=tuple(record_id for record_id in map(_record_id, parsed) if record_id),
        )
        return page, kept

    def iter_supplier_invoice_pages(
        self,
        *,
        created_at_from: datetime | None = None,
        created_at_to: datetime | None = None,
        updated_at_from: datetime | None = None,
        updated_at_to: datetime | None = None,
        statuses: Iterable[str] | None = None,
        sort_by: str = "created_at:asc",
        per_page: int = MAX_PER_PAGE,
        warn: Callable[[str], None] | None = None,
    ) -> Iterator[InvoicePage]:
        """Pages of supplier invoices in order. Time bounds are half-open: `from <= t < to` (UTC-aware).

        Page 1 is fetched first; when `meta.total_pages` says there are more, up to `page_concurrency`
        later pages are fetched at once and still yielded in page order. Paging ends when
        `meta.next_page` is null. Records seen on an earlier page are dropped (counted in
        `stats.duplicates_skipped`); rejected records are always yielded. Each page's `raw_ids` lets the
        caller check that the *distinct* ids add up to `total_count` (page-number paging can repeat one
        record and skip another). `warn` receives "changed while paging" (default: this module's logger),
        so a caller can route it to its own log (the Dagster event log).
        """
        warn = warn or _log_warning
        params = self._list_params(created_at_from, created_at_to, updated_at_from, updated_at_to,
                                   statuses, sort_by, per_page)
        bounds = (
            as_utc(created_at_from, "created_at_from") if created_at_from else None,
            as_utc(created_at_to, "created_at_to") if created_at_to else None,
            as_utc(updated_at_from, "updated_at_from") if updated_at_from else None,
            as_utc(updated_at_to, "updated_at_to") if updated_at_to else None,
        )

        def in_window(record: SupplierInvoice) -> bool:
            c_from, c_to, u_from, u_to = bounds
            return not (
                (c_from is not None and record.created_at < c_from)
                or (c_to is not None and record.created_at >= c_to)
                or (u_from is not None and record.updated_at < u_from)
                or (u_to is not None and record.updated_at >= u_to)
            )

        seen: set[str] = set()

        def dedupe(page: InvoicePage) -> InvoicePage:
            results: list[RecordResult] = []
            rejected = duplicates = 0
            for record in page.results:
                if isinstance(record, RejectedRecord):
                    rejected += 1
                elif record.id in seen:
                    duplicates += 1
                    continue
                else:
                    seen.add(record.id)
                results.append(record)
            if rejected or duplicates:
                self.stats.add(rejected_records=rejected, duplicates_skipped=duplicates)
            return InvoicePage(page.number, page.total_count, results, page.total_pages, page.next_page,
                               page.received, page.raw_ids)

        first, _ = self._fetch_page(params, 1, in_window)
        yield dedupe(first)
        last = first
        total_pages = first.total_pages
        if first.next_page is not None and total_pages and total_pages > 2 and self.config.page_concurrency > 1:
            last = yield from self._concurrent_pages(params, first, total_pages, in_window, dedupe, warn)
        next_page = last.next_page
        while next_page is not None:
            page, _ = self._fetch_page(params, next_page, in_window)
            yield dedupe(page)
            if page.total_count is not None and first.total_count is not None \
                    and page.total_count != first.total_count:
                warn(_changed_while_paging(first.total_count, page.total_count))
            next_page = page.next_page

    def _concurrent_pages(
        self,
        params: list[tuple[str, str]],
        first: InvoicePage,
        total_pages: int,
        in_window: Callable[[SupplierInvoice], bool],
        dedupe: Callable[[InvoicePage], InvoicePage],
        warn: Callable[[str], None],
    ) -> Iterator[InvoicePage]:
        """Fetch pages 2..total_pages with a bounded look-ahead, yielding in order; returns the last page."""
        pool = ThreadPoolExecutor(self.config.page_concurrency, thread_name_prefix="qonto-page")
        pending: deque[Future[tuple[InvoicePage, list[RecordResult]]]] = deque()
        numbers = iter(range(first.next_page or 2, total_pages + 1))
        last = first
        try:
            for number in numbers:
                pending.append(pool.submit(self._fetch_page, params, number, in_window))
                if len(pending) >= self.config.page_concurrency * 2:
                    break
            while pending:
                page, _ = pending.popleft().result()
                for number in numbers:  # refill one slot
                    pending.append(pool.submit(self._fetch_page, params, number, in_window))
                    break
                yield dedupe(page)
                last = page
                if page.next_page is None:
                    break  # the listing shrank while paging: stop where Qonto says it ends
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
        if last.total_count is not None and first.total_count is not None and last.total_count != first.total_count:
            warn(_changed_while_paging(first.total_count, last.total_count))
        return last

    def iter_supplier_invoices(
        self,
        *,
        created_at_from: datetime | None = None,
        created_at_to: datetime | None = None,
        updated_at_from: datetime | None = None,
        updated_at_to: datetime | None = None,
        statuses: Iterable[str] | None = None,
        sort_by: str = "created_at:asc",
        per_page: int = MAX_PER_PAGE,
    ) -> Iterator[RecordResult]:
        """Every record of every page (see `iter_supplier_invoice_pages`)."""
        for page in self.iter_supplier_invoice_pages(
            created_at_from=created_at_from,
            created_at_to=created_at_to,
            updated_at_from=updated_at_from,
            updated_at_to=updated_at_to,
            statuses=statuses,
            sort_by=sort_by,
            per_page=per_page,
        ):
            yield from page.results

    def get_supplier_invoice(self, invoice_id: str) -> RecordResult:
        """`GET /v2/supplier_invoices/{id}` (wrapped as `{supplier_invoice: {...}}`); 404 → QontoNotFoundError."""
        path = f"/v2/supplier_invoices/{quote(invoice_id, safe='')}"
        body = self._api.get_json(path)
        if isinstance(body, dict) and isinstance(body.get("supplier_invoice"), dict):
            return parse_record(body["supplier_invoice"])
        if isinstance(body, dict) and "id" in body:  # some endpoints answer the bare object
            return parse_record(body)
        shape = sorted(body) if isinstance(body, dict) else type(body).__name__
        raise QontoProtocolError(f"Unexpected answer shape for {path}: expected 'supplier_invoice', got {shape}",
                                 path=path)

    # -- organization and consent ----------------------------------------------------------------------
    def get_organization(self) -> dict[str, Any]:
        """`GET /v2/organization` → the `organization` object (with its bank accounts)."""
        body = self._api.get_json("/v2/organization")
        if not isinstance(body, dict) or not isinstance(body.get("organization"), dict):
            shape = sorted(body) if isinstance(body, dict) else type(body).__name__
            raise QontoProtocolError(f"Unexpected answer shape for /v2/organization: got {shape}",
                                     path="/v2/organization")
        return body["organization"]

    def revoke_consent(self) -> None:
        """`DELETE /v2/oauth2/consents` (Qonto answers 204): the OAuth consent and its tokens stop working."""
        path = "/v2/oauth2/consents"
        response = self._api.send("DELETE", path)
        if response.status_code in (200, 204):
            if isinstance(self._auth, OAuthTokenAuth):
                self._auth.invalidate()
            return
        if is_html(response):
            raise QontoProtocolError.html(path=path, status=response.status_code)
        self._api.raise_for_error(response, path)
