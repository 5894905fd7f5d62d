"""Qonto's Business API error envelope.

Every /v2 error is `{"errors": [{"code", "detail", "source"?}], "trace_id"}` with the same trace id in the
`X-Tyk-Trace-Id` header (Qonto's gateway is Tyk). Error *codes and wording* other than `not_in_list` are
UNCONFIRMED: clients must key off the HTTP status and `source.parameter`, never the prose.
"""

from __future__ import annotations

import uuid

from .messages import Response

TRACE_HEADER = "X-Tyk-Trace-Id"


def new_trace_id() -> str:
    """A fresh trace id (uuid hex, like Tyk's)."""
    return uuid.uuid4().hex


def error_response(
    status: int,
    code: str,
    detail: str,
    *,
    parameter: str | None = None,
    pointer: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    trace_id: str | None = None,
) -> Response:
    """The errors envelope with `trace_id` mirrored in the X-Tyk-Trace-Id header."""
    trace = trace_id or new_trace_id()
    error: dict[str, object] = {"code": code, "detail": detail}
    source: dict[str, str] = {}
    if parameter is not None:
        source["parameter"] = parameter
    if pointer is not None:
        source["pointer"] = pointer
    if source:
        error["source"] = source
    all_headers = [(TRACE_HEADER, trace), *(headers or [])]
    return Response.json(status, {"errors": [error], "trace_id": trace}, all_headers)


class ApiError(Exception):
    """Raised inside /v2 handlers; turned into the errors envelope by the router."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        parameter: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.parameter = parameter
        self.headers = headers or []

    def to_response(self, trace_id: str | None = None) -> Response:
        """Render as the Qonto errors envelope (reusing the request's trace id when given)."""
        return error_response(
            self.status,
            self.code,
            self.detail,
            parameter=self.parameter,
            headers=self.headers,
            trace_id=trace_id,
        )


def unauthorized(detail: str = "Invalid or missing credentials") -> ApiError:
    """401 as returned for a missing/invalid/expired credential."""
    return ApiError(401, "unauthorized", detail)


def forbidden(detail: str) -> ApiError:
    """403 (qontoctl detects scope problems by 'missing required oauth scope' in the detail)."""
    return ApiError(403, "forbidden", detail)


def not_found(detail: str, parameter: str | None = None) -> ApiError:
    """404 with `source.parameter` like Qonto's examples."""
    return ApiError(404, "not_found", detail, parameter=parameter)


def unprocessable(code: str, detail: str, parameter: str) -> ApiError:
    """422 validation error pointing at the offending query parameter."""
    return ApiError(422, code, detail, parameter=parameter)
