"""Who is calling /v2: an API key (`Authorization: login:secret`, raw, not Base64) or an OAuth bearer.

The API key grants every read scope (Qonto documents it as a read-mostly key for the organisation);
bearer tokens carry the scopes of their consent. Missing, unknown, revoked and expired credentials all
answer 401; a valid credential lacking the endpoint's scope answers 403.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from .config import SandboxConfig
from .errors import ApiError, forbidden, unauthorized
from .oauth import KNOWN_SCOPES, OAuthStore

API_KEY_SCOPES = frozenset(scope for scope in KNOWN_SCOPES if scope.endswith(".read"))


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    kind: str  # "api_key" | "oauth"
    scopes: frozenset[str]
    grant_id: str | None = None


def authenticate(authorization: str | None, config: SandboxConfig, store: OAuthStore) -> Principal:
    """Resolve the Authorization header; raises ApiError(401)."""
    if not authorization or not authorization.strip():
        raise unauthorized("Missing Authorization header")
    value = authorization.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        token = rest.strip()
        check = store.check_access_token(token)
        if check.token is None:
            if check.reason == "expired":
                raise unauthorized("The access token has expired")
            raise unauthorized("The access token is invalid or has been revoked")
        return Principal("oauth", check.token.scopes, check.token.grant_id)
    if " " not in value and ":" in value:
        login, _, secret = value.partition(":")
        if secrets.compare_digest(login.encode(), config.api_login.encode()) and secrets.compare_digest(
            secret.encode(), config.api_secret.encode()
        ):
            return Principal("api_key", API_KEY_SCOPES)
        raise unauthorized("Invalid API key")
    raise unauthorized("Unsupported Authorization scheme; use 'Bearer <token>' or '<login>:<secret-key>'")


def require_any_scope(principal: Principal, scopes: Iterable[str]) -> None:
    """403 unless the caller holds at least one of `scopes`."""
    wanted = tuple(scopes)
    if not any(scope in principal.scopes for scope in wanted):
        raise forbidden(f"Missing required OAuth scope: {' or '.join(wanted)}")


def require_bearer(principal: Principal) -> str:
    """The grant id of an OAuth caller; API keys cannot revoke a consent."""
    if principal.kind != "oauth" or principal.grant_id is None:
        raise ApiError(403, "forbidden", "Consent revocation requires an OAuth access token")
    return principal.grant_id
