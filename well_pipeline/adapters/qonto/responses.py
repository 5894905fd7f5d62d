"""Pure helpers that read Qonto API responses: Retry-After, the errors envelope, a 403's missing scope."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from well_pipeline.adapters.qonto.errors import safe_excerpt
from well_pipeline.adapters.qonto.transport import TRACE_HEADER, is_json_content_type

RETRY_STATUSES = frozenset({500, 502, 503, 504})
RETRY_AFTER_CAP_S = 600.0  # Qonto's longest window is 10 min; anything longer is a server bug


def _parse_retry_after(value: str | None) -> float | None:
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


def _error_fields(response: httpx.Response) -> tuple[str | None, str | None, str | None]:
    """(code, detail, trace_id) from Qonto's errors envelope, tolerating any other body."""
    trace_id = response.headers.get(TRACE_HEADER)
    code = detail = None
    body: Any = None
    if is_json_content_type(response):
        try:
            body = json.loads(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            code = errors[0].get("code") if isinstance(errors[0].get("code"), str) else None
            detail = errors[0].get("detail") if isinstance(errors[0].get("detail"), str) else None
            source = errors[0].get("source")
            if isinstance(source, dict) and source.get("parameter") and detail:
                detail = f"{detail} (parameter {source['parameter']})"
        elif isinstance(body.get("error"), str):
            code = body["error"]
            described = body.get("error_description") or body.get("message")
            detail = str(described) if described is not None else None
        elif isinstance(body.get("message"), str):
            detail = body["message"]
        if isinstance(body.get("trace_id"), str):
            trace_id = body["trace_id"]
    if code is None and detail is None and response.content:
        detail = safe_excerpt(response.content)
    return code, detail, trace_id


def _missing_scope(detail: str | None) -> str | None:
    """The scope named in a 403 detail (qontoctl keys off 'missing required oauth scope'; wording UNCONFIRMED)."""
    if not detail:
        return None
    match = re.search(r"\b([a-z_]+\.(?:read|write))\b", detail)
    return match.group(1) if match else None
