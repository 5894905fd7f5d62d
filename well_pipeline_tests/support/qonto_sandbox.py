"""Start a Qonto sandbox for a test and drive its OAuth flow with plain HTTP.

    with running_sandbox(tmp_path, latency_ms=5) as sb:
        tokens = obtain_tokens(httpx.Client(base_url=sb.base_url), sb)

`running_sandbox` accepts any SandboxConfig field as a keyword (plus `clock=` for a ManualClock), so each
test states the exact limits and lifetimes it relies on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from well_pipeline.sandbox.qonto import QontoSandbox, SandboxConfig
from well_pipeline.sandbox.qonto.clock import Clock, system_clock

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


def api_key_headers(sandbox: QontoSandbox) -> dict[str, str]:
    """Authorization header for the sandbox's demo API key (raw login:secret, not Base64)."""
    return {"Authorization": f"{sandbox.config.api_login}:{sandbox.config.api_secret}"}


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
    **extra: str,
) -> httpx.Response:
    """GET /oauth2/auth without following the redirect (the sandbox auto-approves)."""
    params = {
        "client_id": sandbox.config.client_id,
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


def token_request(client: httpx.Client, sandbox: QontoSandbox, **form: str) -> httpx.Response:
    """POST /oauth2/token with the demo client credentials in the body."""
    body = {"client_id": sandbox.config.client_id, "client_secret": sandbox.config.client_secret, **form}
    return client.post(f"{sandbox.base_url}/oauth2/token", data=body)


def obtain_tokens(
    client: httpx.Client,
    sandbox: QontoSandbox,
    *,
    scope: str = DEFAULT_SCOPE,
    redirect_uri: str = REDIRECT_URI,
) -> dict[str, Any]:
    """Full code flow over HTTP; returns the token response JSON."""
    code = authorization_code(client, sandbox, scope=scope, redirect_uri=redirect_uri)
    response = token_request(
        client, sandbox, grant_type="authorization_code", code=code, redirect_uri=redirect_uri
    )
    assert response.status_code == 200, response.text
    return response.json()
