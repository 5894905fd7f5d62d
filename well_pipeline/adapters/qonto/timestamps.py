"""Time-filter helpers for the listing: UTC-aware checks, RFC 3339 `Z` formatting, whole-second rounding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def as_utc(moment: datetime, name: str) -> datetime:
    """`moment` in UTC; refuses a naive datetime (ambiguous) and anything else, naming the parameter `name`."""
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (a naive datetime is ambiguous)")
    return moment.astimezone(UTC)


def rfc3339_z(moment: datetime) -> str:
    """RFC 3339 in UTC with `Z` (no `+` to URL-encode, as Qonto's own sync guide does)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def floor_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def ceil_second(moment: datetime) -> datetime:
    return moment if moment.microsecond == 0 else moment.replace(microsecond=0) + timedelta(seconds=1)
