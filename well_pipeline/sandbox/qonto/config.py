"""Configuration of the Qonto sandbox.

Defaults mirror Qonto's documented behaviour (1 h access tokens, 60 s refresh grace, 10 min codes, 30 min
download URLs, 1,000 req / 10 s and 10,000 req / 10 min per IP) so that a client tuned against the sandbox
is tuned for the real thing; tests shrink the durations instead of sleeping.

The credentials below are public sandbox-only demo values (documented in the README); they grant access to
nothing but a sandbox on loopback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SandboxConfig:
    """Everything that shapes the sandbox's behaviour; immutable once the server runs."""

    # Demo credentials (OAuth client and API key).
    client_id: str = "well-sandbox-client"
    client_secret: str = "well-sandbox-client-secret"
    api_login: str = "well-demo-org"
    api_secret: str = "well-sandbox-api-secret"
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

    @property
    def tls_enabled(self) -> bool:
        """True when the server must speak TLS (1.3 only)."""
        return self.tls_cert is not None
