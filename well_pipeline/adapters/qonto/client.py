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
- Listing uses `page` (never `current_page`, which Qonto silently ignores) until `meta.next_page` is null.
  Pages after the first can be fetched concurrently (bounded) and are still yielded in order.
- Time filters are half-open `[from, to)`. Qonto's bound semantics are UNCONFIRMED, so the server is asked
  for a range one second wider on each side and the exact range is applied locally — correct whether the
  server treats bounds as inclusive, exclusive, or truncates fractions.
- Records are parsed by `records.parse_record`: a malformed record becomes a `RejectedRecord`, never an
  exception, and duplicates across pages (data shifting while paging) are dropped by id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from well_pipeline.adapters.qonto.auth import OAuthTokenAuth
from well_pipeline.adapters.qonto.errors import (
    QontoAPIError,
    QontoAuthError,
    QontoConfigError,
    QontoError,
    QontoNotFoundError,
    QontoProtocolError,
    QontoRateLimited,
    QontoScopeError,
    QontoTransportError,
    safe_excerpt,
)
from well_pipeline.adapters.qonto.rate_limiter import RateLimiter
from well_pipeline.adapters.qonto.records import (
    RecordParseError,
    RecordResult,
    RejectedRecord,
    SupplierInvoice,
    parse_datetime_utc,
    parse_record,
)
from well_pipeline.adapters.qonto.transport import (
    STAGING_HEADER,
    TRACE_HEADER,
    build_ssl_context,
    install_httpx_log_redaction,
    is_html,
    is_json_content_type,
    is_loopback_host,
    safe_url,
    tls_failure,
    user_agent,
)
from well_pipeline.adapters.secrets.secret import Secret

__all__ = [
    "AttachmentDownload",
    "AttachmentFailure",
    "AttachmentInfo",
    "ClientStats",
    "InvoicePage",
    "QontoClient",
]

logger = logging.getLogger("well.qonto")

RETRY_STATUSES = frozenset({500, 502, 503, 504})
MAX_PER_PAGE = 100
RETRY_AFTER_CAP_S = 600.0  # Qonto's longest window is 10 min; anything longer is a server bug
_BOUND_SLACK = timedelta(seconds=1)


# ---- public values ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoicePage:
    """One page of `GET /v2/supplier_invoices`, records parsed and filtered to the requested window."""

    number: int
    total_count: int | None
    results: list[RecordResult]
    total_pages: int | None = None
    next_page: int | None = None
    received: int = 0  # records in the raw page, before local window filtering and de-duplication


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


class _UrlExpired(Exception):
    """The pre-signed URL was refused (403): fetch fresh metadata once."""


# ---- helpers ---------------------------------------------------------------------------------------------


def _utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (a naive datetime is ambiguous)")
    return moment.astimezone(UTC)


def _rfc3339_z(moment: datetime) -> str:
    """RFC 3339 in UTC with `Z` (no `+` to URL-encode, as Qonto's own sync guide does)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _floor_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _ceil_second(moment: datetime) -> datetime:
    return moment if moment.microsecond == 0 else moment.replace(microsecond=0) + timedelta(seconds=1)


def _parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or HTTP-date); None when absent or unparseable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - datetime.now(UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_S)


def _error_fields(response: httpx.Response) -> tuple[str | None, str | None, str | None]:
    """(code, detail, trace_id) from Qonto's errors envelope, tolerating any other body."""
    trace_id = response.headers.get(TRACE_HEADER)
    code = detail = None
    body: Any = None
    if is_json_content_type(response):
        try:
            body = json.loads(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            code = errors[0].get("code") if isinstance(errors[0].get("code"), str) else None
            detail = errors[0].get("detail") if isinstance(errors[0].get("detail"), str) else None
            source = errors[0].get("source")
            if isinstance(source, dict) and source.get("parameter") and detail:
                detail = f"{detail} (parameter {source['parameter']})"
        elif isinstance(body.get("error"), str):
            code = body["error"]
            described = body.get("error_description") or body.get("message")
            detail = str(described) if described is not None else None
        elif isinstance(body.get("message"), str):
            detail = body["message"]
        if isinstance(body.get("trace_id"), str):
            trace_id = body["trace_id"]
    if code is None and detail is None and response.content:
        detail = safe_excerpt(response.content)
    return code, detail, trace_id


def _missing_scope(detail: str | None) -> str | None:
    """The scope named in a 403 detail (qontoctl keys off 'missing required oauth scope'; wording UNCONFIRMED)."""
    if not detail:
        return None
    match = re.search(r"\b([a-z_]+\.(?:read|write))\b", detail)
    return match.group(1) if match else None


# ---- the client ------------------------------------------------------------------------------------------


class QontoClient:
    """Qonto Business API client. Thread-safe; use as a context manager or call `close()`.

    `api_url` is the API base without `/v2` (https://thirdparty.qonto.com, or the sandbox URL).
    `auth` is an `ApiKeyAuth` or `OAuthTokenAuth`. `staging_token` is sent on every API request (and given to
    an `OAuthTokenAuth` that has none, since Qonto's sandbox token endpoint needs it too).
    `verify`: True, a CA bundle path, an SSLContext, or False (loopback only); TLS 1.3 is the minimum.
    `transport` replaces the network (tests); it is used for downloads too.
    """

    def __init__(
        self,
        api_url: str,
        auth: httpx.Auth,
        *,
        staging_token: Secret | str | None = None,
        limiter: RateLimiter | None = None,
        timeout_s: float = 30,
        max_retries: int = 5,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30,
        download_concurrency: int = 8,
        page_concurrency: int = 4,
        verify: Any = True,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if download_concurrency < 1 or page_concurrency < 1:
            raise QontoConfigError("download_concurrency and page_concurrency must be >= 1")
        if max_retries < 0:
            raise QontoConfigError("max_retries must be >= 0")
        base = api_url.strip().rstrip("/")
        if base.endswith("/v2"):
            base = base[: -len("/v2")]
        self._api_ssl = build_ssl_context(base, verify)  # raises QontoConfigError for http to non-loopback
        self.api_url = base
        self._verify = verify
        self._staging = Secret(staging_token) if isinstance(staging_token, str) else staging_token
        if isinstance(auth, OAuthTokenAuth) and auth.staging_token is None and self._staging is not None:
            auth.staging_token = self._staging
        self._auth = auth
        self._limiter = limiter if limiter is not None else RateLimiter()
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._download_concurrency = download_concurrency
        self._page_concurrency = page_concurrency
        self._sleep = sleep
        self.stats = ClientStats()
        # Qonto's clock minus ours, from the first response's `Date` header (1-second resolution); None until known.
        self.server_clock_offset_s: float | None = None
        install_httpx_log_redaction()

        pool = download_concurrency + page_concurrency + 2
        limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        headers = {"User-Agent": user_agent(), "Accept": "application/json"}
        if self._staging is not None:
            headers[STAGING_HEADER] = self._staging.reveal()
        self._http = httpx.Client(
            base_url=self.api_url,
            auth=auth,
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            limits=limits,
            verify=self._api_ssl,
            transport=transport,
            follow_redirects=False,
        )
        # Pre-signed URLs: no auth, no staging token, no rate limit; same TLS policy (TLS 1.3 minimum).
        # verify=False (loopback only) yields an unverified context; _download_allowed() then refuses any
        # non-loopback download host.
        self._download_ssl = build_ssl_context("https://localhost" if verify is False else "https://downloads",
                                               verify)
        self._downloads = httpx.Client(
            headers={"User-Agent": user_agent()},
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=download_concurrency + 2,
                                max_keepalive_connections=download_concurrency + 2),
            verify=self._download_ssl,
            transport=transport,
            follow_redirects=False,
        )

    # -- lifecycle --------------------------------------------------------------------------------------
    def __enter__(self) -> QontoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()
        self._downloads.close()
        close = getattr(self._auth, "close", None)
        if callable(close):
            close()

    def __repr__(self) -> str:
        return f"QontoClient(api_url={self.api_url!r}, auth={self._auth!r}, limiter={self._limiter!r})"

    @property
    def limiter(self) -> RateLimiter:
        return self._limiter

    # -- request core -----------------------------------------------------------------------------------
    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with 'equal jitter': half fixed, half random, capped."""
        ceiling = min(self._backoff_max_s, self._backoff_base_s * (2 ** (attempt - 1)))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _send(self, method: str, path: str, params: list[tuple[str, str]] | None = None) -> httpx.Response:
        """Send one API request with rate limiting and retries; returns the final non-retryable response."""
        target = path if not params else f"{path} page={dict(params).get('page', '1')}"
        attempts = self._max_retries + 1
        for attempt in range(1, attempts + 1):
            waited = self._limiter.acquire()
            self.stats.add(requests=1, limiter_wait_s=waited)
            try:
                response = self._http.request(method, path, params=params)
            except httpx.TransportError as exc:  # timeouts, refused/dropped connections, protocol breaks
                tls_problem = tls_failure(exc)
                if tls_problem:  # retrying cannot fix an untrusted certificate or a pre-TLS-1.3 server
                    raise QontoTransportError(f"Qonto request {method} {target}: {tls_problem}",
                                              path=path, attempts=attempt) from None
                if attempt >= attempts:
                    raise QontoTransportError(
                        f"Qonto request {method} {target} failed after {attempts} attempts: {type(exc).__name__}",
                        path=path,
                        attempts=attempts,
                    ) from None
                delay = self._backoff(attempt)
                self._log_retry(attempt, attempts, method, target, type(exc).__name__, None, delay)
                self.stats.add(retries=1)
                self._sleep(delay)
                continue
            self._note_server_clock(response)
            status = response.status_code
            if status == 429:
                self.stats.add(rate_limited=1)
                retry_after = _parse_retry_after(response.headers.get("Retry-After"))
                if attempt >= attempts:
                    code, detail, trace_id = _error_fields(response)
                    raise QontoRateLimited(status, code, detail, trace_id, path=path, retry_after_s=retry_after)
                delay = retry_after if retry_after else self._backoff(attempt)
                self._log_retry(attempt, attempts, method, target, "429", response.headers.get(TRACE_HEADER), delay)
                self.stats.add(retries=1)
                self._limiter.penalize(delay)  # everyone waits, the next acquire() sleeps it off
                continue
            if status in RETRY_STATUSES and attempt < attempts:
                delay = self._backoff(attempt)
                self._log_retry(attempt, attempts, method, target, str(status),
                                response.headers.get(TRACE_HEADER), delay)
                self.stats.add(retries=1)
                self._sleep(delay)
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _note_server_clock(self, response: httpx.Response) -> None:
        """Remember how far Qonto's clock is from ours (its `Date` header), for callers that keep a sync marker."""
        if self.server_clock_offset_s is not None:
            return
        try:
            server = parsedate_to_datetime(response.headers["date"])
        except (KeyError, TypeError, ValueError, IndexError):
            return
        self.server_clock_offset_s = (server - datetime.now(UTC)).total_seconds()

    def _log_retry(self, attempt: int, attempts: int, method: str, target: str, what: str,
                   trace_id: str | None, delay: float) -> None:
        logger.warning(
            "Qonto %s %s failed (%s, trace_id=%s); retry %d/%d in %.2f s",
            method, target, what, trace_id or "none", attempt, attempts - 1, delay,
        )

    def _raise_for_error(self, response: httpx.Response, path: str) -> None:
        status = response.status_code
        if 300 <= status < 400:
            location = response.headers.get("location", "")
            host = urlsplit(location).hostname or "?"
            raise QontoProtocolError(
                f"Qonto redirected {path} to {host} (status {status}) instead of answering JSON. In Qonto's sandbox "
                "this means the X-Qonto-Staging-Token header is missing or wrong; otherwise check the API URL.",
                path=path,
                status=status,
            )
        code, detail, trace_id = _error_fields(response)
        if status == 401:
            raise QontoAuthError(status, code, detail, trace_id, path=path)
        if status == 403:
            raise QontoScopeError(status, code, detail, trace_id, path=path, missing_scope=_missing_scope(detail))
        if status == 404:
            raise QontoNotFoundError(status, code, detail, trace_id, path=path)
        if status == 429:
            raise QontoRateLimited(status, code, detail, trace_id, path=path)
        raise QontoAPIError(status, code, detail, trace_id, path=path)

    def _get_json(self, path: str, params: list[tuple[str, str]] | None = None, *, what: str = "") -> Any:
        response = self._send("GET", path, params)
        if not 200 <= response.status_code < 300:
            self._raise_for_error(response, path)
        where = f"{path}{' ' + what if what else ''}"
        if is_html(response):
            raise QontoProtocolError.html(path=where, status=response.status_code)
        if not is_json_content_type(response):
            raise QontoProtocolError(
                f"Qonto answered {response.headers.get('content-type') or 'no content type'} instead of JSON "
                f"(status {response.status_code}) for {where}: {safe_excerpt(response.content)!r}",
                path=path,
                status=response.status_code,
            )
        try:
            return json.loads(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise QontoProtocolError(
                f"Qonto answered malformed JSON for {where} (status {response.status_code}, "
                f"{len(response.content)} bytes, {type(exc).__name__} at char {getattr(exc, 'pos', '?')}): "
                f"{safe_excerpt(response.content)!r}",
                path=path,
                status=response.status_code,
            ) from None

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
            ("created_at_from", created_at_from, lambda m: _floor_second(m) - _BOUND_SLACK),
            ("created_at_to", created_at_to, lambda m: _ceil_second(m) + _BOUND_SLACK),
            ("updated_at_from", updated_at_from, lambda m: _floor_second(m) - _BOUND_SLACK),
            ("updated_at_to", updated_at_to, lambda m: _ceil_second(m) + _BOUND_SLACK),
        ):
            if moment is not None:
                params.append((f"filter[{name}]", _rfc3339_z(widen(_utc(moment, name)))))
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
        body = self._get_json("/v2/supplier_invoices", [*params, ("page", str(number))], what=f"(page {number})")
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
    ) -> Iterator[InvoicePage]:
        """Pages of supplier invoices in order. Time bounds are half-open: `from <= t < to` (UTC-aware).

        Page 1 is fetched first; when `meta.total_pages` says there are more, up to `page_concurrency`
        later pages are fetched at once and still yielded in page order. Paging ends when
        `meta.next_page` is null. Records seen on an earlier page are dropped (counted in
        `stats.duplicates_skipped`); rejected records are always yielded.
        """
        params = self._list_params(created_at_from, created_at_to, updated_at_from, updated_at_to,
                                   statuses, sort_by, per_page)
        bounds = (
            _utc(created_at_from, "created_at_from") if created_at_from else None,
            _utc(created_at_to, "created_at_to") if created_at_to else None,
            _utc(updated_at_from, "updated_at_from") if updated_at_from else None,
            _utc(updated_at_to, "updated_at_to") if updated_at_to else None,
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
                               page.received)

        first, _ = self._fetch_page(params, 1, in_window)
        yield dedupe(first)
        last = first
        total_pages = first.total_pages
        if first.next_page is not None and total_pages and total_pages > 2 and self._page_concurrency > 1:
            last = yield from self._concurrent_pages(params, first, total_pages, in_window, dedupe)
        next_page = last.next_page
        while next_page is not None:
            page, _ = self._fetch_page(params, next_page, in_window)
            yield dedupe(page)
            if page.total_count is not None and first.total_count is not None \
                    and page.total_count != first.total_count:
                logger.warning("Qonto supplier invoices changed while paging (total_count %s -> %s)",
                               first.total_count, page.total_count)
            next_page = page.next_page

    def _concurrent_pages(
        self,
        params: list[tuple[str, str]],
        first: InvoicePage,
        total_pages: int,
        in_window: Callable[[SupplierInvoice], bool],
        dedupe: Callable[[InvoicePage], InvoicePage],
    ) -> Iterator[InvoicePage]:
        """Fetch pages 2..total_pages with a bounded look-ahead, yielding in order; returns the last page."""
        pool = ThreadPoolExecutor(self._page_concurrency, thread_name_prefix="qonto-page")
        pending: deque[Future[tuple[InvoicePage, list[RecordResult]]]] = deque()
        numbers = iter(range(first.next_page or 2, total_pages + 1))
        last = first
        try:
            for number in numbers:
                pending.append(pool.submit(self._fetch_page, params, number, in_window))
                if len(pending) >= self._page_concurrency * 2:
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
            logger.warning("Qonto supplier invoices changed while paging (total_count %s -> %s)",
                           first.total_count, last.total_count)
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
        body = self._get_json(path)
        if isinstance(body, dict) and isinstance(body.get("supplier_invoice"), dict):
            return parse_record(body["supplier_invoice"])
        if isinstance(body, dict) and "id" in body:  # some endpoints answer the bare object
            return parse_record(body)
        shape = sorted(body) if isinstance(body, dict) else type(body).__name__
        raise QontoProtocolError(f"Unexpected answer shape for {path}: expected 'supplier_invoice', got {shape}",
                                 path=path)

    # -- attachments ------------------------------------------------------------------------------------
    def get_attachment(self, attachment_id: str) -> AttachmentInfo:
        """`GET /v2/attachments/{id}`: metadata and a fresh pre-signed URL (valid ~30 min)."""
        path = f"/v2/attachments/{quote(attachment_id, safe='')}"
        body = self._get_json(path)
        attachment = body.get("attachment") if isinstance(body, dict) else None
        if not isinstance(attachment, dict) or not isinstance(attachment.get("url"), str) or not attachment["url"]:
            shape = sorted(attachment or body) if isinstance(attachment or body, dict) else type(body).__name__
            raise QontoProtocolError(f"Unexpected answer shape for {path}: expected attachment.url, got {shape}",
                                     path=path)
        size_raw = attachment.get("file_size")
        try:
            file_size = int(size_raw) if size_raw is not None and not isinstance(size_raw, bool) else None
        except (TypeError, ValueError):
            file_size = None  # documented as a string; tolerate anything
        try:
            created_at = parse_datetime_utc(attachment["created_at"], "created_at") \
                if attachment.get("created_at") else None
        except RecordParseError:
            created_at = None
        return AttachmentInfo(
            id=str(attachment.get("id") or attachment_id),
            file_name=attachment.get("file_name") if isinstance(attachment.get("file_name"), str) else None,
            file_size=file_size,
            content_type=attachment.get("file_content_type")
            if isinstance(attachment.get("file_content_type"), str) else None,
            url=attachment["url"],
            created_at=created_at,
        )

    def _download_allowed(self, url: str) -> str | None:
        """Why this pre-signed URL must not be fetched, or None if it may."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme == "https":
            if self._verify is False and not is_loopback_host(host):
                return f"refusing unverified TLS download from {host}"
            return None
        if parts.scheme == "http" and is_loopback_host(host):
            return None
        return f"refusing a non-https download URL ({parts.scheme}://{host})"

    def _download_url(self, info: AttachmentInfo, max_bytes: int | None) -> AttachmentDownload | AttachmentFailure:
        """Download one pre-signed URL (retrying transient failures); raises _UrlExpired on 403."""
        refusal = self._download_allowed(info.url)
        if refusal:
            return AttachmentFailure(info.id, refusal)
        attempts = self._max_retries + 1
        where = safe_url(info.url, keep_query=False)
        for attempt in range(1, attempts + 1):
            problem: str
            try:
                with self._downloads.stream("GET", info.url) as response:
                    status = response.status_code
                    if status == 200:
                        declared = response.headers.get("content-length")
                        if max_bytes is not None and declared and declared.isdigit() and int(declared) > max_bytes:
                            return AttachmentFailure(
                                info.id, f"attachment is {int(declared)} bytes, above the {max_bytes}-byte limit")
                        digest = hashlib.sha256()
                        chunks: list[bytes] = []
                        size = 0
                        for chunk in response.iter_bytes(65536):
                            size += len(chunk)
                            if max_bytes is not None and size > max_bytes:
                                return AttachmentFailure(info.id, f"attachment exceeds the {max_bytes}-byte limit")
                            digest.update(chunk)
                            chunks.append(chunk)
                        if info.file_size is not None and info.file_size != size:
                            logger.warning("Qonto attachment %s: metadata says %d bytes, downloaded %d",
                                           info.id, info.file_size, size)
                        self.stats.add(downloads=1, bytes=size)
                        media = response.headers.get("content-type")
                        return AttachmentDownload(
                            attachment_id=info.id,
                            file_name=info.file_name,
                            content_type=info.content_type or (media.split(";")[0].strip() if media else None),
                            content=b"".join(chunks),
                            sha256=digest.hexdigest(),
                            size=size,
                        )
                    if status in (401, 403):
                        raise _UrlExpired()
                    if status in (404, 410):
                        return AttachmentFailure(info.id, f"download URL answered {status} (file gone)", status)
                    if status not in RETRY_STATUSES and status != 429:
                        return AttachmentFailure(info.id, f"download URL answered unexpected status {status}",
                                                 status)
                    problem = str(status)
            except httpx.TransportError as exc:
                tls_problem = tls_failure(exc)
                if tls_problem:
                    return AttachmentFailure(info.id, f"download from {where}: {tls_problem}")
                problem = type(exc).__name__
            if attempt >= attempts:
                return AttachmentFailure(info.id, f"download failed after {attempts} attempts ({problem})")
            delay = self._backoff(attempt)
            logger.warning("Qonto attachment download %s failed (%s); retry %d/%d in %.2f s",
                           where, problem, attempt, attempts - 1, delay)
            self.stats.add(download_retries=1)
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _fetch_one(self, attachment_id: str, max_bytes: int | None) -> AttachmentDownload | AttachmentFailure:
        """Metadata + download for one attachment; only credential problems escape as exceptions."""
        refreshed = False
        while True:
            try:
                info = self.get_attachment(attachment_id)
            except (QontoAuthError, QontoScopeError):
                raise  # every other attachment would fail the same way: stop the batch
            except QontoNotFoundError as exc:
                return AttachmentFailure(attachment_id, f"attachment not found (404, trace_id={exc.trace_id})", 404)
            except QontoAPIError as exc:
                return AttachmentFailure(attachment_id, str(exc), exc.status)
            except QontoError as exc:
                return AttachmentFailure(attachment_id, str(exc))
            if max_bytes is not None and info.file_size is not None and info.file_size > max_bytes:
                return AttachmentFailure(
                    attachment_id, f"attachment is {info.file_size} bytes, above the {max_bytes}-byte limit")
            try:
                return self._download_url(info, max_bytes)
            except _UrlExpired:
                if refreshed:
                    return AttachmentFailure(
                        attachment_id, "download URL refused (403) even after fetching a fresh one", 403)
                refreshed = True
                self.stats.add(url_refreshes=1)
                logger.info("Qonto attachment %s: download URL refused (expired?), fetching a fresh one",
                            attachment_id)

    def fetch_attachments(
        self, ids: Iterable[str], *, max_bytes: int | None = None
    ) -> Iterator[AttachmentDownload | AttachmentFailure]:
        """Download attachments with `download_concurrency` workers; results come in completion order.

        `ids` is consumed lazily (it may be a live listing); blanks and repeats are skipped. A missing,
        oversized or persistently failing attachment yields an `AttachmentFailure` and the batch goes on;
        `QontoAuthError`/`QontoScopeError` are raised because every remaining download would fail too.
        """
        source = iter(ids)
        seen: set[str] = set()
        in_flight: set[Future[AttachmentDownload | AttachmentFailure]] = set()
        pool = ThreadPoolExecutor(self._download_concurrency, thread_name_prefix="qonto-dl")
        exhausted = False
        try:
            while True:
                while not exhausted and len(in_flight) < self._download_concurrency * 2:
                    try:
                        attachment_id = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    if not attachment_id or attachment_id in seen:
                        continue
                    seen.add(attachment_id)
                    in_flight.add(pool.submit(self._fetch_one, attachment_id, max_bytes))
                if not in_flight:
                    return
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            for future in in_flight:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)

    # -- organization and consent ----------------------------------------------------------------------
    def get_organization(self) -> dict[str, Any]:
        """`GET /v2/organization` → the `organization` object (with its bank accounts)."""
        body = self._get_json("/v2/organization")
        if not isinstance(body, dict) or not isinstance(body.get("organization"), dict):
            shape = sorted(body) if isinstance(body, dict) else type(body).__name__
            raise QontoProtocolError(f"Unexpected answer shape for /v2/organization: got {shape}",
                                     path="/v2/organization")
        return body["organization"]

    def revoke_consent(self) -> None:
        """`DELETE /v2/oauth2/consents` (Qonto answers 204): the OAuth consent and its tokens stop working."""
        path = "/v2/oauth2/consents"
        response = self._send("DELETE", path)
        if response.status_code in (200, 204):
            if isinstance(self._auth, OAuthTokenAuth):
                self._auth.invalidate()
            return
        if is_html(response):
            raise QontoProtocolError.html(path=path, status=response.status_code)
        self._raise_for_error(response, path)
