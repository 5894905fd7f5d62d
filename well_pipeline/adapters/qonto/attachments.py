"""Attachment downloads for `QontoClient`: metadata, pre-signed URL fetches on a thread pool, expired-URL refresh.

`AttachmentDownloader` is the attachment half of the client: it asks the API for metadata through the client's
`ApiSession` (api.py) and downloads pre-signed URLs with a client of its own. Pre-signed URLs are credentials
themselves: they must not receive our bearer token or staging token, and are not counted against the API limit;
the same TLS policy applies (TLS 1.3 minimum).

Each download attempt (headers and body) runs under the client's request deadline; an attachment whose every
attempt hits it comes back as an `AttachmentFailure` with `deadline_hit=True`, so the caller can stop the batch
(the file host is answering too slowly) instead of waiting deadline x attempts for every remaining file.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from urllib.parse import quote, urlsplit

import httpx

from well_pipeline.adapters.qonto.api import ApiSession, backoff_delay
from well_pipeline.adapters.qonto.config import QontoClientConfig
from well_pipeline.adapters.qonto.deadline import Deadline, deadline_scope, enforce_deadlines
from well_pipeline.adapters.qonto.errors import (
    QontoAPIError,
    QontoAuthError,
    QontoError,
    QontoNotFoundError,
    QontoProtocolError,
    QontoScopeError,
    QontoTimeoutError,
)
from well_pipeline.adapters.qonto.records import RecordParseError, parse_datetime_utc
from well_pipeline.adapters.qonto.responses import RETRY_STATUSES
from well_pipeline.adapters.qonto.transport import (
    build_ssl_context,
    is_loopback_host,
    safe_url,
    tls_failure,
    user_agent,
)
from well_pipeline.adapters.qonto.values import AttachmentDownload, AttachmentFailure, AttachmentInfo

__all__ = ["AttachmentDownloader"]

logger = logging.getLogger("well.qonto")


class _UrlExpired(Exception):
    """The pre-signed URL was refused (403): fetch fresh metadata once."""


class AttachmentDownloader:
    """Attachment metadata (through `api`) and downloads of their pre-signed URLs. Thread-safe; `close()` when done.

    `transport` replaces the network (tests), as for the API.
    """

    def __init__(self, config: QontoClientConfig, api: ApiSession, *, transport: httpx.BaseTransport | None,
                 sleep: Callable[[float], None]) -> None:
        self.config = config
        self._api = api
        self._stats = api.stats
        self._sleep = sleep
        # verify=False (loopback only) yields an unverified context; _download_allowed() then refuses any
        # non-loopback download host.
        ssl_context = build_ssl_context("https://localhost" if config.verify is False else "https://downloads",
                                        config.verify)
        pool = config.download_concurrency + 2
        self._http = httpx.Client(
            headers={"User-Agent": user_agent()},
            timeout=httpx.Timeout(config.timeout_s),
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
            verify=ssl_context,
            transport=transport,
            follow_redirects=False,
        )
        enforce_deadlines(self._http)

    def close(self) -> None:
        self._http.close()

    def get_attachment(self, attachment_id: str) -> AttachmentInfo:
        """`GET /v2/attachments/{id}`: metadata and a fresh pre-signed URL (valid ~30 min)."""
        path = f"/v2/attachments/{quote(attachment_id, safe='')}"
        body = self._api.get_json(path)
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
            if self.config.verify is False and not is_loopback_host(host):
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
        attempts = self.config.max_retries + 1
        deadline_s = self.config.request_deadline_s
        where = safe_url(info.url, keep_query=False)
        for attempt in range(1, attempts + 1):
            problem: str
            deadline_hit = False
            deadline: Deadline | None = None
            try:
                with deadline_scope(deadline_s) as deadline, self._http.stream("GET", info.url) as response:
                    status = response.status_code
                    if status == 200:
                        declared = response.headers.get("content-length")
                        if max_bytes is not None and declared and declared.isdigit() and int(declared) > max_bytes:
                            return AttachmentFailure(
                                info.id, f"attachment is {int(declared)} bytes, above the {max_bytes}-byte limit "
                                "(setting attachment_max_mb)")
                        digest = hashlib.sha256()
                        chunks: list[bytes] = []
                        size = 0
                        for chunk in response.iter_bytes(65536):
                            size += len(chunk)
                            if max_bytes is not None and size > max_bytes:
                                return AttachmentFailure(info.id, f"attachment exceeds the {max_bytes}-byte limit "
                                                         "(setting attachment_max_mb)")
                            digest.update(chunk)
                            chunks.append(chunk)
                        if info.file_size is not None and info.file_size != size:
                            logger.warning("Qonto attachment %s: metadata says %d bytes, downloaded %d",
                                           info.id, info.file_size, size)
                        self._stats.add(downloads=1, bytes=size)
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
                if deadline is not None and deadline.hit:
                    deadline_hit = True
                    problem = f"deadline of {deadline.seconds:g} s passed"
                    self._stats.add(deadline_hits=1)
            if attempt >= attempts:
                if deadline_hit:
                    return AttachmentFailure(
                        info.id, f"download of {where} did not complete within its {deadline_s:g} s deadline "
                        f"(setting qonto_request_deadline_s); gave up after {attempts} attempts", deadline_hit=True)
                return AttachmentFailure(info.id, f"download failed after {attempts} attempts ({problem})")
            delay = backoff_delay(attempt, self.config)
            logger.warning("Qonto attachment download %s failed (%s); retry %d/%d in %.2f s",
                           where, problem, attempt, attempts - 1, delay)
            self._stats.add(download_retries=1)
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
            except QontoTimeoutError as exc:
                return AttachmentFailure(attachment_id, str(exc), deadline_hit=True)
            except QontoNotFoundError as exc:
                return AttachmentFailure(attachment_id, f"attachment not found (404, trace_id={exc.trace_id})", 404)
            except QontoAPIError as exc:
                return AttachmentFailure(attachment_id, str(exc), exc.status)
            except QontoError as exc:
                return AttachmentFailure(attachment_id, str(exc))
            if max_bytes is not None and info.file_size is not None and info.file_size > max_bytes:
                return AttachmentFailure(
                    attachment_id, f"attachment is {info.file_size} bytes, above the {max_bytes}-byte limit "
                    "(setting attachment_max_mb)")
            try:
                return self._download_url(info, max_bytes)
            except _UrlExpired:
                if refreshed:
                    return AttachmentFailure(
                        attachment_id, "download URL refused (403) even after fetching a fresh one", 403)
                refreshed = True
                self._stats.add(url_refreshes=1)
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
        concurrency = self.config.download_concurrency
        pool = ThreadPoolExecutor(concurrency, thread_name_prefix="qonto-dl")
        exhausted = False
        try:
            while True:
                while not exhausted and len(in_flight) < concurrency * 2:
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
