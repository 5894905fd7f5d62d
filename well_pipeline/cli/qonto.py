"""`well qonto`: connect (OAuth approval in Qonto), disconnect (revoke) and status.

Connecting follows Qonto's manual OAuth flow: Well prints the authorize URL, the user approves in Qonto in
their own browser, Qonto redirects to Well's loopback callback with a one-time code, and Well trades it for
tokens, keeping only the refresh token, encrypted. Disconnecting revokes the consent at Qonto and forgets the
token; the sync marker and every stored record stay, so reconnecting resumes from the last successful sync.
"""

from __future__ import annotations

import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import click
import httpx

from well_pipeline.adapters.qonto import OAuthTokenAuth, QontoError, build_authorize_url, exchange_code
from well_pipeline.adapters.secrets import (
    QONTO_CLIENT_SECRET,
    QONTO_REFRESH_TOKEN,
    QONTO_STAGING_TOKEN,
    StoredRefreshToken,
)
from well_pipeline.adapters.storage import Database, InvoiceRepository
from well_pipeline.cli.common import printable
from well_pipeline.cli.secrets import SecretErrorsGroup, open_store
from well_pipeline.defs.resources import build_resources
from well_pipeline.services.qonto_ingest import SYNC_MARKER
from well_pipeline.settings import load_settings


class _CallbackCatcher:
    """A one-shot loopback HTTP server that receives Qonto's redirect (`?code=...&state=...`)."""

    def __init__(self, redirect_uri: str) -> None:
        parsed = urlparse(redirect_uri)
        if parsed.hostname not in {"127.0.0.1", "localhost"}:
            raise click.ClickException(f"qonto_redirect_uri {redirect_uri} is not a loopback address; "
                                       "use --code with the code Qonto gave you instead")
        self.params: dict[str, str] = {}
        self.received = threading.Event()
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
                catcher.received.set()

            def log_message(self, *args: object) -> None:  # keep the code out of stderr
                return

        self.server = HTTPServer((parsed.hostname, parsed.port or 80), Handler)
        self.thread = threading.Thread(target=self.server.handle_request, daemon=True)

    def __enter__(self) -> _CallbackCatcher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.server_close()


@click.group(cls=SecretErrorsGroup)
def qonto() -> None:
    """Connection to the Qonto Business API."""


@qonto.command()
@click.option("--no-browser", is_flag=True, help="Only print the authorize URL.")
@click.option("--sandbox-approve", is_flag=True,
              help="Approve automatically by visiting the URL here (the local Qonto sandbox only).")
@click.option("--timeout", default=600, show_default=True, help="Seconds to wait for the approval (code lives 10 min).")
def connect(no_browser: bool, sandbox_approve: bool, timeout: int) -> None:
    """Approve Well in Qonto (OAuth 2.0) and store the refresh token, encrypted."""
    settings = load_settings()
    store = open_store(settings)
    if not settings.qonto_client_id:
        raise click.ClickException("set qonto_client_id first (well.toml or WELL_QONTO_CLIENT_ID)")
    client_secret = store.get(QONTO_CLIENT_SECRET)
    if client_secret is None:
        raise click.ClickException("store the OAuth client secret first: well secrets set qonto_client_secret")
    request = build_authorize_url(settings.qonto_oauth_url, settings.qonto_client_id, settings.qonto_redirect_uri,
                                  settings.qonto_scopes)
    with _CallbackCatcher(settings.qonto_redirect_uri) as catcher:
        click.echo("Open this URL and approve Well in Qonto:\n  " + request.url)
        if sandbox_approve:
            staging = store.get(QONTO_STAGING_TOKEN)
            headers = {"X-Qonto-Staging-Token": staging.reveal()} if staging else {}
            answer = httpx.get(request.url, headers=headers, follow_redirects=False, timeout=30)
            if answer.status_code != 302:
                raise click.ClickException(f"the sandbox did not approve (HTTP {answer.status_code})")
            httpx.get(answer.headers["location"], timeout=30)
        elif not no_browser:
            webbrowser.open(request.url)
        if not catcher.received.wait(timeout):
            raise click.ClickException("no answer from Qonto in time; run `well qonto connect` again")
    params = catcher.params
    if params.get("state") != request.state:
        raise click.ClickException("the answer's state does not match this request (possible CSRF); nothing stored")
    if "code" not in params:
        raise click.ClickException(f"Qonto refused: {params.get('error', 'no code')} "
                                   f"{params.get('error_description', '')}".strip())
    tokens = exchange_code(settings.qonto_oauth_url, settings.qonto_client_id, client_secret, params["code"],
                           settings.qonto_redirect_uri, token_store=StoredRefreshToken(store),
                           staging_token=store.get(QONTO_STAGING_TOKEN), deadline_s=settings.qonto_request_deadline_s)
    if tokens.refresh_token is None:
        raise click.ClickException("Qonto returned no refresh token: add offline_access to qonto_scopes")
    click.echo(f"Connected to Qonto. Granted scopes: {printable(' '.join(tokens.scope))}")


@qonto.command()
def disconnect() -> None:
    """Revoke Well's access at Qonto and forget the token (stored records and the sync marker are kept)."""
    settings = load_settings()
    store = open_store(settings)
    if store.get(QONTO_REFRESH_TOKEN) is None:
        click.echo("Qonto is not connected; nothing to revoke")
        return
    resource = build_resources(settings)["qonto"]
    auth = resource.build_auth()
    with resource.build_client(auth) as client:
        client.revoke_consent()  # documented: DELETE /v2/oauth2/consents
    if isinstance(auth, OAuthTokenAuth):
        try:
            auth.revoke()  # POST /oauth2/revoke: not documented by Qonto (UNCONFIRMED), so best effort
        except QontoError as exc:
            click.echo(f"note: token revocation answered {type(exc).__name__}; the consent itself is revoked")
    store.delete(QONTO_REFRESH_TOKEN)
    click.echo("Disconnected from Qonto. Stored invoices, the review queue and the sync marker are kept.")


@qonto.command()
def status() -> None:
    """Connection state and the last successful sync (reads only: creates no key, no file)."""
    settings = load_settings()
    store = open_store(settings)
    click.echo(f"api: {settings.qonto_api_url}  auth: {settings.qonto_auth_mode}")
    health = store.check()  # a lost or wrong key shows here even when no refresh token is stored
    if health.ok:
        connected = "yes" if store.get(QONTO_REFRESH_TOKEN) is not None else "no"
    else:  # still show the sync state, then fail with the recovery steps
        connected = "unknown (secret store problem, below)"
    click.echo(f"connected: {connected}")
    click.echo(f"secret store: {'ok' if health.ok else f'{len(health.problems)} problem(s), below'}")
    database = Database(settings.duckdb_path)
    if settings.duckdb_path.exists():
        with database.connect(read_only=True) as con:
            marker = InvoiceRepository().get_marker(con, SYNC_MARKER)
            count = con.execute("SELECT count(*) FROM qonto_supplier_invoices").fetchone()[0]
        click.echo(f"last successful sync: {marker or 'never'}")
        click.echo(f"invoices stored: {count}")
    else:
        click.echo("no data yet")
    if not health.ok:
        raise click.ClickException("\n\n".join(health.problems))
