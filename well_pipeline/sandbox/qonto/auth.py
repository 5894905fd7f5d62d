"""Who is calling /v2: an API key (`Authorization: login:secret`, raw, not Base64) or an OAuth bearer.

The API key grants every read scope (Qonto documents it as a read-mostly key for the organisation);
bearer tokens carry the scopes of their consent. Missing, unknown, revoked and expired credentials all
answer 401; a valid credential lacking the endpoint's scope answers 403.

Each credential belongs to one organisation (organizations.py) and the principal carries it: the handlers
serve only that organisation's data. A bearer token is looked up in the store of the organisation that
issued it; an API key by its login, then checked against that organisation's secret.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import ApiError, forbidden, unauthorized
from .oauth import KNOWN_SCOPES
from .organizations import Organization, Organizations

API_KEY_SCOPES = frozenset(scope for scope in KNOWN_SCOPES if scope.endswith(".read"))


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    kind: str  # "api_key" | "oauth"
    scopes: frozenset[str]
    org: Organization
    grant_id: str | None = None


def authenticate(authorization: str | None, orgs: Organizations) -> Principal:
    """Resolve the Authorization header to a caller of one organisation; raises ApiError(401)."""
    if not authorization or not authorization.strip():
        raise unauthorized("Missing Authorization header")
    value = authorization.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        token = rest.strip()
        org = orgs.by_access_token(token)
        check = org.oauth.check_access_token(token) if org is not None else None
        if org is None or check is None or check.token is None:
            if check is not None and check.reason == "expired":
                raise unauthorized("The access token has expired")
            raise unauthorized("The access token is invalid or has been revoked")
        return Principal("oauth", check.token.scopes, org, check.token.grant_id)
    if " " not in value and ":" in value:
        login, _, secret = value.partition(":")
        org = orgs.by_api_login(login)
        if org is not None and secrets.compare_digest(
            secret.encode(), org.credentials.api_secret.encode()
        ):
            return Principal("api_key", API_KEY_SCOPES, org)
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
