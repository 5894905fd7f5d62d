"""Loopback-only test hooks under /_sandbox (no auth, never rate limited, not counted in stats).

Every hook takes an optional `?org=NAME` query parameter naming one served organisation: faults armed for
it fire only for its requests, stats and token expiry are its own, reload re-reads its dataset. Without it
they act on the whole server (stats: the global counters, plus each organisation's under
`by_organization`; reload: every dataset). An unknown name answers 404.
"""

from __future__ import annotations

import json

from ..context import Call, SandboxContext
from ..faults import FaultSpecError
from ..messages import Response
from ..organizations import Organization


def _bad_request(message: str) -> Response:
    return Response.json(400, {"error": message})


class _UnknownOrg(Exception):
    """`?org=` names no served organisation."""


def _org(ctx: SandboxContext, call: Call) -> Organization | None:
    """The organisation named by `?org=`, None when absent; raises _UnknownOrg."""
    name = dict(call.request.query).get("org")
    if not name:
        return None
    try:
        return ctx.orgs.get(name)
    except KeyError as exc:
        raise _UnknownOrg(str(exc.args[0])) from None


def _unknown(exc: _UnknownOrg) -> Response:
    return Response.json(404, {"error": str(exc)})


def add_fault(ctx: SandboxContext, call: Call) -> Response:
    """POST /_sandbox/faults[?org=] with a JSON fault description -> 201 {"fault": {...}}."""
    try:
        org = _org(ctx, call)
    except _UnknownOrg as exc:
        return _unknown(exc)
    try:
        spec = json.loads(call.request.body or b"{}")
    except ValueError:
        return _bad_request("body must be JSON")
    if not isinstance(spec, dict):
        return _bad_request("body must be a JSON object")
    if org is not None:
        spec.setdefault("org", org.name)
    try:
        fault = ctx.faults.add(spec)
    except FaultSpecError as exc:
        return _bad_request(str(exc))
    return Response.json(201, {"fault": fault.describe()})


def list_faults(ctx: SandboxContext, call: Call) -> Response:
    """GET /_sandbox/faults[?org=] -> the faults still armed (only that organisation's when named)."""
    try:
        org = _org(ctx, call)
    except _UnknownOrg as exc:
        return _unknown(exc)
    return Response.json(200, {"faults": ctx.faults.active(org.name if org else None)})


def clear_faults(ctx: SandboxContext, call: Call) -> Response:
    """DELETE /_sandbox/faults[?org=] -> 204."""
    try:
        org = _org(ctx, call)
    except _UnknownOrg as exc:
        return _unknown(exc)
    ctx.faults.clear(org.name if org else None)
    return Response.empty(204)


def expire_tokens(ctx: SandboxContext, call: Call) -> Response:
    """POST /_sandbox/tokens/expire[?org=] -> {"expired": n}."""
    try:
        org = _org(ctx, call)
    except _UnknownOrg as exc:
        return _unknown(exc)
    orgs = [org] if org is not None else list(ctx.orgs)
    return Response.json(200, {"expired": sum(each.oauth.expire_access_tokens() for each in orgs)})


def stats_snapshot(ctx: SandboxContext, org: Organization | None) -> dict[str, object]:
    """One organisation's counters, or the global ones with every organisation's under `by_organization`."""
    if org is not None:
        return org.stats.snapshot()
    snapshot: dict[str, object] = ctx.stats.snapshot()
    snapshot["by_organization"] = {each.name: each.stats.snapshot() for each in ctx.orgs}
    return snapshot


def get_stats(ctx: SandboxContext, call: Call) -> Response:
    """GET /_sandbox/stats[?org=]."""
    try:
        org = _org(ctx, call)
    except _UnknownOrg as exc:
        return _unknown(exc)
    return Response.json(200, stats_snapshot(ctx, org))


def reset_stats(ctx: SandboxContext, call: Call) -> Response:
    """DELETE /_sandbox/stats[?org=] -> 204 (without org: the global and every organisation's counters)."""
    try:
        org = _org(ctx, call)
    except _UnknownOrg as exc:
        return _unknown(exc)
    if org is not None:
        org.stats.reset()
    else:
        ctx.stats.reset()
        for each in ctx.orgs:
            each.stats.reset()
    return Response.empty(204)


def reload_dataset(ctx: SandboxContext, call: Call) -> Response:
    """POST /_sandbox/reload[?org=]: re-read datasets even if file signatures look unchanged.

    Answers the named (else the default) organisation's `invoices` and `version`, as before, plus every
    reloaded organisation's invoice count under `organizations`.
    """
    try:
        org = _org(ctx, call)
    except _UnknownOrg as exc:
        return _unknown(exc)
    targets = [org] if org is not None else list(ctx.orgs)
    counts = {each.name: len(each.dataset.force_reload().rows) for each in targets}
    main = org or ctx.orgs.default
    snapshot = main.dataset.current()
    return Response.json(
        200, {"invoices": len(snapshot.rows), "version": snapshot.version, "organizations": counts}
    )
