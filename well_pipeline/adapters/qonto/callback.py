"""The OAuth redirect catcher: a one-shot loopback HTTP server that receives Qonto's `?code=...&state=...`.

Why loopback only: the redirect carries a one-time authorization code. Listening on 127.0.0.1 or localhost keeps
it on this machine; the handler never logs the request line, so the code does not reach a terminal or a log.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

from well_pipeline.adapters.qonto.errors import QontoConfigError

__all__ = ["OAuthCallback"]


class OAuthCallback:
    """Listen on `redirect_uri` (a loopback address) for one request; use as a context manager, then `wait()`."""

    def __init__(self, redirect_uri: str) -> None:
        parsed = urlparse(redirect_uri)
        if parsed.hostname not in {"127.0.0.1", "localhost"}:
            raise QontoConfigError(f"qonto_redirect_uri {redirect_uri} is not a loopback address: Well receives "
                                   "Qonto's answer on this machine only (http://127.0.0.1:<port>/...)")
        self.params: dict[str, str] = {}
        self._received = threading.Event()
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                query = parse_qs(urlparse(self.path).query)
                catcher.params = {k: v[0] for k, v in query.items()}
                body = b"Well received Qonto's answer. You can close this tab."
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                catcher._received.set()

            def log_message(self, *args: object) -> None:  # keep the code out of stderr
                return

        self._server = HTTPServer((parsed.hostname, parsed.port or 80), Handler)
        self._thread = threading.Thread(target=self._server.handle_request, daemon=True)

    def __enter__(self) -> OAuthCallback:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.server_close()

    def wait(self, timeout_s: float) -> bool:
        """True once the redirect arrived (its query is in `params`), False after `timeout_s` without it."""
        return self._received.wait(timeout_s)
