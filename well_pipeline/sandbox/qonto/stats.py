"""Request counters, so tests can assert what a client actually did (retries, pages, downloads)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Stats:
    """Thread-safe counters exposed by GET /_sandbox/stats and QontoSandbox.stats()."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Zero everything."""
        with self._lock:
            self._requests = 0
            self._api_requests = 0
            self._rate_limited = 0
            self._downloads = 0
            self._faults_injected = 0
            self._by_path: Counter[str] = Counter()
            self._by_status: Counter[int] = Counter()
            self._in_flight = 0
            self._max_in_flight = 0
            self._slow_bodies_cut = 0
            self._slow_bodies_finished = 0

    def begin(self, route: str, *, is_api: bool) -> None:
        """A request (other than a control request) arrived."""
        with self._lock:
            self._requests += 1
            if is_api:
                self._api_requests += 1
            self._by_path[route] += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def end(self, status: int | None, *, rate_limited: bool, download: bool, fault: bool) -> None:
        """The request was answered with `status` (None when the socket was dropped)."""
        with self._lock:
            self._in_flight -= 1
            if status is not None:
                self._by_status[status] += 1
            if rate_limited:
                self._rate_limited += 1
            if download:
                self._downloads += 1
            if fault:
                self._faults_injected += 1

    def slow_body_ended(self, *, cut: bool) -> None:
        """A slow_body response was sent to the end, or `cut` because the client hung up (its deadline) first."""
        with self._lock:
            if cut:
                self._slow_bodies_cut += 1
            else:
                self._slow_bodies_finished += 1

    def snapshot(self) -> dict[str, Any]:
        """The counters as plain JSON values."""
        with self._lock:
            return {
                "requests": self._requests,
                "api_requests": self._api_requests,
                "rate_limited": self._rate_limited,
                "downloads": self._downloads,
                "faults_injected": self._faults_injected,
                "max_in_flight": self._max_in_flight,
                "slow_bodies_cut": self._slow_bodies_cut,
                "slow_bodies_finished": self._slow_bodies_finished,
                "by_path": dict(self._by_path),
                "by_status": {str(code): count for code, count in sorted(self._by_status.items())},
            }
