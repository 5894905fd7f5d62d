"""The request core of the Qonto API: one pooled httpx client, the rate limit, retries and error mapping.

Why a part of its own: the listing (client.py) and the attachment metadata calls (attachments.py) both need the
same guarded request: a slot from the shared `RateLimiter` first, an overall deadline per attempt (deadline.py),
retries with jittered backoff on 429, 5xx, timeouts and dropped connections, and one mapping from error answers
to the exception hierarchy (errors.py). `QontoClient` builds one `ApiSession` and hands it to both.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from well_pipeline.adapters.qonto.config import QontoClientConfig
from well_pipeline.adapters.qonto.deadline import deadline_scope, enforce_deadlines
from well_pipeline.adapters.qonto.errors import (
    TRACE_HEADER,
    QontoAPIError,
    QontoAuthError,
    QontoNotFoundError,
    QontoProtocolError,
    QontoRateLimited,
    QontoScopeError,
    QontoTimeoutError,
    QontoTransportError,
    error_envelope,
    safe_excerpt,
)
from well_pipeline.adapters.qonto.rate_limiter import RateLimiter, WaitReporter
from well_pipeline.adapters.qonto.responses import RETRY_STATUSES, missing_scope, parse_retry_after
from well_pipeline.adapters.qonto.transport import (
    STAGING_HEADER,
    build_ssl_context,
    is_html,
    is_json_content_type,
    tls_failure,
    user_agent,
)
from well_pipeline.adapters.qonto.values import ClientStats

__all__ = ["ApiSession", "backoff_delay"]

logger = logging.getLogger("well.qonto")


def backoff_delay(attempt: int, config: QontoClientConfig) -> float:
    """Exponential backoff with 'equal jitter' before retry `attempt` (1-based): half fixed, half random, capped."""
    ceiling = min(config.backoff_max_s, config.backoff_base_s * (2 ** (attempt - 1)))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class ApiSession:
    """Rate-limited, retried, deadline-bound requests to the Qonto API. Thread-safe; `close()` when done.

    `stats` is shared with the rest of the client; `server_clock_offset_s` is Qonto's clock minus ours, from the
    first response's `Date` header (1-second resolution), None until known.
    """

    def __init__(self, config: QontoClientConfig, auth: httpx.Auth, *, limiter: RateLimiter, stats: ClientStats,
                 transport: httpx.BaseTransport | None, sleep: Callable[[float], None]) -> None:
        self.config = config
        self.limiter = limiter
        self.stats = stats
        self.waits = WaitReporter(clock=limiter.clock)  # long limiter waits: logged via `waits.report`, timed
        self.server_clock_offset_s: float | None = None
        self._sleep = sleep
        pool = config.download_concurrency + config.page_concurrency + 2
        headers = {"User-Agent": user_agent(), "Accept": "application/json"}
        if config.staging_token is not None:
            headers[STAGING_HEADER] = config.staging_token.reveal()
        self._http = httpx.Client(
            base_url=config.api_url,
            auth=auth,
            headers=headers,
            timeout=httpx.Timeout(config.timeout_s),
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
            verify=build_ssl_context(config.api_url, config.verify),  # QontoConfigError: http to a remote host
            transport=transport,
            follow_redirects=False,
        )
        enforce_deadlines(self._http)

    def close(self) -> None:
        self._http.close()

    # -- sending ------------------------------------------------------------------------------------------------
    def send(self, method: str, path: str, params: list[tuple[str, str]] | None = None) -> httpx.Response:
        """Send one API request with rate limiting and retries; returns the final non-retryable response."""
        target = path if not params else f"{path} page={dict(params).get('page', '1')}"
        attempts = self.config.max_retries + 1
        deadline_s = self.config.request_deadline_s
        for attempt in range(1, attempts + 1):
            self.limiter.acquire(self.waits.on_wait)  # waiting for a slot is not network time: outside the deadline
            self.stats.add(requests=1, limiter_wait_s=self.waits.done())
            response, problem, deadline_hit = self._attempt(method, path, params, target, attempt)
            if response is None:  # timeouts, refused/dropped connections, protocol breaks, deadline hits
                if attempt >= attempts:
                    if deadline_hit:
                        raise QontoTimeoutError(
                            f"Qonto request {method} {target} did not complete within its {deadline_s:g} s "
                            f"deadline (setting qonto_request_deadline_s); gave up after {attempts} attempts "
                            f"(last: {problem}): Qonto or the network answers too slowly",
                            path=path, attempts=attempts, deadline_s=deadline_s or 0.0,
                        ) from None
                    raise QontoTransportError(
                        f"Qonto request {method} {target} failed after {attempts} attempts: {problem}",
                        path=path,
                        attempts=attempts,
                    ) from None
                delay = backoff_delay(attempt, self.config)
                self._log_retry(attempt, attempts, method, target, problem, None, delay)
                self.stats.add(retries=1)
                self._sleep(delay)
                continue
            self._note_server_clock(response)
            status = response.status_code
            if status == 429:
                self.stats.add(rate_limited=1)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if attempt >= attempts:
                    envelope = error_envelope(response)
                    raise QontoRateLimited(status, envelope.code, envelope.detail, envelope.trace_id, path=path,
                                           retry_after_s=retry_after)
                delay = retry_after if retry_after else backoff_delay(attempt, self.config)
                self._log_retry(attempt, attempts, method, target, "429", response.headers.get(TRACE_HEADER), delay)
                self.stats.add(retries=1)
                self.limiter.penalize(delay)  # everyone waits, the next acquire() sleeps it off
                continue
            if status in RETRY_STATUSES and attempt < attempts:
                delay = backoff_delay(attempt, self.config)
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
        with deadline_scope(self.config.request_deadline_s) as deadline:
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

    @staticmethod
    def _log_retry(attempt: int, attempts: int, method: str, target: str, what: str,
                   trace_id: str | None, delay: float) -> None:
        logger.warning(
            "Qonto %s %s failed (%s, trace_id=%s); retry %d/%d in %.2f s",
            method, target, what, trace_id or "none", attempt, attempts - 1, delay,
        )

    # -- answers --------------------------------------------------------------------------------------------------
    @staticmethod
    def raise_for_error(response: httpx.Response, path: str) -> None:
        """Raise the exception that says what an error answer means (auth, scope, not found, rate limit...)."""
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
        envelope = error_envelope(response)
        code, detail, trace_id = envelope.code, envelope.detail, envelope.trace_id
        if status == 401:
            raise QontoAuthError(status, code, detail, trace_id, path=path)
        if status == 403:
            raise QontoScopeError(status, code, detail, trace_id, path=path, missing_scope=missing_scope(detail))
        if status == 404:
            raise QontoNotFoundError(status, code, detail, trace_id, path=path)
        if status == 429:
            raise QontoRateLimited(status, code, detail, trace_id, path=path)
        raise QontoAPIError(status, code, detail, trace_id, path=path)

    def get_json(self, path: str, params: list[tuple[str, str]] | None = None, *, what: str = "") -> Any:
        """GET `path` and return its JSON body; any error answer, HTML page or broken JSON raises."""
        response = self.send("GET", path, params)
        if not 200 <= response.status_code < 300:
            self.raise_for_error(response, path)
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
