"""Configuration of the Qonto sandbox.

Defaults mirror Qonto's documented behaviour (1 h access tokens, 60 s refresh grace, 10 min codes, 30 min
download URLs, 1,000 req / 10 s and 10,000 req / 10 min per IP) so that a client tuned against the sandbox
is tuned for the real thing; tests shrink the durations instead of sleeping.

The credentials below are public sandbox-only demo values (documented in the README); they grant access to
nothing but a sandbox on loopback.

Several organisations: the dataset directory given to QontoSandbox is the *default* organisation, with the
credentials below; `organizations` adds more, each with its own dataset directory and its own credentials
(`OrgConfig`, derived from its name unless given), so one server can stand in for the Qonto accounts of
several workspaces (docs/CONTRACTS.md "Qonto sandbox").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# An organisation's name is its API-key login and appears in URLs and credentials: keep it a plain slug.
ORG_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class OrgConfig:
    """One extra organisation: its name, its dataset directory and its public sandbox-only credentials.

    Credentials left empty are derived from the name (`derived_credentials`), so a test or the CLI only
    names the organisation and its dataset; they are deterministic so another process can know them too.
    """

    name: str
    data_dir: Path | str
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    api_login: str = ""
    api_secret: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if not ORG_NAME_PATTERN.match(self.name):
            raise ValueError(
                f"organisation name {self.name!r}: use lower-case letters, digits, '-' or '_' (at most 63)"
            )
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        for key, value in derived_credentials(self.name).items():
            if not getattr(self, key):
                object.__setattr__(self, key, value)
        if ":" in self.api_login or " " in self.api_login:
            raise ValueError("an API login cannot contain ':' or spaces (the API key is '<login>:<secret>')")


def derived_credentials(name: str) -> dict[str, str]:
    """The public demo credentials of organisation `name` (documented; sandbox-only, grant nothing real)."""
    return {
        "client_id": f"well-sandbox-client-{name}",
        "client_secret": f"well-sandbox-client-secret-{name}",
        "api_login": name,
        "api_secret": f"well-sandbox-api-secret-{name}",
    }


@dataclass(frozen=True)
class SandboxConfig:
    """Everything that shapes the sandbox's behaviour; immutable once the server runs."""

    # Demo credentials (OAuth client and API key).
    client_id: str = "well-sandbox-client"
    client_secret: str = "well-sandbox-client-secret"
    api_login: str = "well-demo-org"
    api_secret: str = "well-sandbox-api-secret"
    # Organisations served besides the default one (the QontoSandbox's own data directory, named
    # `api_login`, with the credentials above); each is isolated from the others (docs/CONTRACTS.md).
    organizations: tuple[OrgConfig, ...] = ()
    # When set, requests without a matching X-Qonto-Staging-Token get Qonto's HTML 200 page.
    staging_token: str | None = None
    # OAuth lifetimes (seconds; floats so tests can use fractions).
    access_token_ttl_s: float = 3600
    refresh_token_ttl_s: float = 90 * 86400
    refresh_grace_s: float = 60
    code_ttl_s: float = 600
    # Redirect URIs accepted by /oauth2/auth; None accepts any absolute http(s) URI (sandbox convenience,
    # the real Qonto only accepts URIs registered in the Developer Portal).
    allowed_redirect_uris: tuple[str, ...] | None = None
    # Ory Hydra revokes the whole token family when a rotated refresh token is replayed after the grace
    # period; Qonto runs Hydra, but whether this is enabled there is UNCONFIRMED.
    revoke_family_on_refresh_reuse: bool = True
    # Pre-signed attachment URLs.
    download_url_ttl_s: float = 1800
    # Rate limits per client IP (sliding windows); long window disabled when long_rate_limit_requests == 0.
    rate_limit_requests: int = 1000
    rate_limit_window_s: float = 10.0
    long_rate_limit_requests: int = 10000
    long_rate_limit_window_s: float = 600.0
    send_retry_after: bool = True
    # Qonto counts requests per client IP (reference §7), so organisations called from one host share one
    # budget, as several workspaces on one Well host would at Qonto. True gives each organisation its own
    # budget per IP (as if each workspace had its own egress address).
    rate_limit_per_organization: bool = False
    # Records created more than this many years ago are hidden everywhere (0 disables).
    exposure_years: int = 3
    # Added before answering every /v2, /oauth2 and download request.
    latency_ms: int = 0
    host: str = "127.0.0.1"
    port: int = 0
    tls_cert: Path | str | None = None
    tls_key: Path | str | None = None
    # Timezone in which "today" is evaluated for filter[due_date] (Qonto is a French bank; UNCONFIRMED).
    business_timezone: str = "Europe/Paris"
    # Server plumbing: pending-connection backlog and idle keep-alive timeout.
    request_queue_size: int = 128
    idle_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key must be set together")
        if self.rate_limit_requests < 0 or self.long_rate_limit_requests < 0:
            raise ValueError("rate limits must be >= 0")
        if self.rate_limit_window_s <= 0 or self.long_rate_limit_window_s <= 0:
            raise ValueError("rate limit windows must be > 0")
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        self._check_organizations()

    def _check_organizations(self) -> None:
        """Names, client ids and API logins must each pick out one organisation; datasets are not shared."""
        names = [self.api_login, *(org.name for org in self.organizations)]
        client_ids = [self.client_id, *(org.client_id for org in self.organizations)]
        logins = [self.api_login, *(org.api_login for org in self.organizations)]
        for what, values in (("name", names), ("client_id", client_ids), ("API login", logins)):
            duplicates = sorted({value for value in values if values.count(value) > 1})
            if duplicates:
                raise ValueError(f"organisation {what} used twice: {', '.join(duplicates)}")
        dirs = [Path(org.data_dir).resolve() for org in self.organizations]
        if len(set(dirs)) != len(dirs):
            raise ValueError("each organisation needs its own dataset directory")

    @property
    def tls_enabled(self) -> bool:
        """True when the server must speak TLS (1.3 only)."""
        return self.tls_cert is not None
