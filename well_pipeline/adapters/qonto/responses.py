"""Pure helpers that read Qonto API responses: which statuses are retried, Retry-After, a 403's missing scope.

The error envelope itself (code, detail, trace id) is read by `errors.error_envelope`, shared with the OAuth host.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["RETRY_AFTER_CAP_S", "RETRY_STATUSES", "missing_scope", "parse_retry_after"]

RETRY_STATUSES = frozenset({500, 502, 503, 504})
RETRY_AFTER_CAP_S = 600.0  # Qonto's longest window is 10 min; anything longer is a server bug


def parse_retry_after(value: str | None) -> float | None:
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


def missing_scope(detail: str | None) -> str | None:
    """The scope named in a 403 detail (qontoctl keys off 'missing required oauth scope'; wording UNCONFIRMED)."""
    if not detail:
        return None
    match = re.search(r"\b([a-z_]+\.(?:read|write))\b", detail)
    return match.group(1) if match else None
