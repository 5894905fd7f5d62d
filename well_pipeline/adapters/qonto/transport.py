"""Transport-level policy shared by the API client, the download client and the OAuth client.

Why one place: TLS and "which hosts may be reached in clear text" are security decisions; having one
function decide them means the API, the OAuth host and pre-signed downloads cannot drift apart.

- https: certificate verification on, and **TLS 1.3 minimum** — the product promises TLS 1.3 in transit, so
  a server (or a middlebox) that would negotiate TLS 1.2 fails the handshake instead of silently weakening
  the promise.
- http: allowed only for loopback hosts (127.0.0.0/8, ::1, localhost), i.e. the local sandbox.
- `verify=False` is allowed only for loopback hosts too.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
from functools import lru_cache
from importlib import metadata
from urllib.parse import urlsplit

import httpx

from well_pipeline.adapters.qonto.errors import TRACE_HEADER, QontoConfigError

# httpx logs every request URL at INFO. Well's URLs can carry credentials (the OAuth `code` on the redirect,
# the signature of a pre-signed attachment URL), so those loggers stay at WARNING; Well logs its own
# redacted request lines instead.
for _name in ("httpx", "httpcore"):
    if logging.getLogger(_name).level < logging.WARNING:
        logging.getLogger(_name).setLevel(logging.WARNING)

__all__ = [
    "STAGING_HEADER",
    "TRACE_HEADER",
    "build_ssl_context",
    "install_httpx_log_redaction",
    "is_html",
    "is_json_content_type",
    "is_loopback_host",
    "safe_url",
    "tls_failure",
    "user_agent",
]

STAGING_HEADER = "X-Qonto-Staging-Token"


@lru_cache(maxsize=1)
def user_agent() -> str:
    """`well/<version>` so Qonto support can identify our traffic."""
    try:
        version = metadata.version("well-pipeline")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        version = "0"
    return f"well/{version}"


def is_loopback_host(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_ssl_context(url: str, verify: ssl.SSLContext | str | bool = True) -> ssl.SSLContext | bool:
    """The `verify` value to give httpx for `url`, enforcing the policy in the module docstring.

    `verify` may be True (system/certifi CAs), a CA bundle path (e.g. the sandbox's self-signed cert), an
    SSLContext (its minimum version is raised to TLS 1.3 if lower), or False (loopback only).
    Raises QontoConfigError for plain http or disabled verification towards a non-loopback host.
    """
    parts = urlsplit(url)
    scheme = (parts.scheme or "").lower()
    host = parts.hostname or ""
    if scheme not in ("http", "https") or not host:
        raise QontoConfigError(f"Qonto URL must be an absolute http(s) URL, got {url!r}")
    loopback = is_loopback_host(host)
    if scheme == "http":
        if not loopback:
            raise QontoConfigError(
                f"Refusing plain http to {host!r}: Qonto traffic must use https (TLS 1.3); "
                "http is only allowed for a loopback sandbox (127.0.0.1, ::1, localhost)"
            )
        return True  # irrelevant for http
    if verify is False:
        if not loopback:
            raise QontoConfigError(f"Refusing to disable TLS certificate verification for {host!r}")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif isinstance(verify, ssl.SSLContext):
        context = verify
    elif isinstance(verify, str) and verify:
        context = ssl.create_default_context(cafile=verify)
    else:
        context = _default_context()
    if context.minimum_version < ssl.TLSVersion.TLSv1_3:  # MINIMUM_SUPPORTED (-2) is lower too
        context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


def _default_context() -> ssl.SSLContext:
    try:
        import certifi  # httpx's own dependency: same CA set as httpx's default

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover
        return ssl.create_default_context()


def is_json_content_type(response: httpx.Response) -> bool:
    """application/json or any `+json` media type."""
    media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def is_html(response: httpx.Response) -> bool:
    """An HTML page (by content type, or by a body that starts like one when the type is missing/odd)."""
    media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media in ("text/html", "application/xhtml+xml"):
        return True
    if is_json_content_type(response):
        return False
    try:
        head = response.content[:64].lstrip().lower()
    except httpx.ResponseNotRead:
        return False
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))


_TLS_MARKERS = {
    "CERTIFICATE_VERIFY_FAILED": "TLS certificate not trusted (pass verify=<CA bundle> for a private CA)",
    "TLSV1_ALERT_PROTOCOL_VERSION": "the server does not speak TLS 1.3, which Well requires",
    "UNSUPPORTED_PROTOCOL": "the server does not speak TLS 1.3, which Well requires",
    "NO_PROTOCOLS_AVAILABLE": "the server does not speak TLS 1.3, which Well requires",
    "WRONG_VERSION_NUMBER": "TLS handshake failed (is the URL https on a plain-http port?)",
}


def tls_failure(exc: BaseException) -> str | None:
    """A permanent TLS problem behind an httpx.ConnectError, described; None for anything transient."""
    if not isinstance(exc, httpx.ConnectError):
        return None
    text = " ".join(str(e) for e in (exc, exc.__cause__, exc.__context__) if e is not None)
    for marker, description in _TLS_MARKERS.items():
        if marker in text:
            return description
    return None


_SENSITIVE_QUERY_MARKERS = ("sig", "token", "key", "credential", "secret", "auth", "expires", "security", "code")


def safe_url(url: httpx.URL | str, *, keep_query: bool = True) -> str:
    """URL for logs: scheme://host/path plus only non-sensitive query parameters (values of signature,
    token, key… parameters are replaced by ***)."""
    url = httpx.URL(str(url))
    base = f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}{url.path}"
    if not keep_query or not url.query:
        return base
    parts = []
    for name, value in url.params.multi_items():
        lowered = name.lower()
        if any(marker in lowered for marker in _SENSITIVE_QUERY_MARKERS):
            value = "***"
        parts.append(f"{name}={value}")
    return base + "?" + "&".join(parts)


class _RedactUrlFilter(logging.Filter):
    """Rewrites httpx's "HTTP Request: GET <url>" INFO lines so pre-signed URL signatures never get logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(arg, httpx.URL) for arg in record.args):
            record.args = tuple(safe_url(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args)
        return True


_redaction_installed = False


def install_httpx_log_redaction() -> None:
    """Attach the URL-redacting filter to the `httpx` logger once per process (idempotent)."""
    global _redaction_installed
    if _redaction_installed:
        return
    logging.getLogger("httpx").addFilter(_RedactUrlFilter())
    _redaction_installed = True
