"""Transport-neutral request and response values.

The routing code works on these instead of on `BaseHTTPRequestHandler`, so the HTTP plumbing (keep-alive,
TLS, disconnect faults) stays in server.py and the behaviour stays testable and readable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
HTML_CONTENT_TYPE = "text/html; charset=utf-8"
XML_CONTENT_TYPE = "application/xml"


@dataclass
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]  # case-insensitive mapping (email.message.Message from http.server)
    body: bytes
    client_ip: str

    @property
    def query(self) -> list[tuple[str, str]]:
        """Query parameters in order, repeated keys kept (filter[status][] is repeatable)."""
        return parse_qsl(self.query_string, keep_blank_values=True)

    def header(self, name: str) -> str | None:
        """Header value or None (the mapping is case-insensitive)."""
        return self.headers.get(name)

    def form(self) -> dict[str, str]:
        """Form-encoded body as a dict (last value wins, as OAuth servers do for single-valued params)."""
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))


@dataclass
class Response:
    """One response to send; `disconnect` closes the socket without sending anything."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    disconnect: bool = False
    # slow_body fault: send at this many bytes per second (the body, or everything with trickle_headers).
    trickle_bps: float | None = None
    trickle_headers: bool = False

    @classmethod
    def json(cls, status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Response:
        """JSON response with the charset Qonto declares."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return cls(status, body, JSON_CONTENT_TYPE, list(headers or []))

    @classmethod
    def empty(cls, status: int, headers: list[tuple[str, str]] | None = None) -> Response:
        """Body-less response (204, 302...)."""
        return cls(status, b"", None, list(headers or []))

    def header(self, name: str) -> str | None:
        """First header value with this name (case-insensitive) or None."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None
