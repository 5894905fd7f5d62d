"""How a `QontoClient` reaches Qonto and how hard it may push: one typed value, validated once.

Why a value of its own: the Dagster resource and the `well qonto` commands both build clients from Well's settings;
with one frozen config they build it the same way, a bad value fails when the config is made (not on the first
request), and the client's constructor only wires parts together.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

from well_pipeline.adapters.qonto.deadline import DEFAULT_DEADLINE_S
from well_pipeline.adapters.qonto.errors import QontoConfigError
from well_pipeline.adapters.qonto.rate_limiter import RateLimiter
from well_pipeline.adapters.secrets.secret import Secret

__all__ = ["QontoClientConfig"]


@dataclass(frozen=True)
class QontoClientConfig:
    """Everything a `QontoClient` needs besides its credentials (the `httpx.Auth`).

    `api_url`: the API base, with or without a trailing `/v2` (https://thirdparty.qonto.com, or the sandbox URL).
    `staging_token`: sent on every API request (Qonto's sandbox), and given to an OAuth auth that has none.
    `requests_per_10s` / `requests_per_10min`: the client-side rate limit (0 disables the 10-minute window).
    `timeout_s`: one request's connect/read timeout; `request_deadline_s`: each network call as a whole (connect,
    headers, body), None disables it. `max_retries`: on 429, 5xx, timeouts and dropped connections, with
    exponential backoff between `backoff_base_s` and `backoff_max_s`.
    `download_concurrency` / `page_concurrency`: attachment downloads and list pages in flight at once.
    `verify`: True, a CA bundle path, an SSLContext, or False (loopback only); TLS 1.3 is the minimum.
    """

    api_url: str
    staging_token: Secret | None = field(default=None, repr=False)
    requests_per_10s: int = 950
    requests_per_10min: int = 9_500
    timeout_s: float = 30.0
    request_deadline_s: float | None = DEFAULT_DEADLINE_S
    max_retries: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    download_concurrency: int = 8
    page_concurrency: int = 4
    verify: ssl.SSLContext | str | bool = True

    def __post_init__(self) -> None:
        if self.download_concurrency < 1 or self.page_concurrency < 1:
            raise QontoConfigError("download_concurrency and page_concurrency must be >= 1")
        if self.max_retries < 0:
            raise QontoConfigError("max_retries must be >= 0")
        if self.request_deadline_s is not None and self.request_deadline_s <= 0:
            raise QontoConfigError("request_deadline_s must be > 0 (or None to disable)")
        if self.requests_per_10s < 1 or self.requests_per_10min < 0:
            raise QontoConfigError("requests_per_10s must be >= 1 and requests_per_10min >= 0")
        base = self.api_url.strip().rstrip("/")
        if base.endswith("/v2"):
            base = base[: -len("/v2")]
        object.__setattr__(self, "api_url", base)
        if isinstance(self.staging_token, str):
            object.__setattr__(self, "staging_token", Secret(self.staging_token))

    def rate_limiter(self) -> RateLimiter:
        """A fresh limiter with this config's windows (share one between clients to share the budget)."""
        return RateLimiter.from_limits(self.requests_per_10s, self.requests_per_10min)
