"""The sync sensor's change probe against the real Qonto sandbox: one request, what counts as a change, and the
client kept between ticks (its access token reused, dropped on a disconnect)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from well_pipeline.adapters.secrets import QONTO_CLIENT_SECRET, QONTO_REFRESH_TOKEN, SecretStore, StoredRefreshToken
from well_pipeline.sandbox.qonto import QontoSandbox
from well_pipeline.services.qonto_connection import QontoConnectionConfig, QontoConnectionError
from well_pipeline.services.qonto_probe import PAGE_SIZE, PROBE_DEADLINE_S, PROBE_RETRIES, ProbeClients, probe_changes
from well_pipeline_tests.support.qonto_records import make_invoice, write_dataset
from well_pipeline_tests.support.qonto_sandbox import api_key_client, obtain_tokens, running_sandbox

NOW = datetime.now(UTC).replace(microsecond=0)
MARKER = NOW - timedelta(hours=1)


def invoice(n: int, updated: datetime) -> dict:
    return make_invoice(invoice_id=f"inv-{n:03d}", attachment_id=f"att-{n:03d}",
                        created_at=updated - timedelta(days=2), updated_at=updated)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    # Two records updated long before the marker, two after it.
    write_dataset(tmp_path / "dataset", [invoice(1, NOW - timedelta(days=5)), invoice(2, NOW - timedelta(days=4)),
                                         invoice(3, NOW - timedelta(minutes=30)),
                                         invoice(4, NOW - timedelta(minutes=20))])
    return tmp_path / "dataset"


@pytest.fixture
def sandbox(dataset: Path) -> Iterator[QontoSandbox]:
    with running_sandbox(dataset) as sb:
        yield sb


def test_one_request_lists_what_changed_since_the_marker_and_known_records_are_no_change(
        sandbox: QontoSandbox) -> None:
    with api_key_client(sandbox) as client:
        sandbox.reset_stats()
        first = probe_changes(client, MARKER, known=(), now=NOW)
        assert sandbox.stats()["api_requests"] == 1
        assert first.since == MARKER and first.asked_at == NOW
        assert first.total == 2 and first.received == 2 and first.unknown == 2 and first.changed
        assert "2 record(s) updated since" in first.describe() and "2 not stored yet" in first.describe()
        # What the last sync stored (the overlap re-lists it) is no change.
        again = probe_changes(client, MARKER, known=first.seen, now=NOW)
        assert again.unknown == 0 and not again.changed and again.seen == first.seen
        # No marker yet: everything is listed, and new.
        everything = probe_changes(client, None, known=first.seen)
        assert everything.total == 4 and everything.unknown == 2 and "since the start" in everything.describe()
        assert sandbox.stats()["api_requests"] == 3


def test_an_edit_of_a_stored_record_is_a_change(sandbox: QontoSandbox, dataset: Path) -> None:
    with api_key_client(sandbox) as client:
        known = probe_changes(client, MARKER, known=()).seen
        write_dataset(dataset, [invoice(1, NOW - timedelta(days=5)), invoice(2, NOW - timedelta(days=4)),
                                invoice(3, NOW - timedelta(minutes=30)), invoice(4, NOW - timedelta(minutes=5))])
        edited = probe_changes(client, MARKER, known=known)
        assert edited.total == 2 and edited.unknown == 1 and edited.changed


def test_more_changes_than_one_page_is_a_change_even_when_page_one_is_known(tmp_path: Path) -> None:
    records = [invoice(n, NOW - timedelta(minutes=50) + timedelta(seconds=n)) for n in range(PAGE_SIZE + 1)]
    write_dataset(tmp_path / "many", records)
    with running_sandbox(tmp_path / "many") as sandbox, api_key_client(sandbox) as client:
        sandbox.reset_stats()
        page = probe_changes(client, MARKER, known=())
        assert sandbox.stats()["api_requests"] == 1  # page 2 is never asked
        assert page.total == PAGE_SIZE + 1 and page.received == PAGE_SIZE
        known_page = probe_changes(client, MARKER, known=page.seen)
        assert known_page.unknown == 0 and known_page.changed  # the 101st record was not compared
        assert "1 beyond the first page" in known_page.describe()


# -- the client kept between ticks -----------------------------------------------------------------------------
@pytest.fixture
def connected(sandbox: QontoSandbox, tmp_path: Path) -> tuple[QontoConnectionConfig, SecretStore]:
    secrets = SecretStore(tmp_path / "secrets.enc.json", environ={})
    secrets.set(QONTO_CLIENT_SECRET, sandbox.config.client_secret)
    with httpx.Client() as http:
        StoredRefreshToken(secrets).save_refresh_token(obtain_tokens(http, sandbox)["refresh_token"])
    config = QontoConnectionConfig(api_url=sandbox.base_url, oauth_url=sandbox.base_url,
                                   client_id=sandbox.config.client_id)
    return config, secrets


def test_the_kept_client_reuses_its_access_token_so_a_quiet_probe_is_one_request(
        sandbox: QontoSandbox, connected: tuple[QontoConnectionConfig, SecretStore]) -> None:
    config, secrets = connected
    clients = ProbeClients()
    try:
        warm = clients.client(config, secrets)
        known = probe_changes(warm, MARKER, known=()).seen  # the first probe refreshes the access token
        sandbox.reset_stats()
        kept = clients.client(config, secrets)
        assert kept is warm
        assert not probe_changes(kept, MARKER, known=known).changed
        assert sandbox.stats()["requests"] == 1 and sandbox.stats()["by_path"] == {"/v2/supplier_invoices": 1}
        # A changed setting (say, the API URL's timeout) builds a new client.
        assert clients.client(replace(config, timeout_s=7.0), secrets) is not warm
    finally:
        clients.forget()


def test_a_disconnect_is_seen_before_any_request_and_drops_the_kept_client(
        sandbox: QontoSandbox, connected: tuple[QontoConnectionConfig, SecretStore]) -> None:
    config, secrets = connected
    clients = ProbeClients()
    kept = clients.client(config, secrets)
    secrets.delete(QONTO_REFRESH_TOKEN)
    sandbox.reset_stats()
    with pytest.raises(QontoConnectionError, match="not connected"):
        clients.client(config, secrets)
    assert sandbox.stats()["requests"] == 0
    with httpx.Client() as http:
        StoredRefreshToken(secrets).save_refresh_token(obtain_tokens(http, sandbox)["refresh_token"])
    again = clients.client(config, secrets)
    try:
        assert again is not kept
        assert probe_changes(again, MARKER, known=()).total == 2  # the new consent's token works
    finally:
        clients.forget()


def test_the_probe_client_fails_fast(connected: tuple[QontoConnectionConfig, SecretStore]) -> None:
    """A tick must end well inside Dagster's 60 s sensor timeout: one retry, a short deadline, whatever is set."""
    config, secrets = connected
    clients = ProbeClients()
    try:
        client = clients.client(replace(config, max_retries=9, request_deadline_s=300.0), secrets)
        assert client.config.max_retries == PROBE_RETRIES == 1
        assert client.config.request_deadline_s == PROBE_DEADLINE_S == 20.0
    finally:
        clients.forget()
