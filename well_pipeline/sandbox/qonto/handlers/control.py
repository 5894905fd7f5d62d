"""Loopback-only test hooks under /_sandbox (no auth, never rate limited, not counted in stats)."""

from __future__ import annotations

import json

from ..context import Call, SandboxContext
from ..faults import FaultSpecError
from ..messages import Response


def _bad_request(message: str) -> Response:
    return Response.json(400, {"error": message})


def add_fault(ctx: SandboxContext, call: Call) -> Response:
    """POST /_sandbox/faults with a JSON fault description -> 201 {"fault": {...}}."""
    try:
        spec = json.loads(call.request.body or b"{}")
    except ValueError:
        return _bad_request("body must be JSON")
    if not isinstance(spec, dict):
        return _bad_request("body must be a JSON object")
    try:
        fault = ctx.faults.add(spec)
    except FaultSpecError as exc:
        return _bad_request(str(exc))
    return Response.json(201, {"fault": fault.describe()})


def list_faults(ctx: SandboxContext, call: Call) -> Response:
    """GET /_sandbox/faults -> the faults still armed."""
    return Response.json(200, {"faults": ctx.faults.active()})


def clear_faults(ctx: SandboxContext, call: Call) -> Response:
    """DELETE /_sandbox/faults -> 204."""
    ctx.faults.clear()
    return Response.empty(204)


def expire_tokens(ctx: SandboxContext, call: Call) -> Response:
    """POST /_sandbox/tokens/expire -> {"expired": n}."""
    return Response.json(200, {"expired": ctx.oauth.expire_access_tokens()})


def get_stats(ctx: SandboxContext, call: Call) -> Response:
    """GET /_sandbox/stats."""
    return Response.json(200, ctx.stats.snapshot())


def reset_stats(ctx: SandboxContext, call: Call) -> Response:
    """DELETE /_sandbox/stats -> 204."""
    ctx.stats.reset()
    return Response.empty(204)


def reload_dataset(ctx: SandboxContext, call: Call) -> Response:
    """POST /_sandbox/reload: re-read the dataset even if file signatures look unchanged."""
    snapshot = ctx.dataset.force_reload()
    return Response.json(200, {"invoices": len(snapshot.rows), "version": snapshot.version})
