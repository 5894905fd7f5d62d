"""Start a Qonto sandbox for a test and drive its OAuth flow with plain HTTP.

    with running_sandbox(tmp_path, latency_ms=5) as sb:
        tokens = obtain_tokens(httpx.Client(base_url=sb.base_url), sb)

`running_sandbox` accepts any SandboxConfig field as a keyword (plus `clock=` for a ManualClock), so each
test states the exact limits and lifetimes it relies on. The credential helpers take `org=NAME` to act as
one of several organisations (`organizations=(OrgConfig(NAME, DIR), ...)`); the default is the demo one.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from well_pipeline.adapters.qonto import ApiKeyAuth, QontoClient, QontoClientConfig, RateLimiter, RateWindow
from well_pipeline.adapters.secrets import Secret
from well_pipeline.sandbox.qonto import QontoSandbox, SandboxConfig
from well_pipeline.sandbox.qonto.clock import Clock, system_clock
from well_pipeline_tests.support.waiting import wait_until

DEFAULT_SCOPE = "offline_access openid supplier_invoice.read attachment.read organization.read"
REDIRECT_URI = "http://127.0.0.1:8765/oauth/callback"


@contextmanager
def running_sandbox(
    data_dir: str | Path, *, clock: Clock = system_clock, **config_overrides: Any
) -> Iterator[QontoSandbox]:
    """A started QontoSandbox on an ephemeral loopback port, stopped on exit."""
    config_overrides.setdefault("port", 0)
    sandbox = QontoSandbox(data_dir, SandboxConfig(**config_overrides), clock=clock)
    with sandbox:
        yield sandbox


def free_port() -> int:
    """A loopback port nothing listens on right now (for a redirect URI Well's OAuth callback will bind)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_listening(port: int) -> bool:
    """Something accepts connections on loopback `port` right now (a server still up after it was stopped)."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def fast_limiter() -> RateLimiter:
    """A client-side limiter that never makes a test wait."""
    return RateLimiter([RateWindow(10_000, 1.0)])


def api_key_client(sb: QontoSandbox, *, limiter: RateLimiter | None = None, org: str | None = None,
                   **config: Any) -> QontoClient:
    """A real QontoClient on the sandbox's demo API key (organisation `org`'s when given), with retry backoff
    shrunk so fault tests stay fast; `config` overrides `QontoClientConfig` fields."""
    config.setdefault("backoff_base_s", 0.01)
    config.setdefault("backoff_max_s", 0.2)
    credentials = sb.organization(org)
    return QontoClient(QontoClientConfig(sb.base_url, **config),
                       ApiKeyAuth(credentials.api_login, Secret(credentials.api_secret)),
                       limiter=limiter or fast_limiter())


def wait_for_stats(sandbox: QontoSandbox, holds: Callable[[dict[str, Any]], bool], what: str,
                   timeout_s: float = 30.0) -> dict[str, Any]:
    """Poll `sandbox.stats()` until `holds(stats)` and return those stats; fail naming `what` after `timeout_s`.

    For counters the server updates after the client has moved on (e.g. a trickled response noticed to be cut
    once the server's next write fails). `timeout_s` is a limit, not a measurement (see support/waiting.py).
    """
    def holding() -> dict[str, Any] | None:
        stats = sandbox.stats()
        return stats if holds(stats) else None

    return wait_until(holding, timeout_s, lambda: f"{what}; sandbox stats: {sandbox.stats()}")


def api_key_headers(sandbox: QontoSandbox, org: str | None = None) -> dict[str, str]:
    """Authorization header for the sandbox's demo API key, or organisation `org`'s (raw login:secret)."""
    credentials = sandbox.organization(org)
    return {"Authorization": f"{credentials.api_login}:{credentials.api_secret}"}


def bearer(token: str) -> dict[str, str]:
    """Authorization header for an access token."""
    return {"Authorization": f"Bearer {token}"}


def authorize(
    client: httpx.Client,
    sandbox: QontoSandbox,
    *,
    scope: str = DEFAULT_SCOPE,
    redirect_uri: str = REDIRECT_URI,
    state: str = "state-0123456789",
    org: str | None = None,
    **extra: str,
) -> httpx.Response:
    """GET /oauth2/auth without following the redirect (the sandbox auto-approves), as `org`'s client."""
    params = {
        "client_id": sandbox.organization(org).client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": scope,
        "state": state,
        **extra,
    }
    return client.get(f"{sandbox.base_url}/oauth2/auth", params=params, follow_redirects=False)


def authorization_code(client: httpx.Client, sandbox: QontoSandbox, **kwargs: Any) -> str:
    """The code from a successful authorization redirect."""
    response = authorize(client, sandbox, **kwargs)
    assert response.status_code == 302, response.text
    params = httpx.URL(response.headers["Location"]).params
    assert "code" in params, response.headers["Location"]
    return params["code"]


def token_request(client: httpx.Client, sandbox: QontoSandbox, *, org: str | None = None,
                  **form: str) -> httpx.Response:
    """POST /oauth2/token with the demo client credentials (organisation `org`'s when given) in the body."""
    credentials = sandbox.organization(org)
    body = {"client_id": credentials.client_id, "client_secret": credentials.client_secret, **form}
    return client.post(f"{sandbox.base_url}/oauth2/token", data=body)


def obtain_tokens(
    client: httpx.Client,
    sandbox: QontoSandbox,
    *,
    scope: str = DEFAULT_SCOPE,
    redirect_uri: str = REDIRECT_URI,
    org: str | None = None,
) -> dict[str, Any]:
    """Full code flow over HTTP (as organisation `org`'s client when given); returns the token response JSON."""
    code = authorization_code(client, sandbox, scope=scope, redirect_uri=redirect_uri, org=org)
    response = token_request(
        client, sandbox, org=org, grant_type="authorization_code", code=code, redirect_uri=redirect_uri
    )
    assert response.status_code == 200, response.text
    return response.json()
