"""OAuth 2.0 state of the sandbox: authorization codes, grants, access and refresh tokens.

Modelled on Ory Hydra, which Qonto runs (token prefixes ory_ac_/ory_at_/ory_rt_):
- codes live `code_ttl_s` (10 min), are single-use and bound to client_id + redirect_uri; replaying a code
  fails and revokes what it issued (RFC 6749 §4.1.2 advice, Hydra behaviour; UNCONFIRMED at Qonto);
- refresh tokens rotate: each use returns a new pair, and the used token stays valid for
  `refresh_grace_s` (60 s) after its *first* use, then answers invalid_grant (replay after the grace
  revokes the whole grant when `revoke_family_on_refresh_reuse`, as Hydra does);
- a "grant" is one completed consent (one code exchange); revoking it kills its refresh and access tokens.
There is no user, login or consent screen: `/oauth2/auth` approves at once (see handlers.oauth).
One store per served organisation (organizations.py): its client, codes, grants and tokens are unknown to
every other organisation's store, so another organisation's code or refresh token answers invalid_grant.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import secrets
import threading
import uuid
from dataclasses import dataclass, field

from .clock import Clock, system_clock
from .config import SandboxConfig

# Exact scope strings from Qonto's docs (reference §2); unknown scopes are refused with invalid_scope.
KNOWN_SCOPES = frozenset(
    {
        "openid",
        "offline_access",
        "organization.read",
        "supplier_invoice.read",
        "supplier_invoice.write",
        "attachment.read",
        "attachment.write",
        "membership.read",
        "membership.write",
        "internal_transfer.write",
        "payment.write",
        "client_invoices.read",
        "client_invoice.write",
        "client.read",
        "client.write",
        "product.read",
        "product.write",
        "request_review.read",
        "request_review.write",
        "team.read",
        "team.write",
        "request_transfers.write",
        "insurance_contract.read",
        "insurance_contract.write",
        "card.read",
        "card.write",
        "bank_account.write",
        "beneficiary.trust",
        "webhook",
        "payment_link.read",
        "payment_link.write",
        "sepa_direct_debit.read",
        "sepa_direct_debit.write",
        "terminal.read",
        "terminal.write",
        "subscription.read",
    }
)

INVALID_GRANT_DESCRIPTION = (
    "The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh "
    "token is invalid, expired, revoked, does not match the redirection URI used in the authorization "
    "request, or was issued to another client."
)
INVALID_CLIENT_DESCRIPTION = (
    "Client authentication failed (e.g., unknown client, no client authentication included, or "
    "unsupported authentication method)."
)


class OAuthError(Exception):
    """An Ory-style OAuth error: `{"error", "error_description"}` with 400 or 401 (shape UNCONFIRMED)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description


def invalid_grant(hint: str) -> OAuthError:
    """400 invalid_grant with Hydra's generic description and a specific hint."""
    return OAuthError(400, "invalid_grant", f"{INVALID_GRANT_DESCRIPTION} {hint}")


@dataclass
class AuthorizationCode:
    """A code returned by /oauth2/auth, waiting to be exchanged."""

    code: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    organization_id: str | None
    expires_at: float
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    used: bool = False
    grant_id: str | None = None


@dataclass
class Grant:
    """One consent: all tokens minted from one code exchange belong to it."""

    id: str
    client_id: str
    scopes: tuple[str, ...]
    organization_id: str | None
    subject: str
    auth_time: float
    revoked: bool = False


@dataclass
class AccessToken:
    """A bearer token for /v2."""

    token: str
    grant_id: str
    scopes: frozenset[str]
    expires_at: float
    revoked: bool = False


@dataclass
class RefreshToken:
    """A rotating refresh token."""

    token: str
    grant_id: str
    client_id: str
    expires_at: float
    first_used_at: float | None = None
    revoked: bool = False


@dataclass
class TokenCheck:
    """Outcome of validating a bearer token: the token, or why it was refused."""

    token: AccessToken | None
    reason: str = ""
    grant: Grant | None = None


def _token(prefix: str) -> str:
    """Hydra-shaped opaque token: <prefix><key>.<signature>."""
    return f"{prefix}{secrets.token_urlsafe(32)}.{secrets.token_urlsafe(32)}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pkce_s256(verifier: str) -> str:
    """The S256 code_challenge for a code_verifier (RFC 7636)."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclass
class OAuthStore:
    """All OAuth state, guarded by one lock (token calls are rare next to API calls)."""

    config: SandboxConfig
    clock: Clock = system_clock
    issuer: str = "http://127.0.0.1"
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    _grants: dict[str, Grant] = field(default_factory=dict)
    _access: dict[str, AccessToken] = field(default_factory=dict)
    _refresh: dict[str, RefreshToken] = field(default_factory=dict)

    # ----- client authentication -------------------------------------------------------------------
    def authenticate_client(self, client_id: str | None, client_secret: str | None) -> None:
        """Raise invalid_client unless the body carries the right client_id + client_secret."""
        if (
            not client_id
            or not client_secret
            or not secrets.compare_digest(client_id, self.config.client_id)
            or not secrets.compare_digest(client_secret.encode(), self.config.client_secret.encode())
        ):
            raise OAuthError(401, "invalid_client", INVALID_CLIENT_DESCRIPTION)

    # ----- authorization codes ---------------------------------------------------------------------
    def create_code(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        scopes: tuple[str, ...],
        organization_id: str | None = None,
        code_challenge: str | None = None,
        code_challenge_method: str | None = None,
    ) -> str:
        """Mint a code as if the user had just approved the consent screen."""
        code = AuthorizationCode(
            code=_token("ory_ac_"),
            client_id=client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            organization_id=organization_id,
            expires_at=self.clock() + self.config.code_ttl_s,
            code_challenge=code_challenge,
            code_challenge_method=code_challenge_method,
        )
        with self._lock:
            self._codes[code.code] = code
        return code.code

    def exchange_code(
        self, *, client_id: str, code: str | None, redirect_uri: str | None, code_verifier: str | None
    ) -> dict[str, object]:
        """authorization_code grant -> token response body."""
        if not code:
            raise OAuthError(400, "invalid_request", "The request is missing the 'code' parameter.")
        now = self.clock()
        with self._lock:
            entry = self._codes.get(code)
            if entry is None:
                raise invalid_grant("The authorization code is unknown.")
            if entry.used:
                if entry.grant_id:
                    self._revoke_grant_locked(entry.grant_id)
                raise invalid_grant("The authorization code has already been used.")
            if now >= entry.expires_at:
                raise invalid_grant("The authorization code has expired.")
            if entry.client_id != client_id:
                raise invalid_grant("The authorization code was issued to another client.")
            if redirect_uri != entry.redirect_uri:
                raise invalid_grant(
                    "The 'redirect_uri' does not match the one used in the authorization request."
                )
            if entry.code_challenge is not None:
                if not code_verifier:
                    raise invalid_grant("The PKCE code_verifier is missing.")
                expected = (
                    pkce_s256(code_verifier) if entry.code_challenge_method == "S256" else code_verifier
                )
                if not secrets.compare_digest(expected, entry.code_challenge):
                    raise invalid_grant("The PKCE code_verifier does not match the code_challenge.")
            entry.used = True
            grant = Grant(
                id=uuid.uuid4().hex,
                client_id=client_id,
                scopes=entry.scopes,
                organization_id=entry.organization_id,
                subject=str(uuid.uuid5(uuid.NAMESPACE_URL, f"well-sandbox-user:{client_id}")),
                auth_time=now,
            )
            self._grants[grant.id] = grant
            entry.grant_id = grant.id
            return self._issue_locked(grant, now, with_id_token=True)

    # ----- refresh ---------------------------------------------------------------------------------
    def refresh(self, *, client_id: str, refresh_token: str | None) -> dict[str, object]:
        """refresh_token grant with rotation and grace period -> token response body."""
        if not refresh_token:
            raise OAuthError(400, "invalid_request", "The request is missing the 'refresh_token' parameter.")
        now = self.clock()
        with self._lock:
            entry = self._refresh.get(refresh_token)
            if entry is None or entry.revoked:
                raise invalid_grant("The refresh token is unknown or has been revoked.")
            grant = self._grants.get(entry.grant_id)
            if grant is None or grant.revoked:
                raise invalid_grant("The refresh token has been revoked.")
            if entry.client_id != client_id:
                raise invalid_grant("The refresh token was issued to another client.")
            if now >= entry.expires_at:
                raise invalid_grant("The refresh token has expired.")
            if entry.first_used_at is None:
                entry.first_used_at = now
            elif now - entry.first_used_at > self.config.refresh_grace_s:
                if self.config.revoke_family_on_refresh_reuse:
                    self._revoke_grant_locked(grant.id)
                raise invalid_grant("The refresh token has already been used and its grace period is over.")
            return self._issue_locked(grant, now, with_id_token=True)

    def _issue_locked(self, grant: Grant, now: float, *, with_id_token: bool) -> dict[str, object]:
        access = AccessToken(
            token=_token("ory_at_"),
            grant_id=grant.id,
            scopes=frozenset(grant.scopes),
            expires_at=now + self.config.access_token_ttl_s,
        )
        self._access[access.token] = access
        body: dict[str, object] = {
            "access_token": access.token,
            "expires_in": max(1, math.ceil(self.config.access_token_ttl_s)),
        }
        if "offline_access" in grant.scopes:
            refresh = RefreshToken(
                token=_token("ory_rt_"),
                grant_id=grant.id,
                client_id=grant.client_id,
                expires_at=now + self.config.refresh_token_ttl_s,
            )
            self._refresh[refresh.token] = refresh
            body["refresh_token"] = refresh.token
        if with_id_token and "openid" in grant.scopes:
            body["id_token"] = self._id_token(grant, access.token, now)
        body["scope"] = " ".join(grant.scopes)
        body["token_type"] = "bearer"
        return body

    def _id_token(self, grant: Grant, access_token: str, now: float) -> str:
        """A JWT-shaped id_token with Qonto's claims; the 'signature' is random bytes (never verify it)."""
        header = {
            "alg": "RS256",
            "kid": f"private:{uuid.uuid5(uuid.NAMESPACE_URL, self.issuer)}",
            "typ": "JWT",
        }
        iat = int(now)
        claims = {
            "at_hash": _b64url(hashlib.sha256(access_token.encode()).digest()[:16]),
            "aud": [grant.client_id],
            "auth_time": int(grant.auth_time),
            "email": f"{self.config.api_login}@example.invalid",
            "exp": iat + max(1, math.ceil(self.config.access_token_ttl_s)),
            "iat": iat,
            "iss": self.issuer,
            "jti": str(uuid.uuid4()),
            "rat": int(grant.auth_time),
            "sid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"session:{grant.id}")),
            "sub": grant.subject,
        }
        parts = [
            _b64url(json.dumps(header, separators=(",", ":")).encode()),
            _b64url(json.dumps(claims, separators=(",", ":")).encode()),
            _b64url(secrets.token_bytes(256)),
        ]
        return ".".join(parts)

    # ----- validation, revocation ------------------------------------------------------------------
    def knows_access_token(self, token: str) -> bool:
        """True if this store issued `token` (whatever its state): which organisation a bearer belongs to."""
        with self._lock:
            return token in self._access

    def check_access_token(self, token: str) -> TokenCheck:
        """Validate a bearer token; `reason` says why not ("unknown", "revoked", "expired")."""
        now = self.clock()
        with self._lock:
            entry = self._access.get(token)
            if entry is None:
                return TokenCheck(None, "unknown")
            grant = self._grants.get(entry.grant_id)
            if entry.revoked or grant is None or grant.revoked:
                return TokenCheck(None, "revoked")
            if now >= entry.expires_at:
                return TokenCheck(None, "expired")
            return TokenCheck(entry, grant=grant)

    def revoke_token(self, token: str) -> None:
        """RFC 7009 revoke: a refresh token kills its grant (and access tokens); an access token only itself.

        Unknown tokens are ignored (RFC 7009 §2.2 answers 200 anyway).
        """
        with self._lock:
            refresh = self._refresh.get(token)
            if refresh is not None:
                self._revoke_grant_locked(refresh.grant_id)
                return
            access = self._access.get(token)
            if access is not None:
                access.revoked = True

    def revoke_consent(self, grant_id: str) -> int:
        """DELETE /v2/oauth2/consents: the app loses access to the organisation.

        A consent is per client and organisation, so every grant of that pair is revoked (this store is one
        organisation's, so other organisations stay connected). Returns grants revoked.
        """
        with self._lock:
            grant = self._grants.get(grant_id)
            if grant is None:
                return 0
            targets = [
                g.id
                for g in self._grants.values()
                if not g.revoked
                and g.client_id == grant.client_id
                and g.organization_id == grant.organization_id
            ]
            for target in targets:
                self._revoke_grant_locked(target)
            return len(targets)

    def _revoke_grant_locked(self, grant_id: str) -> None:
        grant = self._grants.get(grant_id)
        if grant is not None:
            grant.revoked = True
        for refresh in self._refresh.values():
            if refresh.grant_id == grant_id:
                refresh.revoked = True
        for access in self._access.values():
            if access.grant_id == grant_id:
                access.revoked = True

    def expire_access_tokens(self) -> int:
        """Make every access token issued so far expired now; returns how many were still live."""
        now = self.clock()
        count = 0
        with self._lock:
            for access in self._access.values():
                if access.expires_at > now:
                    access.expires_at = now
                    count += 1
        return count
