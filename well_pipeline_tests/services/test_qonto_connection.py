"""The connection use cases against the real Qonto sandbox, a real secret store and the real loopback callback:
connect, status, disconnect, and every way connecting can go wrong without storing anything."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from well_pipeline.adapters.qonto import ApiKeyAuth, OAuthTokenAuth, QontoAuthError, QontoConfigError
from well_pipeline.adapters.secrets import QONTO_API_SECRET, QONTO_CLIENT_SECRET, QONTO_REFRESH_TOKEN, SecretStore
from well_pipeline.adapters.storage import DuckDBStorage
from well_pipeline.adapters.workspace_state import WorkspaceStateError, workspace_file
from well_pipeline.sandbox.qonto import QontoSandbox
from well_pipeline.services.history_window import resolve_history_start
from well_pipeline.services.qonto_connection import (
    QontoConnectionConfig,
    QontoConnectionError,
    build_auth,
    connect,
    connection_status,
    disconnect,
    open_client,
)
from well_pipeline.services.sync_marker import advance_after_sync
from well_pipeline_tests.support.permissions import mode, permissive_umask
from well_pipeline_tests.support.qonto_records import make_invoice, write_dataset
from well_pipeline_tests.support.qonto_sandbox import DEFAULT_SCOPE, free_port, running_sandbox


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[QontoSandbox]:
    write_dataset(tmp_path / "dataset", [make_invoice(invoice_id="inv-1")])
    with running_sandbox(tmp_path / "dataset") as sb:
        yield sb


@pytest.fixture
def secrets(tmp_path: Path) -> SecretStore:
    return SecretStore(tmp_path / "data" / "secrets.enc.json", environ={})


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    """Where the first connect fixes the backfill start (`<data_dir>/workspace.json`)."""
    return workspace_file(tmp_path / "data")


def config_for(sb: QontoSandbox) -> QontoConnectionConfig:
    return QontoConnectionConfig(api_url=sb.base_url, oauth_url=sb.base_url, client_id=sb.config.client_id,
                                 redirect_uri=f"http://127.0.0.1:{free_port()}/callback", scopes=DEFAULT_SCOPE)


def approve(url: str) -> None:
    """What the user's browser does: Qonto's sandbox approves at once and redirects to Well's callback."""
    answer = httpx.get(url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    httpx.get(answer.headers["location"])


def answer_with(**params: str):
    """A browser that comes back to the callback with `params` (plus the request's state unless given)."""
    def show(url: str) -> None:
        query = dict(httpx.URL(url).params)
        redirect = httpx.URL(query["redirect_uri"]).copy_merge_params({"state": query["state"], **params})
        httpx.get(redirect)
    return show


def test_connect_then_status_then_disconnect(sandbox: QontoSandbox, secrets: SecretStore, tmp_path: Path,
                                            state_file: Path) -> None:
    config = config_for(sandbox)
    secrets.set(QONTO_CLIENT_SECRET, sandbox.config.client_secret)
    assert connection_status(config, secrets, None).connected is False

    shown: list[str] = []
    scopes = connect(config, secrets, show_url=lambda url: (shown.append(url), approve(url)), timeout_s=30,
                     state_file=state_file).scopes
    assert "supplier_invoice.read" in scopes and secrets.get(QONTO_REFRESH_TOKEN) is not None
    assert shown and "code=" not in shown[0]  # the URL asks; the one-time code never reaches the caller

    with open_client(config, secrets) as client:  # the stored token works: the client refreshes with it
        assert client.get_organization()["id"]

    storage = DuckDBStorage(tmp_path / "well.duckdb", tmp_path / "attachments")
    synced = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
    advance_after_sync(storage.invoices, sync_started=synced, server_offset_s=None, listing_complete=True)
    status = connection_status(config, secrets, storage.invoices)
    assert (status.connected, status.problems, status.last_sync, status.invoices_stored) == (True, [], synced, 0)
    assert (status.api_url, status.auth_mode) == (sandbox.base_url, "oauth")

    outcome = disconnect(config, secrets)
    assert outcome.was_connected and secrets.get(QONTO_REFRESH_TOKEN) is None
    assert connection_status(config, secrets, storage.invoices).last_sync == synced  # the marker stays
    assert disconnect(config, secrets).was_connected is False  # nothing left to revoke


def test_disconnect_revokes_the_consent_at_qonto(sandbox: QontoSandbox, secrets: SecretStore,
                                                 state_file: Path) -> None:
    config = config_for(sandbox)
    secrets.set(QONTO_CLIENT_SECRET, sandbox.config.client_secret)
    connect(config, secrets, show_url=approve, timeout_s=30, state_file=state_file)
    refresh = secrets.get(QONTO_REFRESH_TOKEN).reveal()
    disconnect(config, secrets)
    answer = httpx.post(f"{sandbox.base_url}/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": refresh, "client_id": sandbox.config.client_id,
        "client_secret": sandbox.config.client_secret})
    assert answer.status_code in (400, 401)


@pytest.mark.parametrize("show,why", [
    (answer_with(state="forged", code="c0de"), "state does not match"),
    (answer_with(error="access_denied", error_description="the user said no"), "Qonto refused: access_denied the "
                                                                                  "user said no"),
    (lambda url: None, "no answer from Qonto in time"),
])
def test_a_failed_connect_stores_nothing(sandbox: QontoSandbox, secrets: SecretStore, state_file: Path, show,
                                         why: str) -> None:
    secrets.set(QONTO_CLIENT_SECRET, sandbox.config.client_secret)
    with pytest.raises(QontoConnectionError, match=why):
        connect(config_for(sandbox), secrets, show_url=show, timeout_s=0.5 if why.startswith("no answer") else 30,
                state_file=state_file)
    assert secrets.get(QONTO_REFRESH_TOKEN) is None
    assert not state_file.exists()  # nor is the backfill start fixed


def test_connect_says_what_is_missing_before_asking_qonto(sandbox: QontoSandbox, secrets: SecretStore,
                                                          state_file: Path) -> None:
    config = config_for(sandbox)
    never = []
    with pytest.raises(QontoConnectionError, match="set qonto_client_id first"):
        connect(replace(config, client_id=""), secrets, show_url=never.append, timeout_s=1, state_file=state_file)
    with pytest.raises(QontoConnectionError, match="well secrets set qonto_client_secret"):
        connect(config, secrets, show_url=never.append, timeout_s=1, state_file=state_file)
    secrets.set(QONTO_CLIENT_SECRET, sandbox.config.client_secret)
    with pytest.raises(QontoConfigError, match="not a loopback address"):
        connect(replace(config, redirect_uri="https://well.example.com/callback"), secrets, show_url=never.append,
                timeout_s=1, state_file=state_file)
    assert never == [] and not state_file.exists()


def test_build_auth_follows_the_mode_and_names_what_is_missing(sandbox: QontoSandbox, secrets: SecretStore) -> None:
    config = config_for(sandbox)
    secrets.set(QONTO_CLIENT_SECRET, sandbox.config.client_secret)
    with pytest.raises(QontoConnectionError, match="well qonto connect"):
        build_auth(config, secrets)  # OAuth, not connected yet
    with pytest.raises(QontoConnectionError, match="qonto_client_id is not set"):
        build_auth(replace(config, client_id=""), secrets)
    secrets.set(QONTO_REFRESH_TOKEN, sandbox.issue_tokens()["refresh_token"])
    assert isinstance(build_auth(config, secrets), OAuthTokenAuth)

    api_key = replace(config, auth_mode="api_key", api_login=sandbox.config.api_login)
    secrets.set(QONTO_API_SECRET, sandbox.config.api_secret)
    assert isinstance(build_auth(api_key, secrets), ApiKeyAuth)
    with open_client(api_key, secrets) as client:
        assert client.get_organization()["id"]
    with pytest.raises(QontoConnectionError, match="qonto_api_login is not set"):
        build_auth(replace(api_key, api_login=""), secrets)


def test_status_reports_a_broken_secret_store_without_guessing(sandbox: QontoSandbox, secrets: SecretStore) -> None:
    secrets.set(QONTO_CLIENT_SECRET, sandbox.config.client_secret)
    secrets.key_file.write_bytes(Fernet.generate_key())  # another key: nobody can tell whether Qonto is connected
    status = connection_status(config_for(sandbox), SecretStore(secrets.path, environ={}), None)
    assert status.connected is None and status.problems and status.invoices_stored is None


# -- the backfill window's first day is fixed by the first connect (issue 10) ---------------------------------


def test_the_first_connect_fixes_the_backfill_start_and_a_reconnect_keeps_it(sandbox: QontoSandbox,
                                                                             secrets: SecretStore,
                                                                             state_file: Path) -> None:
    config = config_for(sandbox)
    secrets.set(QONTO_CLIENT_SECRET, sandbox.config.client_secret)
    with permissive_umask():  # a file Well forgot to protect would come out 0644
        first = connect(config, secrets, show_url=approve, timeout_s=30, state_file=state_file,
                        now=datetime(2026, 3, 14, 9, 30, tzinfo=UTC))
    assert first.history_start_stored and first.history_start.day == date(2023, 3, 1)
    assert (first.history_start.source, first.history_start.first_connected_at) == (
        "stored", datetime(2026, 3, 14, 9, 30, tzinfo=UTC))
    assert mode(state_file) == 0o600 and mode(state_file.parent) == 0o700
    written = state_file.read_bytes()
    assert [p.name for p in state_file.parent.iterdir() if p.name.startswith(".workspace")] == []  # no draft left

    disconnect(config, secrets)
    # Two months later, the calendar rule would say 2023-05-01: the reconnect keeps the stored day.
    again = connect(config, secrets, show_url=approve, timeout_s=30, state_file=state_file,
                    now=datetime(2026, 5, 2, 8, 0, tzinfo=UTC))
    assert not again.history_start_stored and again.history_start == first.history_start
    assert state_file.read_bytes() == written
    assert resolve_history_start(None, state_file, today=date(2026, 5, 2)) == first.history_start


def test_a_damaged_workspace_file_stops_connect_before_qonto_is_asked(sandbox: QontoSandbox, secrets: SecretStore,
                                                                     state_file: Path) -> None:
    secrets.set(QONTO_CLIENT_SECRET, sandbox.config.client_secret)
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text('{"format": 1, "history_start": "not a day"}')
    shown: list[str] = []
    with pytest.raises(WorkspaceStateError, match="cannot be read") as caught:
        connect(config_for(sandbox), secrets, show_url=shown.append, timeout_s=1, state_file=state_file)
    assert str(state_file) in str(caught.value) and "history_start" in str(caught.value)
    assert shown == [] and secrets.get(QONTO_REFRESH_TOKEN) is None  # Qonto was not asked, nothing stored
    assert state_file.read_text() == '{"format": 1, "history_start": "not a day"}'  # and the file is left as is


def test_api_key_mode_connect_checks_the_key_and_fixes_the_start(sandbox: QontoSandbox, secrets: SecretStore,
                                                                state_file: Path) -> None:
    config = replace(config_for(sandbox), auth_mode="api_key", client_id="", api_login=sandbox.config.api_login)
    never: list[str] = []
    secrets.set(QONTO_API_SECRET, "not-the-key")
    with pytest.raises(QontoAuthError):
        connect(config, secrets, show_url=never.append, timeout_s=1, state_file=state_file)
    assert not state_file.exists()  # a key Qonto refuses fixes nothing

    secrets.set(QONTO_API_SECRET, sandbox.config.api_secret)
    before = sandbox.stats()["api_requests"]
    outcome = connect(config, secrets, show_url=never.append, timeout_s=1, state_file=state_file,
                      now=datetime(2026, 1, 31, 23, 59, tzinfo=UTC))
    assert sandbox.stats()["api_requests"] == before + 1  # one request: GET /v2/organization
    assert never == [] and outcome.scopes == ()
    assert outcome.history_start.day == date(2023, 1, 1) and outcome.history_start_stored
