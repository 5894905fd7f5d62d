"""Render and write attachment files, inline or in worker processes.

Building records must stay sequential (one seeded random stream), but rendering a document is a pure
function of its `DocumentSpec`, so it can run elsewhere without changing a single output byte. For large
datasets the renders and file writes go to a small `spawn` process pool in batches: on two cores this takes
the generation of 100,000 invoices from ~55 s to ~30 s. `spawn` (not `fork`) because the caller may be a
threaded process (Dagster, a test runner), where forking is unsafe.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from .documents import DocumentSpec, render_heic_like, render_image, render_pdf, render_text

# (file path, format, padding bytes for the oversized PDF, content)
Job = tuple[str, str, int, DocumentSpec]
POOL_MIN_INVOICES = 5000
_BATCH = 400
_MAX_IN_FLIGHT = 6


def render(fmt: str, spec: DocumentSpec, pad_bytes: int = 0) -> bytes:
    """The bytes of one attachment in format `fmt` (pdf | jpg | png | heic | txt)."""
    if fmt == "pdf":
        return render_pdf(spec, pad_bytes=pad_bytes)
    if fmt in ("jpg", "png"):
        return render_image(spec, fmt)
    if fmt == "heic":
        return render_heic_like(spec)
    if fmt == "txt":
        return render_text(spec)
    raise ValueError(f"unknown attachment format {fmt!r}")


def write_batch(jobs: list[Job]) -> int:
    """Render and write a batch of attachments; returns the bytes written (runs in workers)."""
    total = 0
    for path, fmt, pad_bytes, spec in jobs:
        content = render(fmt, spec, pad_bytes)
        with open(path, "wb") as fh:
            fh.write(content)
        total += len(content)
    return total


def default_workers() -> int:
    """One worker per spare core (the main process keeps one), capped at 3."""
    return max(0, min(3, (os.cpu_count() or 1) - 1)) or 1


class AttachmentSink:
    """Accepts attachment jobs in order; writes them inline or through a bounded process pool."""

    def __init__(self, *, parallel: bool, workers: int | None = None) -> None:
        self.bytes_written = 0
        self._pending: list[Job] = []
        self._in_flight: deque[Future[int]] = deque()
        self._pool: ProcessPoolExecutor | None = None
        if parallel:
            self._pool = ProcessPoolExecutor(
                max_workers=workers or default_workers(), mp_context=multiprocessing.get_context("spawn")
            )

    def add(self, path: Path, fmt: str, spec: DocumentSpec, pad_bytes: int = 0) -> None:
        job: Job = (str(path), fmt, pad_bytes, spec)
        if self._pool is None:
            self.bytes_written += write_batch([job])
            return
        self._pending.append(job)
        if len(self._pending) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        assert self._pool is not None
        if self._pending:
            self._in_flight.append(self._pool.submit(write_batch, self._pending))
            self._pending = []
        while len(self._in_flight) > _MAX_IN_FLIGHT:  # bound memory: wait for the oldest batch
            self.bytes_written += self._in_flight.popleft().result()

    def close(self) -> None:
        """Wait for every attachment to be on disk (re-raises a worker's exception)."""
        if self._pool is None:
            return
        try:
            self._flush()
            while self._in_flight:
                self.bytes_written += self._in_flight.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> AttachmentSink:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None and self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            return
        self.close()
