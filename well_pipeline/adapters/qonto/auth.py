"""Authentication for the Qonto Business API: API key or OAuth 2.0 with rotating refresh tokens.

Both are `httpx.Auth` objects so the client stays auth-agnostic.

OAuth specifics this module exists for (reference §2):
- Access tokens live 1 h; Qonto recommends refreshing *before* expiry, so tokens are refreshed when fewer than
  `refresh_margin_s` (60 s) remain — and once more, reactively, if an API call still answers 401.
- Refresh tokens rotate on every refresh and the old one dies after a 60 s grace. The new refresh token is
  therefore saved to the token store *before* the new access token is used: a crash right after a refresh
  must not leave only a dead token on disk. One lock serialises refreshes so concurrent threads never spend
  the same refresh token twice.
- The token endpoint takes a form-encoded body with `client_id`/`client_secret` (not HTTP Basic).
- The token-endpoint error format is UNCONFIRMED; Ory-style `{error, error_description}` is parsed, anything
  else is reported by status with a short redacted excerpt.
- Every token call runs under an overall deadline (`deadline_s`, see deadline.py), or the API request's
  deadline when that ends sooner (a refresh inside an API call's auth flow).

All secrets are held in `Secret` objects; no repr, log line or exception message shows them.
"""

from __future__ import annotations

import json
import logging
import random
import secrets as _secrets
import threading
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable
from urllib.parse import urlencode

import httpx

from well_pipeline.adapters.qonto.deadline import (
    DEFAULT_DEADLINE_S,
    current_deadline,
    deadline_scope,
    enforce_deadlines,
)
from well_pipeline.adapters.qonto.errors import (
    TRACE_HEADER,
    QontoAPIError,
    QontoAuthError,
    QontoError,
    QontoProtocolError,
    QontoRateLimited,
    QontoTimeoutError,
    QontoTransportError,
    error_envelope,
    safe_excerpt,
)
from well_pipeline.adapters.qonto.responses import parse_retry_after
from well_pipeline.adapters.qonto.transport import (
    STAGING_HEADER,
    build_ssl_context,
    is_html,
    is_json_content_type,
    tls_failure,
    user_agent,
)
from well_pipeline.adapters.secrets.secret import Secret

__all__ = [
    "ApiKeyAuth",
    "AuthorizeRequest",
    "InMemoryTokenStore",
    "OAuthTokenAuth",
    "TokenSet",
    "TokenStore",
    "build_authorize_url",
    "exchange_code",
]

logger = logging.getLogger("well.qonto")
# The longest single wait a 429's Retry-After may impose on a token call (Qonto's 10-minute window can ask more).
_MAX_RETRY_AFTER_S = 60.0

TOKEN_PATH = "/oauth2/token"
AUTHORIZE_PATH = "/oauth2/auth"
REVOKE_PATH = "/oauth2/revoke"

# OAuth error codes that mean "this grant/client is dead, a human must reconnect" (RFC 6749 §5.2).
_FATAL_TOKEN_ERRORS = {"invalid_grant", "invalid_client", "unauthorized_client", "access_denied", "invalid_scope"}


def _as_secret(value: str | Secret) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)


# ---- token storage --------------------------------------------------------------------------------------


@runtime_checkable
class TokenStore(Protocol):
    """Where the rotating refresh token lives between runs (the encrypted secret store in production)."""

    def load_refresh_token(self) -> str | None: ...

    def save_refresh_token(self, token: str) -> None: ...


class InMemoryTokenStore:
    """A `TokenStore` for tests and one-off scripts; keeps every saved token for assertions."""

    def __init__(self, refresh_token: str | None = None) -> None:
        self._token = Secret(refresh_token) if refresh_token is not None else None
        self._lock = threading.Lock()
        self.saves = 0

    def load_refresh_token(self) -> str | None:
        with self._lock:
            return self._token.reveal() if self._token is not None else None

    def save_refresh_token(self, token: str) -> None:
        with self._lock:
            self._token = Secret(token)
            self.saves += 1

    def __repr__(self) -> str:
        return f"InMemoryTokenStore(has_token={self._token is not None}, saves={self.saves})"


# ---- API key ---------------------------------------------------------------------------------------------


class ApiKeyAuth(httpx.Auth):
    """`Authorization: <organization-login>:<secret-key>` — raw, not Base64, not HTTP Basic (reference §1)."""

    def __init__(self, login: str, secret: str | Secret) -> None:
        if not login or ":" in login:
            raise ValueError("ApiKeyAuth needs the organization login (without ':')")
        self._login = login
        self._secret = _as_secret(secret)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"{self._login}:{self._secret.reveal()}"
        yield request

    def __repr__(self) -> str:
        return f"ApiKeyAuth(login={self._login!r}, secret=Secret('***'))"


# ---- OAuth ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenSet:
    """What the token endpoint returned; `expires_at` is a `time.time()` epoch."""

    access_token: Secret
    refresh_token: Secret | None
    expires_at: float
    scope: tuple[str, ...] = ()
    token_type: str = "bearer"
    id_token: Secret | None = field(default=None, repr=False)


@dataclass(frozen=True)
class AuthorizeRequest:
    """The URL to open in the user's browser and the `state` to compare when Qonto redirects back."""

    url: str
    state: str


def build_authorize_url(
    oauth_url: str,
    client_id: str,
    redirect_uri: str,
    scopes: Iterable[str] | str,
    *,
    state: str | None = None,
    organization_id: str | None = None,
) -> AuthorizeRequest:
    """The authorize URL for the connect flow. `state` defaults to 256 random bits (anti-CSRF).

    The URL must be opened by the user's browser, never fetched by the backend (Qonto binds a CSRF cookie).
    """
    scope = scopes if isinstance(scopes, str) else " ".join(scopes)
    state = state or _secrets.token_urlsafe(32)
    params = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": scope,
        "state": state,
    }
    if organization_id:
        params["organization_id"] = organization_id
    return AuthorizeRequest(url=f"{oauth_url.rstrip('/')}{AUTHORIZE_PATH}?{urlencode(params)}", state=state)


def _token_error(response: httpx.Response, path: str) -> QontoError:
    """Turn a failed token/revoke call into the right exception (body format UNCONFIRMED: be lenient)."""
    status = response.status_code
    if is_html(response):
        return QontoProtocolError.html(path=path, status=status)
    envelope = error_envelope(response)
    detail = safe_excerpt(envelope.detail, 300) if envelope.detail is not None else None
    if status in (400, 401, 403) or (envelope.code in _FATAL_TOKEN_ERRORS):
        return QontoAuthError(status, envelope.code, detail, envelope.trace_id, path=path)
    if status == 429:  # still refused after every retry: the same error as an API call's, with Qonto's hint
        return QontoRateLimited(status, envelope.code, detail, envelope.trace_id, path=path,
                                retry_after_s=parse_retry_after(response.headers.get("Retry-After")))
    return QontoAPIError(status, envelope.code, detail, envelope.trace_id, path=path)


def _parse_token_response(response: httpx.Response, path: str, clock: Callable[[], float]) -> TokenSet:
    if is_html(response):
        raise QontoProtocolError.html(path=path, status=response.status_code)
    if not is_json_content_type(response):
        raise QontoProtocolError(
            f"Qonto's token endpoint answered {response.headers.get('content-type') or 'no content type'} "
            f"instead of JSON (status {response.status_code}) for {path}",
            path=path,
            status=response.status_code,
        )
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        # Never excerpt a token response body: on success it is made of tokens.
        raise QontoProtocolError(f"Qonto's token endpoint answered malformed JSON for {path}", path=path) from None
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        keys = sorted(body) if isinstance(body, dict) else type(body).__name__
        raise QontoProtocolError(f"Qonto's token response has no access_token (keys: {keys})", path=path)
    try:
        expires_in = float(body.get("expires_in", 3600))
    except (TypeError, ValueError):
        expires_in = 3600.0
    refresh = body.get("refresh_token")
    id_token = body.get("id_token")
    scope = body.get("scope")
    return TokenSet(
        access_token=Secret(body["access_token"]),
        refresh_token=Secret(refresh) if isinstance(refresh, str) and refresh else None,
        expires_at=clock() + expires_in,
        scope=tuple(scope.split()) if isinstance(scope, str) else (),
        token_type=str(body.get("token_type") or "bearer"),
        id_token=Secret(id_token) if isinstance(id_token, str) else None,
    )


class _OAuthEndpoint:
    """The OAuth host: one small httpx client (TLS 1.3, staging header), form posts with bounded retries.

    Kept separate from the API client because token calls are not rate-limited API calls and must not
    recurse into the auth flow.
    """

    def __init__(
        self,
        oauth_url: str,
        *,
        staging_token: Secret | None,
        timeout_s: float,
        verify: object,
        transport: httpx.BaseTransport | None,
        deadline_s: float | None = DEFAULT_DEADLINE_S,
        max_attempts: int = 3,
        backoff_base_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.oauth_url = oauth_url.rstrip("/")
        self.staging_token = staging_token
        self._timeout_s = timeout_s
        self._deadline_s = deadline_s
        self._verify = build_ssl_context(self.oauth_url, verify)  # validates scheme/loopback eagerly
        self._transport = transport
        self._max_attempts = max(1, max_attempts)
        self._backoff_base_s = backoff_base_s
        self._sleep = sleep
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=self._timeout_s,
                    verify=self._verify,
                    transport=self._transport,
                    headers={"User-Agent": user_agent(), "Accept": "application/json"},
                    follow_redirects=False,
                )
                enforce_deadlines(self._client)
            return self._client

    def post_form(self, path: str, form: dict[str, str]) -> httpx.Response:
        """POST a form; retries timeouts, dropped connections, deadline hits, 429 and 5xx a few times."""
        headers = {}
        if self.staging_token is not None:
            headers[STAGING_HEADER] = self.staging_token.reveal()
        last_exc: Exception | None = None
        deadline_hit = False
        for attempt in range(1, self._max_attempts + 1):
            enclosing = current_deadline()
            if enclosing is not None and enclosing.expired():
                # The API request this refresh belongs to is out of time: another try here cannot help it.
                enclosing.hit = True
                raise QontoTimeoutError(
                    f"Qonto OAuth call {path} ran out of the enclosing request's {enclosing.seconds:g} s deadline "
                    "(setting qonto_request_deadline_s)", path=path, attempts=attempt, deadline_s=enclosing.seconds)
            response: httpx.Response | None = None
            with deadline_scope(self._deadline_s) as deadline:
                try:
                    response = self._http().post(f"{self.oauth_url}{path}", data=form, headers=headers)
                except httpx.TransportError as exc:
                    problem = tls_failure(exc)
                    if problem:  # permanent: do not retry
                        raise QontoTransportError(f"Qonto OAuth call {path}: {problem}", path=path,
                                                  attempts=attempt) from None
                    last_exc = exc
                    deadline_hit = deadline is not None and deadline.hit
            if response is None:
                logger.warning(
                    "Qonto OAuth call failed (%s), attempt %d/%d, path=%s",
                    "deadline passed" if deadline_hit else type(last_exc).__name__, attempt, self._max_attempts, path,
                )
            else:
                if response.status_code not in (429, 500, 502, 503, 504) or attempt == self._max_attempts:
                    return response
                logger.warning(
                    "Qonto OAuth call answered %d, attempt %d/%d, path=%s, trace_id=%s",
                    response.status_code, attempt, self._max_attempts, path,
                    response.headers.get(TRACE_HEADER),
                )
            if attempt < self._max_attempts:
                retry_after = parse_retry_after(response.headers.get("Retry-After")) \
                    if response is not None and response.status_code == 429 else None
                if retry_after is not None:
                    # Qonto's own hint: its per-IP window frees then (other companies' runs share it), and any
                    # earlier try would only be refused again. Capped, so one answer cannot park a run for long.
                    self._sleep(min(retry_after, _MAX_RETRY_AFTER_S))
                else:
                    delay = self._backoff_base_s * (2 ** (attempt - 1))
                    self._sleep(delay / 2 + random.uniform(0, delay / 2))
        if deadline_hit:
            raise QontoTimeoutError(
                f"Qonto's OAuth endpoint {path} did not answer within its {self._deadline_s:g} s deadline "
                f"(setting qonto_request_deadline_s); gave up after {self._max_attempts} attempts",
                path=path, attempts=self._max_attempts, deadline_s=self._deadline_s or 0.0,
            )
        raise QontoTransportError(
            f"Qonto's OAuth endpoint {path} was unreachable after {self._max_attempts} attempts "
            f"({type(last_exc).__name__})",
            path=path,
            attempts=self._max_attempts,
        )

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def exchange_code(
    oauth_url: str,
    client_id: str,
    client_secret: str | Secret,
    code: str,
    redirect_uri: str,
    *,
    token_store: TokenStore | None = None,
    staging_token: Secret | None = None,
    code_verifier: str | None = None,
    timeout_s: float = 30.0,
    deadline_s: float | None = DEFAULT_DEADLINE_S,
    verify: object = True,
    transport: httpx.BaseTransport | None = None,
) -> TokenSet:
    """Trade an authorization code (valid 10 min) for tokens; saves the refresh token when a store is given.

    `code_verifier` is sent only when given: Qonto's docs do not mention PKCE (UNCONFIRMED), the client
    secret is always sent.
    """
    endpoint = _OAuthEndpoint(
        oauth_url, staging_token=staging_token, timeout_s=timeout_s, verify=verify, transport=transport,
        deadline_s=deadline_s, max_attempts=1,  # a code is single-use: never replay it blindly
    )
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "client_secret": _as_secret(client_secret).reveal(),
        "code": code,
        "redirect_uri": redirect_uri,
    }
    if code_verifier:
        form["code_verifier"] = code_verifier
    try:
        response = endpoint.post_form(TOKEN_PATH, form)
        if response.status_code != 200:
            raise _token_error(response, TOKEN_PATH)
        tokens = _parse_token_response(response, TOKEN_PATH, time.time)
    finally:
        endpoint.close()
    if token_store is not None and tokens.refresh_token is not None:
        token_store.save_refresh_token(tokens.refresh_token.reveal())
    return tokens


class OAuthTokenAuth(httpx.Auth):
    """Bearer auth that refreshes proactively, rotates and persists refresh tokens, and retries one 401.

    Thread-safe: one httpx client may call it from many threads; only one refresh runs at a time, and a
    thread that waited for a refresh uses its result instead of refreshing again.
    """

    def __init__(
        self,
        oauth_url: str,
        client_id: str,
        client_secret: str | Secret,
        token_store: TokenStore,
        *,
        staging_token: Secret | None = None,
        refresh_margin_s: float = 60.0,
        redirect_uri: str | None = None,
        timeout_s: float = 30.0,
        deadline_s: float | None = DEFAULT_DEADLINE_S,
        verify: object = True,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        initial_tokens: TokenSet | None = None,
    ) -> None:
        self._client_id = client_id
        self._client_secret = _as_secret(client_secret)
        self._store = token_store
        self._margin = refresh_margin_s
        self._redirect_uri = redirect_uri
        self._clock = clock
        self._endpoint = _OAuthEndpoint(
            oauth_url, staging_token=staging_token, timeout_s=timeout_s, verify=verify, transport=transport,
            deadline_s=deadline_s,
        )
        self._lock = threading.Lock()
        self._access: Secret | None = initial_tokens.access_token if initial_tokens else None
        self._expires_at: float = initial_tokens.expires_at if initial_tokens else 0.0
        self._generation = 0  # bumps on each refresh so waiters can tell a refresh already happened
        self.refresh_count = 0
        self.granted_scopes: tuple[str, ...] = initial_tokens.scope if initial_tokens else ()

    # -- configuration shared with QontoClient --------------------------------------------------------
    @property
    def staging_token(self) -> Secret | None:
        return self._endpoint.staging_token

    @staging_token.setter
    def staging_token(self, value: Secret | None) -> None:
        self._endpoint.staging_token = value

    @property
    def oauth_url(self) -> str:
        return self._endpoint.oauth_url

    def __repr__(self) -> str:
        return (
            f"OAuthTokenAuth(oauth_url={self.oauth_url!r}, client_id={self._client_id!r}, "
            f"client_secret=Secret('***'), has_access_token={self._access is not None})"
        )

    # -- token lifecycle ------------------------------------------------------------------------------
    def _current(self) -> tuple[Secret, int]:
        """A valid access token (refreshing first if it expires within the margin) and its generation."""
        with self._lock:
            if self._access is None or self._clock() >= self._expires_at - self._margin:
                self._refresh_locked()
            assert self._access is not None
            return self._access, self._generation

    def _refresh_after_401(self, seen_generation: int) -> tuple[Secret, int]:
        """Refresh unless another thread already did since `seen_generation` was read."""
        with self._lock:
            if self._generation == seen_generation:
                self._refresh_locked()
            assert self._access is not None
            return self._access, self._generation

    def _refresh_locked(self) -> None:
        refresh_token = self._store.load_refresh_token()
        if not refresh_token:
            raise QontoAuthError(
                0, "no_refresh_token", "no Qonto refresh token is stored", None, path=TOKEN_PATH,
                hint="Connect Qonto first: run `well qonto connect`, which stores a refresh token",
            )
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret.reveal(),
            "refresh_token": refresh_token,
        }
        if self._redirect_uri:
            form["redirect_uri"] = self._redirect_uri
        response = self._endpoint.post_form(TOKEN_PATH, form)
        if response.status_code != 200:
            raise _token_error(response, TOKEN_PATH)
        tokens = _parse_token_response(response, TOKEN_PATH, self._clock)
        # Persist the rotated refresh token BEFORE using the new access token: the old one dies 60 s from now.
        if tokens.refresh_token is not None and tokens.refresh_token.reveal() != refresh_token:
            self._store.save_refresh_token(tokens.refresh_token.reveal())
        self._access = tokens.access_token
        self._expires_at = tokens.expires_at
        self._generation += 1
        self.refresh_count += 1
        if tokens.scope:
            self.granted_scopes = tokens.scope
        logger.info("Qonto access token refreshed (expires in %.0f s)", tokens.expires_at - self._clock())

    def invalidate(self) -> None:
        """Forget the access token so the next request refreshes (after a consent change, in tests)."""
        with self._lock:
            self._access = None
            self._expires_at = 0.0

    # -- httpx.Auth -----------------------------------------------------------------------------------
    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token, generation = self._current()
        request.headers["Authorization"] = f"Bearer {token.reveal()}"
        response = yield request
        if response.status_code == 401:
            # The token may have been revoked or expired early (clock skew): refresh once and replay.
            token, _ = self._refresh_after_401(generation)
            request.headers["Authorization"] = f"Bearer {token.reveal()}"
            yield request

    async def async_auth_flow(self, request: httpx.Request):  # type: ignore[override]
        raise NotImplementedError("OAuthTokenAuth is synchronous; use httpx.Client")
        yield request  # pragma: no cover

    # -- revocation -----------------------------------------------------------------------------------
    def revoke(self, token: str | Secret | None = None) -> None:
        """POST /oauth2/revoke (RFC 7009; used by qontoctl, not documented by Qonto — UNCONFIRMED).

        Revokes `token`, or the stored refresh token when omitted, then forgets the access token.
        """
        value = _as_secret(token).reveal() if token is not None else self._store.load_refresh_token()
        if not value:
            return
        response = self._endpoint.post_form(
            REVOKE_PATH,
            {"client_id": self._client_id, "client_secret": self._client_secret.reveal(), "token": value},
        )
        if response.status_code not in (200, 204):
            raise _token_error(response, REVOKE_PATH)
        self.invalidate()

    def close(self) -> None:
        self._endpoint.close()
