"""Attachment downloads for `QontoClient`: metadata, pre-signed URL fetches on a thread pool, expired-URL refresh.

`AttachmentsMixin` holds the attachment methods; `QontoClient` (client.py) inherits them and provides the
request core they use (`_get_json`, `_backoff`), the auth-less download client and the settings.

Each download attempt (headers and body) runs under the client's request deadline; an attachment whose every
attempt hits it comes back as an `AttachmentFailure` with `deadline_hit=True`, so the caller can stop the batch
(the file host is answering too slowly) instead of waiting deadline x attempts for every remaining file.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx

from well_pipeline.adapters.qonto.deadline import Deadline, deadline_scope
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
from well_pipeline.adapters.qonto.transport import is_loopback_host, safe_url, tls_failure
from well_pipeline.adapters.qonto.values import AttachmentDownload, AttachmentFailure, AttachmentInfo, ClientStats

logger = logging.getLogger("well.qonto")


class _UrlExpired(Exception):
    """The pre-signed URL was refused (403): fetch fresh metadata once."""


class AttachmentsMixin:
    """The attachment half of `QontoClient`; relies on the attributes and request core `QontoClient` provides."""

    # Provided by QontoClient.__init__ / QontoClient.
    stats: ClientStats
    _downloads: httpx.Client
    _verify: Any
    _max_retries: int
    _deadline_s: float | None
    _download_concurrency: int
    _sleep: Callable[[float], None]

    if TYPE_CHECKING:
        def _get_json(self, path: str, params: list[tuple[str, str]] | None = None, *, what: str = "") -> Any: ...

        def _backoff(self, attempt: int) -> float: ...

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
            deadline_hit = False
            deadline: Deadline | None = None
            try:
                with deadline_scope(self._deadline_s) as deadline, \
                        self._downloads.stream("GET", info.url) as response:
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
                if deadline is not None and deadline.hit:
                    deadline_hit = True
                    problem = f"deadline of {deadline.seconds:g} s passed"
                    self.stats.add(deadline_hits=1)
            if attempt >= attempts:
                if deadline_hit:
                    return AttachmentFailure(
                        info.id, f"download of {where} did not complete within its {self._deadline_s:g} s deadline "
                        f"(setting qonto_request_deadline_s); gave up after {attempts} attempts", deadline_hit=True)
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
