"""Shared fixtures: a pinned clock (records and expiries are deterministic) and an HTTP client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from well_pipeline.sandbox.qonto import ManualClock

FIXED_NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    """Sandbox time frozen at FIXED_NOW; tests advance it instead of sleeping."""
    return ManualClock(FIXED_NOW.timestamp())


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """A keep-alive HTTP client with a short timeout (the sandbox is local)."""
    with httpx.Client(timeout=5.0) as http:
        yield http
