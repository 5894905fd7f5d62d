"""Connecting Well to Qonto, showing the connection, disconnecting: the use cases behind `well qonto`, and the one
place a Qonto client is built from Well's configuration (the ingest asset's resource builds it here too).

Connecting follows Qonto's manual OAuth flow: the user opens the authorize URL in their own browser and approves
Well, Qonto redirects to Well's loopback callback with a one-time code, and Well trades it for tokens, keeping
only the refresh token, encrypted. Disconnecting revokes the consent at Qonto and forgets the token; the sync
marker and every stored record stay, so reconnecting resumes from the last successful sync.

The first successful connect also fixes the first day of the backfill window (services/history_window.py), in
`<data_dir>/workspace.json`; a reconnect keeps it. In API-key mode there is no approval to wait for: connect
checks the key with one request and fixes the day the same way.

Configuration comes in as plain values (`QontoConnectionConfig`), credentials from the secret store: nothing here
reads settings or knows Dagster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from well_pipeline.adapters import workspace_state
from well_pipeline.adapters.qonto import (
    ApiKeyAuth,
    OAuthCallback,
    OAuthTokenAuth,
    QontoClient,
    QontoClientConfig,
    QontoError,
    build_authorize_url,
    exchange_code,
)
from well_pipeline.adapters.qonto.deadline import DEFAULT_DEADLINE_S
from well_pipeline.adapters.secrets import (
    QONTO_API_SECRET,
    QONTO_CLIENT_SECRET,
    QONTO_REFRESH_TOKEN,
    QONTO_STAGING_TOKEN,
    SecretStore,
    StoredRefreshToken,
)
from well_pipeline.adapters.storage import InvoiceStore
from well_pipeline.services.history_window import HistoryStart, pin_history_start
from well_pipeline.services.sync_marker import last_sync


class QontoConnectionError(RuntimeError):
    """Qonto cannot be reached or connected as configured; the message says what is missing and how to fix it."""


@dataclass(frozen=True)
class QontoConnectionConfig:
    """Where Qonto is and how Well authenticates there (the secrets themselves stay in the secret store).

    `auth_mode` is `oauth` (refresh token from `connect`) or `api_key` (`api_login` plus the stored key).
    `redirect_uri` and `scopes` matter to `connect` only; the rest builds the client (see `client_config`).
    """

    api_url: str
    oauth_url: str
    auth_mode: str = "oauth"
    client_id: str = ""
    api_login: str = ""
    redirect_uri: str = ""
    scopes: str = ""
    requests_per_10s: int = 950
    requests_per_10min: int = 9_500
    download_concurrency: int = 8
    timeout_s: float = 30.0
    request_deadline_s: float = DEFAULT_DEADLINE_S
    max_retries: int = 5

    def client_config(self, secrets: SecretStore) -> QontoClientConfig:
        """The client's configuration, with the staging token (Qonto's sandbox) from the secret store."""
        return QontoClientConfig(
            self.api_url,
            staging_token=secrets.get(QONTO_STAGING_TOKEN),
            requests_per_10s=self.requests_per_10s,
            requests_per_10min=self.requests_per_10min,
            timeout_s=self.timeout_s,
            request_deadline_s=self.request_deadline_s,
            max_retries=self.max_retries,
            download_concurrency=self.download_concurrency,
        )


# ---- clients -------------------------------------------------------------------------------------------------
def build_auth(config: QontoConnectionConfig, secrets: SecretStore) -> ApiKeyAuth | OAuthTokenAuth:
    """The configured credentials; raises `QontoConnectionError` (or the store's error) naming what is missing."""
    if config.auth_mode == "api_key":
        secret = secrets.require(QONTO_API_SECRET, "Run `well secrets set qonto_api_secret` or set "
                                 "WELL_SECRET_QONTO_API_SECRET.")
        if not config.api_login:
            raise QontoConnectionError("qonto_api_login is not set (setting WELL_QONTO_API_LOGIN).")
        return ApiKeyAuth(config.api_login, secret)
    if not config.client_id:
        raise QontoConnectionError(
            "qonto_client_id is not set (setting WELL_QONTO_CLIENT_ID); then run `well qonto connect`.")
    client_secret = secrets.require(QONTO_CLIENT_SECRET, "Run `well secrets set qonto_client_secret`.")
    tokens = StoredRefreshToken(secrets)
    if tokens.load_refresh_token() is None:
        raise QontoConnectionError(
            "Qonto is not connected (no refresh token). Run `well qonto connect` to approve access in Qonto.")
    return OAuthTokenAuth(config.oauth_url, config.client_id, client_secret, tokens,
                          staging_token=secrets.get(QONTO_STAGING_TOKEN), deadline_s=config.request_deadline_s)


def open_client(config: QontoConnectionConfig, secrets: SecretStore,
                auth: ApiKeyAuth | OAuthTokenAuth | None = None) -> QontoClient:
    """A ready client (with `auth`, or the configured credentials); close it (or use it as a context manager)."""
    return QontoClient(config.client_config(secrets), auth or build_auth(config, secrets))


# ---- connect -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Connected:
    """How a connect went: the scopes Qonto granted (none in API-key mode) and the backfill window's first day,
    `history_start_stored` True when this connect fixed it (the first one), False when it kept the stored one."""

    scopes: tuple[str, ...]
    history_start: HistoryStart
    history_start_stored: bool


def connect(config: QontoConnectionConfig, secrets: SecretStore, *, show_url: Callable[[str], None],
            timeout_s: float, state_file: Path, now: datetime | None = None) -> Connected:
    """Connect Well to Qonto and fix the backfill start in `state_file` (`<data_dir>/workspace.json`) if unset.

    OAuth: run the connect flow and store the refresh token, encrypted. `show_url(url)` gets the authorize URL
    once the callback listens: print it, open a browser (or, for the local sandbox only, approve). API key: check
    the configured key with one request (`show_url` is not called). Raises `QontoConnectionError` when something
    is missing, no answer arrives within `timeout_s`, the answer is not for this request or Qonto refused, and
    `WorkspaceStateError` for a damaged `state_file` (checked first): nothing is stored then.
    `now` (default: the clock) is when the connect happens, which fixes the start (tests pass a moment).
    """
    workspace_state.read(state_file)  # a damaged file stops the connect before Qonto is asked anything
    if config.auth_mode == "api_key":
        scopes = _check_api_key(config, secrets)
    else:
        scopes = _oauth_connect(config, secrets, show_url=show_url, timeout_s=timeout_s)
    start, stored_now = pin_history_start(state_file, now=now or datetime.now(UTC))
    return Connected(scopes, start, stored_now)


def _check_api_key(config: QontoConnectionConfig, secrets: SecretStore) -> tuple[str, ...]:
    """API-key mode: the key works when Qonto returns the organisation (raises `QontoError` otherwise)."""
    with open_client(config, secrets) as client:
        client.get_organization()
    return ()


def _oauth_connect(config: QontoConnectionConfig, secrets: SecretStore, *, show_url: Callable[[str], None],
                   timeout_s: float) -> tuple[str, ...]:
    """The OAuth flow: approval in Qonto, code exchange, refresh token stored; returns the granted scopes."""
    if not config.client_id:
        raise QontoConnectionError("set qonto_client_id first (well.toml or WELL_QONTO_CLIENT_ID)")
    client_secret = secrets.get(QONTO_CLIENT_SECRET)
    if client_secret is None:
        raise QontoConnectionError("store the OAuth client secret first: well secrets set qonto_client_secret")
    request = build_authorize_url(config.oauth_url, config.client_id, config.redirect_uri, config.scopes)
    with OAuthCallback(config.redirect_uri) as callback:
        show_url(request.url)
        if not callback.wait(timeout_s):
            raise QontoConnectionError("no answer from Qonto in time; run `well qonto connect` again")
    params = callback.params
    if params.get("state") != request.state:
        raise QontoConnectionError("the answer's state does not match this request (possible CSRF); nothing stored")
    if "code" not in params:
        raise QontoConnectionError(f"Qonto refused: {params.get('error', 'no code')} "
                                   f"{params.get('error_description', '')}".strip())
    tokens = exchange_code(config.oauth_url, config.client_id, client_secret, params["code"], config.redirect_uri,
                           token_store=StoredRefreshToken(secrets), staging_token=secrets.get(QONTO_STAGING_TOKEN),
                           deadline_s=config.request_deadline_s)
    if tokens.refresh_token is None:
        raise QontoConnectionError("Qonto returned no refresh token: add offline_access to qonto_scopes")
    return tokens.scope


# ---- disconnect ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Disconnected:
    """How a disconnect went: `was_connected` False means there was nothing to revoke (nothing was done)."""

    was_connected: bool
    note: str | None = None  # the token revocation's answer, when it failed (the consent itself is revoked)


def disconnect(config: QontoConnectionConfig, secrets: SecretStore) -> Disconnected:
    """Revoke Well's consent at Qonto, then forget the refresh token (stored records and the sync marker stay)."""
    if secrets.get(QONTO_REFRESH_TOKEN) is None:
        return Disconnected(was_connected=False)
    auth = build_auth(config, secrets)
    with open_client(config, secrets, auth) as client:
        client.revoke_consent()  # documented: DELETE /v2/oauth2/consents
    note = None
    if isinstance(auth, OAuthTokenAuth):
        try:
            auth.revoke()  # POST /oauth2/revoke: not documented by Qonto (UNCONFIRMED), so best effort
        except QontoError as exc:
            note = f"token revocation answered {type(exc).__name__}; the consent itself is revoked"
    secrets.delete(QONTO_REFRESH_TOKEN)
    return Disconnected(was_connected=True, note=note)


# ---- status --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConnectionStatus:
    """What `well qonto status` shows. `connected` is None when the secret store cannot say (see `problems`);
    `invoices_stored` is None when there is no data yet."""

    api_url: str
    auth_mode: str
    connected: bool | None
    problems: list[str] = field(default_factory=list)
    last_sync: datetime | None = None
    invoices_stored: int | None = None


def connection_status(config: QontoConnectionConfig, secrets: SecretStore, invoices: InvoiceStore | None
                      ) -> ConnectionStatus:
    """The connection and the last successful sync; reads only (creates no key, no file). `invoices`: None when
    nothing was stored yet."""
    health = secrets.check()  # a lost or wrong key shows here even when no refresh token is stored
    connected = (secrets.get(QONTO_REFRESH_TOKEN) is not None) if health.ok else None
    if invoices is None:
        return ConnectionStatus(config.api_url, config.auth_mode, connected, list(health.problems))
    return ConnectionStatus(config.api_url, config.auth_mode, connected, list(health.problems),
                            last_sync=last_sync(invoices), invoices_stored=invoices.count())
