"""Timestamp arithmetic and the two RFC 3339 spellings Qonto's documentation shows.

Everything internal is an integer count of milliseconds since the Unix epoch (UTC): it sorts, adds and
compares cheaply for 100,000 records and never carries a timezone ambiguity. Formatting happens last.

Europe/Paris is computed with the EU summer-time rule (last Sunday of March 01:00 UTC to last Sunday of
October 01:00 UTC) instead of zoneinfo, so the output cannot change with the host's tzdata version: the
dataset must be byte-identical for the same seed on any machine. The rule has been in force since 1996.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

MS_PER_S = 1000
MS_PER_MIN = 60 * MS_PER_S
MS_PER_HOUR = 60 * MS_PER_MIN
MS_PER_DAY = 24 * MS_PER_HOUR
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(moment: datetime) -> int:
    """Aware datetime -> epoch milliseconds (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return delta.days * MS_PER_DAY + delta.seconds * MS_PER_S + delta.microseconds // 1000


def from_ms(ms: int) -> datetime:
    """Epoch milliseconds -> aware UTC datetime."""
    return _EPOCH + timedelta(milliseconds=ms)


def _last_sunday(year: int, month: int) -> int:
    """Day of month of the last Sunday of `month` (month is 3 or 10, both 31 days long)."""
    last = date(year, month, 31)
    return 31 - (last.weekday() + 1) % 7


@lru_cache(maxsize=256)
def _dst_bounds_ms(year: int) -> tuple[int, int]:
    start = datetime(year, 3, _last_sunday(year, 3), 1, tzinfo=UTC)
    end = datetime(year, 10, _last_sunday(year, 10), 1, tzinfo=UTC)
    return to_ms(start), to_ms(end)


def paris_offset_hours(ms: int) -> int:
    """UTC offset of Europe/Paris at the instant `ms`: 2 in summer time, else 1."""
    year = from_ms(ms).year
    start, end = _dst_bounds_ms(year)
    return 2 if start <= ms < end else 1


def paris_date(ms: int) -> date:
    """The calendar date in Paris at the instant `ms` (what a French user sees as "today")."""
    return from_ms(ms + paris_offset_hours(ms) * MS_PER_HOUR).date()


def format_paris(ms: int) -> str:
    """`2024-03-04T17:58:30+01:00`: Paris wall time with its offset, second precision (Qonto examples)."""
    hours = paris_offset_hours(ms)
    local = from_ms(ms + hours * MS_PER_HOUR)
    return f"{local:%Y-%m-%dT%H:%M:%S}+0{hours}:00"


def format_z(ms: int) -> str:
    """`2024-03-04T16:58:30.123Z`: UTC with milliseconds (the other form in Qonto examples)."""
    moment = from_ms(ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"
