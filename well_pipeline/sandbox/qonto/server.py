"""QontoSandbox: the Qonto stand-in as a real HTTP/1.1 server on loopback (see docs/CONTRACTS.md).

ThreadingHTTPServer with daemon threads (one per connection, keep-alive with Content-Length on every
response) so dozens of concurrent clients with injected latency are served in parallel. With
`tls_cert`/`tls_key` the socket speaks TLS 1.3 only; the handshake runs in the connection's own thread so
one slow or refused client (e.g. TLS 1.2-only) never stalls the accept loop.

One server can serve several organisations (`SandboxConfig.organizations`), each isolated from the others;
`QontoSandbox.organizations` gives each one's name, dataset directory and credentials.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from .app import SandboxApp
from .clock import Clock, system_clock
from .config import OrgConfig, SandboxConfig
from .context import SandboxContext
from .faults import FaultRegistry
from .handlers.control import stats_snapshot
from .messages import Request, Response
from .organizations import Organization, Organizations
from .rate_limit import SlidingWindowLimiter, Window
from .signing import UrlSigner
from .stats import Stats

logger = logging.getLogger("well.sandbox.qonto")

MAX_BODY_BYTES = 1 << 20


class _Handler(BaseHTTPRequestHandler):
    """Adapts http.server to SandboxApp; owns keep-alive, body reading and disconnect faults."""

    protocol_version = "HTTP/1.1"
    server_version = "qonto-sandbox"
    sys_version = ""
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle + delayed ACK add ~40 ms each.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        # Per-connection idle timeout: a silent keep-alive connection frees its thread after this long.
        self.request.settimeout(self.server.sandbox_config.idle_timeout_s)
        super().setup()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError, ssl.SSLError, OSError):
            self.close_connection = True

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is None:
            return
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=split.path or "/",
            query_string=split.query,
            headers=self.headers,  # type: ignore[arg-type]  # email.message.Message: case-insensitive get()
            body=body,
            client_ip=self.client_address[0],
        )
        response = self.server.app.handle(request)
        if response.disconnect:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._write(response, head_only=self.command == "HEAD")

    def _read_body(self) -> bytes | None:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            total = 0
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY_BYTES:
                    self.send_error(413)
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(chunks)
        length_header = self.headers.get("Content-Length")
        if not length_header:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            self.send_error(400, "Bad Content-Length")
            return None
        if length < 0 or length > MAX_BODY_BYTES:
            self.send_error(413)
            return None
        return self.rfile.read(length)

    def _write(self, response: Response, *, head_only: bool) -> None:
        if response.trickle_bps is not None:
            self._write_slowly(response, head_only=head_only)
            return
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head_only and response.body:
            self.wfile.write(response.body)
        self.wfile.flush()

    def _write_slowly(self, response: Response, *, head_only: bool) -> None:
        """The slow_body fault: send the response at `trickle_bps` bytes per second, a few bytes at a time.

        Stops (and closes the connection) when the client hangs up or the sandbox stops; either way the
        stats say whether the whole response went out, so a test can tell a client cut the trickle short.
        """
        assert response.trickle_bps is not None
        ctx = self.server.app.ctx
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Connection", "close")
        self.close_connection = True
        self._headers_buffer.append(b"\r\n")  # what end_headers() would add before flushing
        head = b"".join(self._headers_buffer)
        self._headers_buffer = []
        body = b"" if head_only else response.body
        if not response.trickle_headers:
            self.wfile.write(head)
            self.wfile.flush()
            head = b""
        data = head + body
        step = max(1, int(response.trickle_bps / 20))  # ~20 writes a second, so a hang-up is noticed quickly
        sent = 0
        try:
            while sent < len(data):
                if ctx.stop_event.is_set():
                    break
                self.wfile.write(data[sent:sent + step])
                self.wfile.flush()
                sent += step
                if sent < len(data):
                    ctx.pause(step / response.trickle_bps)
        except OSError:  # the client hung up: the usual ending when its deadline cut the trickle
            pass
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        self.server.app.ctx.stats.slow_body_ended(cut=sent < len(data))

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = _dispatch

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silenced: SandboxApp logs one line per request without query strings."""

    def log_message(self, format: str, *args: Any) -> None:  # stdlib signature
        """http.server's own messages (malformed requests); query strings are cut, they may hold codes."""
        cleaned = tuple(arg.split("?", 1)[0] if isinstance(arg, str) else arg for arg in args)
        logger.debug("http.server: " + format, *cleaned)


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that tracks connections (so stop() can close keep-alive ones) and does TLS."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], config: SandboxConfig, app: SandboxApp) -> None:
        self.request_queue_size = config.request_queue_size
        self.sandbox_config = config
        self.app = app
        self.ssl_context: ssl.SSLContext | None = None
        if config.tls_enabled:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_3
            context.load_cert_chain(str(config.tls_cert), str(config.tls_key))
            self.ssl_context = context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        try:
            request.settimeout(10)
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            logger.debug("TLS handshake with %s failed: %s", client_address[0], exc)
            return
        with self._connections_lock:
            self._connections.add(tls)
        try:
            super().finish_request(tls, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(tls)
            with contextlib.suppress(OSError):
                tls.close()

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection from %s ended with an error", client_address[0], exc_info=True)

    def close_all_connections(self) -> None:
        """Shut every open connection so idle keep-alive threads exit promptly."""
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                connection.close()


class QontoSandbox:
    """A running (or startable) Qonto sandbox serving /oauth2/*, /v2/*, /_files/* and /_sandbox/*."""

    def __init__(
        self,
        data_dir: str | Path,
        config: SandboxConfig | None = None,
        *,
        clock: Clock = system_clock,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.config = config or SandboxConfig()
        windows = [
            Window(self.config.rate_limit_requests, self.config.rate_limit_window_s),
            Window(self.config.long_rate_limit_requests, self.config.long_rate_limit_window_s),
        ]
        orgs = Organizations(self.data_dir, self.config, clock)
        self._ctx = SandboxContext(
            config=self.config,
            clock=clock,
            orgs=orgs,
            signer=UrlSigner(),
            faults=FaultRegistry(tuple(orgs.names())),
            stats=Stats(),
            limiter=SlidingWindowLimiter(windows, clock),
        )
        self._app = SandboxApp(self._ctx)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # ----- lifecycle -------------------------------------------------------------------------------
    def start(self) -> QontoSandbox:
        """Bind (port 0 = ephemeral) and serve in a background daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("sandbox already started")
        self._ctx.stop_event.clear()
        server = _Server((self.config.host, self.config.port), self.config, self._app)
        self._server = server
        self._port = int(server.server_address[1])
        self._ctx.base_url = self.base_url
        self._ctx.orgs.set_issuer(self.base_url)
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="qonto-sandbox", daemon=True
        )
        self._thread.start()
        for org in self._ctx.orgs:
            logger.info("Qonto sandbox serving %s: organisation %s from %s", self.base_url, org.name, org.data_dir)
        return self

    def stop(self) -> None:
        """Stop accepting, wake sleeping requests, close open connections."""
        server, self._server = self._server, None
        if server is None:
            return
        self._ctx.stop_event.set()
        server.shutdown()
        server.close_all_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> QontoSandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ----- addresses -------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (after start; still readable after stop)."""
        if self._port is None:
            raise RuntimeError("sandbox not started")
        return self._port

    @property
    def base_url(self) -> str:
        """http(s)://HOST:PORT; serves both the OAuth and the API paths."""
        scheme = "https" if self.config.tls_enabled else "http"
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}"

    # ----- organisations -----------------------------------------------------------------------------
    @property
    def organizations(self) -> dict[str, OrgConfig]:
        """Every served organisation by name, the default one first: name, data_dir and credentials
        (client_id, client_secret, api_login, api_secret; public sandbox-only values)."""
        return {org.name: org.credentials for org in self._ctx.orgs}

    def organization(self, name: str | None = None) -> OrgConfig:
        """One organisation's name, data_dir and credentials (the default one for None); KeyError if unknown."""
        return self._ctx.orgs.get(name).credentials

    def _org(self, name: str | None) -> Organization:
        return self._ctx.orgs.get(name)

    # ----- test hooks (same as the /_sandbox control endpoints; `org` = their ?org=) ----------------
    def add_fault(
        self,
        path_prefix: str = "/",
        kind: str = "status",
        times: int | None = 1,
        *,
        org: str | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """Arm a fault (see faults.py), for one organisation's requests only when `org` is given; returns
        its description. Raises ValueError if invalid."""
        spec = {"path_prefix": path_prefix, "kind": kind, "times": times, **params}
        if org is not None:
            spec["org"] = org
        return self._ctx.faults.add(spec).describe()

    def clear_faults(self, org: str | None = None) -> None:
        """Disarm every fault (only `org`'s when given)."""
        self._ctx.faults.clear(org)

    def faults(self, org: str | None = None) -> list[dict[str, Any]]:
        """Faults still armed (only `org`'s when given)."""
        return self._ctx.faults.active(org)

    def expire_access_tokens(self, org: str | None = None) -> int:
        """Expire every access token issued so far (by `org` only when given); returns how many were live."""
        orgs = [self._org(org)] if org is not None else list(self._ctx.orgs)
        return sum(each.oauth.expire_access_tokens() for each in orgs)

    def stats(self, org: str | None = None) -> dict[str, Any]:
        """Counters: requests, api_requests, rate_limited, downloads, by_path (+ by_status, ...); the global
        ones with each organisation's under `by_organization`, or only `org`'s when given (same keys)."""
        return stats_snapshot(self._ctx, self._org(org) if org is not None else None)

    def reset_stats(self, org: str | None = None) -> None:
        """Zero the counters (all of them, or only `org`'s)."""
        if org is not None:
            self._org(org).stats.reset()
            return
        self._ctx.stats.reset()
        for each in self._ctx.orgs:
            each.stats.reset()

    def reset_rate_limits(self) -> None:
        """Forget rate-limit history (all client IPs)."""
        self._ctx.limiter.reset()

    def reload(self, org: str | None = None) -> int:
        """Re-read datasets now (every one, or `org`'s); returns the invoices loaded for `org` (default one)."""
        targets = [self._org(org)] if org is not None else list(self._ctx.orgs)
        for each in targets:
            each.dataset.force_reload()
        return len(self._org(org).dataset.current().rows)

    def issue_tokens(
        self,
        scopes: str = "offline_access supplier_invoice.read attachment.read organization.read",
        *,
        org: str | None = None,
    ) -> dict[str, Any]:
        """Run the code flow in-process (no HTTP) for `org` (default one) and return the token response, for
        tests of other layers."""
        target = self._org(org)
        client_id = target.credentials.client_id
        redirect_uri = "http://127.0.0.1/callback"
        code = target.oauth.create_code(client_id=client_id, redirect_uri=redirect_uri, scopes=tuple(scopes.split()))
        return target.oauth.exchange_code(
            client_id=client_id, code=code, redirect_uri=redirect_uri, code_verifier=None
        )
