"""The connection use cases against the real Qonto sandbox, a real secret store and the real loopback callback:
connect, status, disconnect, and every way connecting can go wrong without storing anything."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from well_pipeline.adapters.qonto import ApiKeyAuth, OAuthTokenAuth, QontoConfigError
from well_pipeline.adapters.secrets import QONTO_API_SECRET, QONTO_CLIENT_SECRET, QONTO_REFRESH_TOKEN, SecretStore
from well_pipeline.adapters.storage import DuckDBStorage
from well_pipeline.sandbox.qonto import QontoSandbox
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


def test_connect_then_status_then_disconnect(sandbox: QontoSandbox, secrets: SecretStore, tmp_path: Path) -> None:
    config = config_for(sandbox)
    secrets.set(QONTO_CLIENT_SECRET, sandbox.config.client_secret)
    assert connection_status(config, secrets, None).connected is False

    shown: list[str] = []
    scopes = connect(config, secrets, show_url=lambda url: (shown.append(url), approve(url)), timeout_s=30)
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


def test_disconnect_revokes_the_consent_at_qonto(sandbox: QontoSandbox, secrets: SecretStore) -> None:
    config = config_for(sandbox)
    secrets.set(QONTO_CLIENT_SECRET, sandbox.config.client_secret)
    connect(config, secrets, show_url=approve, timeout_s=30)
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
def test_a_failed_connect_stores_nothing(sandbox: QontoSandbox, secrets: SecretStore, show, why: str) -> None:
    secrets.set(QONTO_CLIENT_SECRET, sandbox.config.client_secret)
    with pytest.raises(QontoConnectionError, match=why):
        connect(config_for(sandbox), secrets, show_url=show, timeout_s=0.5 if why.startswith("no answer") else 30)
    assert secrets.get(QONTO_REFRESH_TOKEN) is None


def test_connect_says_what_is_missing_before_asking_qonto(sandbox: QontoSandbox, secrets: SecretStore) -> None:
    config = config_for(sandbox)
    never = []
    with pytest.raises(QontoConnectionError, match="set qonto_client_id first"):
        connect(replace(config, client_id=""), secrets, show_url=never.append, timeout_s=1)
    with pytest.raises(QontoConnectionError, match="well secrets set qonto_client_secret"):
        connect(config, secrets, show_url=never.append, timeout_s=1)
    secrets.set(QONTO_CLIENT_SECRET, sandbox.config.client_secret)
    with pytest.raises(QontoConfigError, match="not a loopback address"):
        connect(replace(config, redirect_uri="https://well.example.com/callback"), secrets, show_url=never.append,
                timeout_s=1)
    assert never == []


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
