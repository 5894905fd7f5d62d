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

Layout: this module holds `QontoClient`'s core (construction, the request core with retries, listing and
pagination); `attachments.py` the attachment downloads (mixed into `QontoClient`); `values.py` the public
value types (re-exported here); `responses.py` the pure response readers; `timestamps.py` the time-filter helpers.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from well_pipeline.adapters.qonto.attachments import AttachmentsMixin
from well_pipeline.adapters.qonto.auth import OAuthTokenAuth
from well_pipeline.adapters.qonto.deadline import DEFAULT_DEADLINE_S, deadline_scope, enforce_deadlines
from well_pipeline.adapters.qonto.errors import (
    QontoAPIError,
    QontoAuthError,
    QontoConfigError,
    QontoNotFoundError,
    QontoProtocolError,
    QontoRateLimited,
    QontoScopeError,
    QontoTimeoutError,
    QontoTransportError,
    safe_excerpt,
)
from well_pipeline.adapters.qonto.rate_limiter import RateLimiter
from well_pipeline.adapters.qonto.records import (
    RecordResult,
    RejectedRecord,
    SupplierInvoice,
    parse_record,
)
from well_pipeline.adapters.qonto.responses import RETRY_AFTER_CAP_S as RETRY_AFTER_CAP_S  # re-exported
from well_pipeline.adapters.qonto.responses import (
    RETRY_STATUSES,
    _error_fields,
    _missing_scope,
    _parse_retry_after,
)
from well_pipeline.adapters.qonto.timestamps import _ceil_second, _floor_second, _rfc3339_z, _utc
from well_pipeline.adapters.qonto.transport import (
    STAGING_HEADER,
    TRACE_HEADER,
    build_ssl_context,
    install_httpx_log_redaction,
    is_html,
    is_json_content_type,
    tls_failure,
    user_agent,
)
from well_pipeline.adapters.qonto.values import (
    AttachmentDownload,
    AttachmentFailure,
    AttachmentInfo,
    ClientStats,
    InvoicePage,
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

MAX_PER_PAGE = 100
_BOUND_SLACK = timedelta(seconds=1)


def _record_id(record: RecordResult) -> str | None:
    return record.record_id if isinstance(record, RejectedRecord) else record.id


def _changed_while_paging(before: int, after: int) -> str:
    return f"Qonto supplier invoices changed while paging (total_count {before} -> {after})"


def _log_warning(message: str) -> None:
    logger.warning("%s", message)


# ---- the client ------------------------------------------------------------------------------------------


class QontoClient(AttachmentsMixin):
    """Qonto Business API client. Thread-safe; use as a context manager or call `close()`.

    `api_url` is the API base without `/v2` (https://thirdparty.qonto.com, or the sandbox URL).
    `auth` is an `ApiKeyAuth` or `OAuthTokenAuth`. `staging_token` is sent on every API request (and given to
    an `OAuthTokenAuth` that has none, since Qonto's sandbox token endpoint needs it too).
    `verify`: True, a CA bundle path, an SSLContext, or False (loopback only); TLS 1.3 is the minimum.
    `transport` replaces the network (tests); it is used for downloads too.
    `request_deadline_s` bounds each network call as a whole (connect, headers, body); None disables it.
    """

    def __init__(
        self,
        api_url: str,
        auth: httpx.Auth,
        *,
        staging_token: Secret | str | None = None,
        limiter: RateLimiter | None = None,
        timeout_s: float = 30,
        request_deadline_s: float | None = DEFAULT_DEADLINE_S,
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
        if request_deadline_s is not None and request_deadline_s <= 0:
            raise QontoConfigError("request_deadline_s must be > 0 (or None to disable)")
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
        self._deadline_s = request_deadline_s
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
        enforce_deadlines(self._http)
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
        enforce_deadlines(self._downloads)

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
            waited = self._limiter.acquire()  # waiting for a slot is not network time: outside the deadline
            self.stats.add(requests=1, limiter_wait_s=waited)
            response, problem, deadline_hit = self._attempt(method, path, params, target, attempt)
            if response is None:  # timeouts, refused/dropped connections, protocol breaks, deadline hits
                if attempt >= attempts:
                    if deadline_hit:
                        raise QontoTimeoutError(
                            f"Qonto request {method} {target} did not complete within its {self._deadline_s:g} s "
                            f"deadline (setting qonto_request_deadline_s); gave up after {attempts} attempts "
                            f"(last: {problem}): Qonto or the network answers too slowly",
                            path=path, attempts=attempts, deadline_s=self._deadline_s or 0.0,
                        ) from None
                    raise QontoTransportError(
                        f"Qonto request {method} {target} failed after {attempts} attempts: {problem}",
                        path=path,
                        attempts=attempts,
                    ) from None
                delay = self._backoff(attempt)
                self._log_retry(attempt, attempts, method, target, problem, None, delay)
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

    def _attempt(self, method: str, path: str, params: list[tuple[str, str]] | None, target: str,
                 attempt: int) -> tuple[httpx.Response | None, str, bool]:
        """One try under the request deadline: (response, "", False) or (None, what failed, deadline hit?).

        Raises only what retrying cannot fix (an untrusted certificate, a pre-TLS-1.3 server, auth errors).
        """
        with deadline_scope(self._deadline_s) as deadline:
            cause = ""
            try:
                return self._http.request(method, path, params=params), "", False
            except QontoTimeoutError as exc:
                # An OAuth refresh in the auth flow ran into this request's deadline: retry like any deadline hit.
                # When the token endpoint's own deadline ran out instead, it has retried already: give up.
                if deadline is None or not deadline.hit:
                    raise
                cause = f" during the OAuth token call {exc.path}"
            except httpx.TransportError as exc:
                tls_problem = tls_failure(exc)
                if tls_problem:  # retrying cannot fix an untrusted certificate or a pre-TLS-1.3 server
                    raise QontoTransportError(f"Qonto request {method} {target}: {tls_problem}",
                                              path=path, attempts=attempt) from None
                if deadline is None or not deadline.hit:
                    return None, type(exc).__name__, False
            assert deadline is not None  # both branches above return or raise without one
            self.stats.add(deadline_hits=1)
            return None, f"deadline of {deadline.seconds:g} s passed{cause}", True

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
                               page.received, page.raw_ids)

        first, _ = self._fetch_page(params, 1, in_window)
        yield dedupe(first)
        last = first
        total_pages = first.total_pages
        if first.next_page is not None and total_pages and total_pages > 2 and self._page_concurrency > 1:
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
        body = self._get_json(path)
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
