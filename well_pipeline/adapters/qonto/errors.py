"""Exceptions raised by the Qonto client.

Why a hierarchy: the Dagster layer reacts differently to each family — a `QontoAuthError` needs a human to
reconnect Qonto, a `QontoScopeError` needs a different consent, a `QontoProtocolError` usually means a
misconfigured host or staging token, and a `QontoAPIError` carries Qonto's `trace_id` for their support.

Messages never contain tokens, secrets or Authorization headers: they are built only from the HTTP status,
Qonto's error `code`/`detail`, the trace id and the request *path*; any excerpt of a response body goes
through `redact()` first. `error_envelope` reads those fields from any error answer, the API's and the OAuth
host's alike (one reader, so both report the same way).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

__all__ = [
    "TRACE_HEADER",
    "ErrorEnvelope",
    "QontoAPIError",
    "QontoAuthError",
    "QontoConfigError",
    "QontoError",
    "QontoNotFoundError",
    "QontoProtocolError",
    "QontoRateLimited",
    "QontoScopeError",
    "QontoTimeoutError",
    "QontoTransportError",
    "error_envelope",
    "redact",
    "safe_excerpt",
]

# Qonto's gateway names each request with this header; Qonto support asks for it.
TRACE_HEADER = "X-Tyk-Trace-Id"

# Token-looking substrings that must never reach a log or an exception: Ory Hydra tokens (Qonto's OAuth
# server), bearer values, JSON/form fields named like secrets, and pre-signed URL signatures.
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"ory_(?:at|rt|ac|ht)_[A-Za-z0-9_\-.~+/=]+"), "ory_***"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9_\-.~+/=]+"), r"\1 ***"),
    (
        re.compile(
            r"(?i)(\"?(?:access_token|refresh_token|id_token|client_secret|token|secret|password"
            r"|authorization|x-qonto-staging-token)\"?\s*[:=]\s*\"?)[^\"&\s,}]+"
        ),
        r"\1***",
    ),
    (re.compile(r"(?i)((?:x-amz-)?(?:signature|credential|security-token|sig|token|key)=)[^&\s\"]+"), r"\1***"),
)


def redact(text: str) -> str:
    """Mask anything that looks like a token or credential in `text` (defence in depth for excerpts)."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def safe_excerpt(body: bytes | str, limit: int = 160) -> str:
    """A short, single-line, redacted excerpt of a response body for error messages."""
    if isinstance(body, bytes):
        body = body[: limit * 4].decode("utf-8", "replace")
    text = " ".join(body.split())
    text = redact(text)
    return text if len(text) <= limit else text[:limit] + "…"


@dataclass(frozen=True)
class ErrorEnvelope:
    """What an error answer says: Qonto's error `code`, a human `detail` and the `trace_id` for Qonto support."""

    code: str | None
    detail: str | None
    trace_id: str | None


def error_envelope(response: httpx.Response) -> ErrorEnvelope:
    """Read an error answer of the API or the OAuth host, whatever its shape.

    Understood bodies: the API's `{"errors": [{"code", "detail", "source": {"parameter"}}]}`, the OAuth host's
    `{"error", "error_description" | "error_hint" | "message"}` (its format is UNCONFIRMED) and a bare
    `{"message"}`; a top-level `trace_id` wins over the gateway's header. A body that is not JSON (or is JSON
    under another content type) is read as JSON when it parses, else it becomes the detail as a short redacted
    excerpt, so the error still says something useful.
    """
    trace_id = response.headers.get(TRACE_HEADER)
    code = detail = None
    body: Any
    try:
        body = json.loads(response.content) if response.content else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            code = first.get("code") if isinstance(first.get("code"), str) else None
            detail = first.get("detail") if isinstance(first.get("detail"), str) else None
            source = first.get("source")
            if isinstance(source, dict) and source.get("parameter") and detail:
                detail = f"{detail} (parameter {source['parameter']})"
        elif isinstance(body.get("error"), str):
            code = body["error"]
            described = body.get("error_description") or body.get("error_hint") or body.get("message")
            detail = str(described) if described is not None else None
        elif isinstance(body.get("message"), str):
            detail = body["message"]
        if isinstance(body.get("trace_id"), str):
            trace_id = body["trace_id"]
    if code is None and detail is None and response.content:
        detail = safe_excerpt(response.content)
    return ErrorEnvelope(code, detail, trace_id)


class QontoError(Exception):
    """Base class of everything the Qonto client raises on purpose."""


class QontoConfigError(QontoError, ValueError):
    """The client was configured in a way that would be unsafe or cannot work (e.g. plain http to a remote)."""


class QontoTransportError(QontoError):
    """Timeouts, refused or dropped connections that persisted through every retry."""

    def __init__(self, message: str, *, path: str | None = None, attempts: int = 0) -> None:
        super().__init__(message)
        self.path = path
        self.attempts = attempts


class QontoTimeoutError(QontoTransportError):
    """A call did not finish within its overall deadline (setting `qonto_request_deadline_s`), through every retry.

    Separate from other transport errors because the fix differs: Qonto (or the network) is answering, only too
    slowly; `deadline_s` says which budget ran out. The message names the request path, never a query string.
    """

    def __init__(self, message: str, *, path: str | None = None, attempts: int = 0, deadline_s: float = 0.0) -> None:
        super().__init__(message, path=path, attempts=attempts)
        self.deadline_s = deadline_s


class QontoAPIError(QontoError):
    """Qonto answered with an error status; carries its error envelope fields and trace id."""

    def __init__(
        self,
        status: int,
        code: str | None,
        detail: str | None,
        trace_id: str | None,
        *,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.detail = redact(detail) if detail else detail
        self.trace_id = trace_id
        self.path = path
        self.hint = hint
        super().__init__(self._message())

    def _message(self) -> str:
        parts = [f"Qonto API error {self.status}" if self.status else "Qonto error"]
        if self.code:
            parts.append(f" {self.code}")
        if self.detail:
            parts.append(f": {self.detail}")
        if self.path:
            parts.append(f" [{self.path}]")
        parts.append(f" (trace_id={self.trace_id or 'none'})")
        if self.hint:
            parts.append(f". {self.hint}")
        return "".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, trace_id={self.trace_id!r})"


class QontoAuthError(QontoAPIError):
    """The credentials are refused (401, `invalid_grant`, revoked consent): a human must reconnect Qonto."""

    DEFAULT_HINT = ("Reconnect Qonto: run `well qonto connect` (in API-key mode, check the setting qonto_api_login "
                    "and the secret qonto_api_secret)")

    def __init__(
        self,
        status: int,
        code: str | None,
        detail: str | None,
        trace_id: str | None = None,
        *,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(status, code, detail, trace_id, path=path, hint=hint or self.DEFAULT_HINT)


class QontoScopeError(QontoAPIError):
    """403: the consent lacks a scope (named in `missing_scope` when Qonto's detail says which)."""

    def __init__(
        self,
        status: int,
        code: str | None,
        detail: str | None,
        trace_id: str | None = None,
        *,
        path: str | None = None,
        missing_scope: str | None = None,
    ) -> None:
        self.missing_scope = missing_scope
        hint = (
            f"The Qonto consent is missing the scope {missing_scope!r}; reconnect Qonto granting it"
            if missing_scope
            else "The Qonto consent or API key is not allowed to do this (missing scope or permission)"
        )
        super().__init__(status, code, detail, trace_id, path=path, hint=hint)


class QontoNotFoundError(QontoAPIError):
    """404: the invoice or attachment does not exist (or is outside the exposed history)."""


class QontoRateLimited(QontoAPIError):
    """429 persisted through every retry; `retry_after_s` is Qonto's last hint (None when absent)."""

    def __init__(
        self,
        status: int,
        code: str | None,
        detail: str | None,
        trace_id: str | None = None,
        *,
        path: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(
            status, code, detail, trace_id, path=path,
            hint="Qonto's rate limit (1,000 requests / 10 s and 10,000 / 10 min per IP) kept refusing requests",
        )


class QontoProtocolError(QontoError):
    """Qonto answered something that is not the documented JSON (HTML page, broken JSON, unexpected shape)."""

    def __init__(self, message: str, *, path: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.status = status

    @classmethod
    def html(cls, *, path: str, status: int) -> QontoProtocolError:
        """The sandbox trap: an HTML page (often status 200) where JSON was expected."""
        return cls(
            f"Qonto answered HTML instead of JSON (status {status}). In Qonto's sandbox this means the "
            f"X-Qonto-Staging-Token header is missing or wrong; in production check the API/OAuth URL "
            f"(request: {path}).",
            path=path,
            status=status,
        )
