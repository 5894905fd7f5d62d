"""Routing and the cross-cutting request pipeline, independent of the socket layer.

Order for /oauth2 and /v2 (and, where it makes sense, /_files):
latency -> staging-token trap -> per-IP rate limit -> injected fault -> authentication -> handler.
Downloads skip the trap and the rate limit (in reality they hit another host); /_sandbox skips all of it.
Before all of it, the organisation the request claims is noted (organizations.identify) to count it in that
organisation's stats, to pick its rate-limit bucket when buckets are per organisation, and to match faults
scoped to it; authentication proper still decides what the request may see.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .auth import authenticate
from .context import Call, SandboxContext
from .errors import ApiError, error_response, new_trace_id
from .handlers import api, control, files, oauth
from .messages import HTML_CONTENT_TYPE, JSON_CONTENT_TYPE, Request, Response
from .organizations import Organization
from .pages import FAULT_HTML_PAGE, STAGING_LOGIN_PAGE

logger = logging.getLogger("well.sandbox.qonto")

_ID = r"(?P<{name}>[^/]+)"
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    422: "unprocessable_entity",
    429: "too_many_requests",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


@dataclass(frozen=True)
class Route:
    """One endpoint: method, path pattern, stats template and handler."""

    method: str
    pattern: re.Pattern[str]
    template: str
    handler: Callable[..., Response]


def _route(method: str, template: str, handler: Callable[..., Response]) -> Route:
    regex = re.escape(template)
    for name in re.findall(r"\\\{(\w+)\\\}", regex):
        regex = regex.replace(rf"\{{{name}\}}", _ID.format(name=name))
    return Route(method, re.compile(f"^{regex}$"), template, handler)


API_ROUTES = [
    _route("GET", "/v2/supplier_invoices", api.list_supplier_invoices),
    _route("GET", "/v2/supplier_invoices/{invoice_id}", api.get_supplier_invoice),
    _route("GET", "/v2/attachments/{attachment_id}", api.get_attachment),
    _route("GET", "/v2/organization", api.get_organization),
    _route("GET", "/v2/bank_accounts", api.list_bank_accounts),
    _route("GET", "/v2/transactions", api.list_transactions),
    _route("DELETE", "/v2/oauth2/consents", api.revoke_consent),
]
OAUTH_ROUTES = [
    _route("GET", "/oauth2/auth", oauth.authorize),
    _route("POST", "/oauth2/token", oauth.token),
    _route("POST", "/oauth2/revoke", oauth.revoke),
]
FILE_ROUTES = [_route("GET", "/_files/{attachment_id}", files.download)]
CONTROL_ROUTES = [
    _route("POST", "/_sandbox/faults", control.add_fault),
    _route("GET", "/_sandbox/faults", control.list_faults),
    _route("DELETE", "/_sandbox/faults", control.clear_faults),
    _route("POST", "/_sandbox/tokens/expire", control.expire_tokens),
    _route("GET", "/_sandbox/stats", control.get_stats),
    _route("DELETE", "/_sandbox/stats", control.reset_stats),
    _route("POST", "/_sandbox/reload", control.reload_dataset),
]


def _area(path: str) -> str:
    if path.startswith("/v2/"):
        return "api"
    if path.startswith("/oauth2/"):
        return "oauth"
    if path.startswith("/_files/"):
        return "files"
    if path == "/_sandbox" or path.startswith("/_sandbox/"):
        return "control"
    return "other"


def _match(routes: list[Route], method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """(route, path params, path_known); path_known is True when only the method did not match."""
    path_known = False
    for route in routes:
        found = route.pattern.match(path)
        if found is None:
            continue
        path_known = True
        if route.method == method:
            return route, {name: unquote(value) for name, value in found.groupdict().items()}, True
    return None, {}, path_known


def _is_loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip in ("::1", "::ffff:127.0.0.1") or ip.startswith("::ffff:127.")


class SandboxApp:
    """Turns a Request into a Response, applying the sandbox's cross-cutting behaviour."""

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx

    def handle(self, request: Request) -> Response:
        """Entry point called by the HTTP layer for every request."""
        started = time.perf_counter()
        method = "GET" if request.method == "HEAD" else request.method
        area = _area(request.path)
        if area == "control":
            control_response = self._control(request, method)
            self._log(request, control_response, started)
            return control_response
        routes = {"api": API_ROUTES, "oauth": OAUTH_ROUTES, "files": FILE_ROUTES}.get(area, [])
        route, params, path_known = _match(routes, method, request.path)
        template = route.template if route else ("(wrong method)" if path_known else "(unmatched)")
        org = self.ctx.orgs.identify(request, area)
        counters = [self.ctx.stats] if org is None else [self.ctx.stats, org.stats]
        for stats in counters:
            stats.begin(template, is_api=area == "api")
        outcome: dict[str, Any] = {"rate_limited": False, "fault": False}
        response: Response | None = None
        try:
            response = self._pipeline(request, method, area, route, params, path_known, outcome, org)
            return response
        finally:
            status = None if response is None or response.disconnect else response.status
            for stats in counters:
                stats.end(
                    status,
                    rate_limited=outcome["rate_limited"],
                    download=area == "files" and status == 200,
                    fault=outcome["fault"],
                )
            if response is not None:
                self._log(request, response, started)

    # ----- pipeline --------------------------------------------------------------------------------
    def _pipeline(
        self,
        request: Request,
        method: str,
        area: str,
        route: Route | None,
        params: dict[str, str],
        path_known: bool,
        outcome: dict[str, Any],
        org: Organization | None,
    ) -> Response:
        ctx = self.ctx
        trace_id = new_trace_id()
        if area in ("api", "oauth", "files") and ctx.config.latency_ms:
            ctx.pause(ctx.config.latency_ms / 1000)
            if ctx.stop_event.is_set():  # the server is stopping: drop, don't answer late
                return Response(0, disconnect=True)
        staging_token = ctx.config.staging_token
        if (
            area in ("api", "oauth")
            and staging_token is not None
            and (request.header("X-Qonto-Staging-Token") != staging_token)
        ):
            return Response(200, STAGING_LOGIN_PAGE.encode(), HTML_CONTENT_TYPE)
        if area in ("api", "oauth"):
            bucket = request.client_ip
            if ctx.config.rate_limit_per_organization and org is not None:
                bucket = f"{request.client_ip} {org.name}"
            decision = ctx.limiter.check(bucket)
            if not decision.allowed:
                outcome["rate_limited"] = True
                headers = (
                    [("Retry-After", str(decision.retry_after_s))] if ctx.config.send_retry_after else []
                )
                return error_response(
                    429,
                    "too_many_requests",
                    "Rate limit exceeded; retry later",
                    headers=headers,
                    trace_id=trace_id,
                )
        fault = ctx.faults.take(method, request.path, _page_param(request), org.name if org else None)
        if fault is not None:
            outcome["fault"] = True
            if fault.kind == "status":
                assert fault.status is not None
                headers = (
                    [("Retry-After", _seconds(fault.retry_after))] if fault.retry_after is not None else []
                )
                return error_response(
                    fault.status,
                    _STATUS_CODES.get(fault.status, "error"),
                    "Injected sandbox fault",
                    headers=headers,
                    trace_id=trace_id,
                )
            if fault.kind == "html":
                return Response(200, FAULT_HTML_PAGE.encode(), HTML_CONTENT_TYPE)
            if fault.kind == "disconnect":
                return Response(0, disconnect=True)
            if fault.kind == "timeout":
                ctx.pause(fault.delay_s)
                if ctx.stop_event.is_set():
                    return Response(0, disconnect=True)
        call = Call(request, ctx.clock(), trace_id, fault)
        response = self._route(call, area, method, route, params, path_known)
        if fault is not None and fault.kind == "malformed_json":
            body = response.body or b'{"supplier_invoices":[{"id":"'
            return Response(200, body[: max(1, len(body) // 2)], JSON_CONTENT_TYPE, response.headers)
        if fault is not None and fault.kind == "slow_body":  # the socket layer trickles it (server.py)
            response.trickle_bps = fault.rate_bps
            response.trickle_headers = fault.include_headers
        return response

    def _route(
        self,
        call: Call,
        area: str,
        method: str,
        route: Route | None,
        params: dict[str, str],
        path_known: bool,
    ) -> Response:
        ctx = self.ctx
        try:
            if area == "api":
                if route is None:
                    raise ApiError(404, "not_found", "No route matches this path and method")
                principal = authenticate(call.request.header("Authorization"), ctx.orgs)
                return route.handler(ctx, call, principal, **params)
            if route is None:
                if area == "oauth" and path_known:
                    return Response.json(
                        405, {"error": "invalid_request", "error_description": "HTTP method not allowed."}
                    )
                if area == "oauth":
                    return Response.json(
                        404, {"error": "not_found", "error_description": "Unknown endpoint."}
                    )
                return error_response(404, "not_found", "Not found", trace_id=call.trace_id)
            return route.handler(ctx, call, **params)
        except ApiError as error:
            return error.to_response(call.trace_id)
        except Exception:  # the sandbox must answer, never die, whatever the request
            logger.exception("sandbox handler failed for %s %s", method, call.request.path)
            return error_response(
                500, "internal_server_error", "Sandbox internal error", trace_id=call.trace_id
            )

    def _control(self, request: Request, method: str) -> Response:
        if not _is_loopback(request.client_ip):
            return Response.json(404, {"error": "control endpoints only answer loopback clients"})
        route, params, path_known = _match(CONTROL_ROUTES, method, request.path)
        if route is None:
            return Response.json(405 if path_known else 404, {"error": "unknown control endpoint or method"})
        return route.handler(self.ctx, Call(request, self.ctx.clock(), new_trace_id()), **params)

    @staticmethod
    def _log(request: Request, response: Response, started: float) -> None:
        # Path only: query strings can carry codes and states, headers carry credentials.
        if logger.isEnabledFor(logging.DEBUG):
            status = "dropped" if response.disconnect else response.status
            elapsed_ms = (time.perf_counter() - started) * 1000
            logger.debug("%s %s -> %s in %.1f ms", request.method, request.path, status, elapsed_ms)


def _page_param(request: Request) -> int | None:
    """The request's `page` query value when it is an integer (faults that target list pages need it)."""
    raw = dict(request.query).get("page")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _seconds(value: float | None) -> str:
    if value is None:
        return "0"
    return str(int(value)) if float(value).is_integer() else str(value)
