"""The FAQ, walked end to end once (issue 10, "Show" item 2): real Qonto and Melio inbox sandboxes on loopback, the
`well` CLI, a Dagster instance in a DAGSTER_HOME with the project's dagster.yaml, a real DuckDB file.

1. connect (`well qonto connect`, the sandbox's OAuth approval) and backfill (`invoice_pipeline` over every
   partition, one run);
2. a new invoice appears in Qonto: after one tick (sensor → run) it is in the Melio inbox;
3. a quiet tick launches nothing and costs one Qonto request;
4. disconnect: the sandbox saw the revoke, the sensor skips, the review queue is intact;
5. reconnect: the next tick resumes from the marker (its window starts at marker − overlap, not from scratch);
6. rewind the marker (`well qonto rewind`) and re-import: no e-mail sent twice, no row duplicated.

The sensor is evaluated as the daemon does (its cursor kept in the instance: support/sync_sensor.py) and each run
it requests is executed with the request's run config and run key.
"""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import pytest
from click.testing import CliRunner

from well_pipeline.adapters.secrets import QONTO_REFRESH_TOKEN, SecretStore
from well_pipeline.adapters.storage import DuckDBStorage
from well_pipeline.cli.main import cli
from well_pipeline.defs.workspace.factory import build_workspace
from well_pipeline.sandbox.melio import InboxConfig, MelioInbox
from well_pipeline.services import review
from well_pipeline.services.sync_cursor import rewind_cursor
from well_pipeline.settings import load_settings
from well_pipeline.workspaces import load_workspaces
from well_pipeline_tests.defs.conftest import BILLS, DAY0, IBAN, INBOX_ADDRESS, VENDORS, clean_invoices
from well_pipeline_tests.support.qonto_records import make_invoice, write_dataset
from well_pipeline_tests.support.qonto_sandbox import free_port, running_sandbox
from well_pipeline_tests.support.sync_sensor import (
    ROOT,
    daemon_tick,
    declare_sensor,
    fresh_invoice,
    launch,
    marker_of,
    only_request,
    reported_markers,
    skip_text,
    stored_cursor,
    window,
)


def stranger() -> dict:
    """A record scoring cannot link: it waits in the review queue through everything below."""
    return make_invoice(invoice_id="q-stranger", attachment_id="att-stranger", created_at=DAY0 + timedelta(hours=5),
                        invoice_number="S-1", status="awaiting_payment", supplier_name="Quincaillerie Inconnue",
                        iban=None, vat_number=None)


def inbox_ids(inbox: MelioInbox) -> Counter[str]:
    return Counter(message.header("X-Well-Qonto-Id") for message in inbox.messages())


def test_the_faq_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As scripts/dev.py sets it: a whole-history range run logs one "planned" event per asset, not ~3,300 per day.
    monkeypatch.setenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")
    dataset = tmp_path / "dataset"
    qonto_records = [*clean_invoices(3), stranger()]
    write_dataset(dataset, qonto_records)
    data = tmp_path / "data"
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    runner = CliRunner()
    with (running_sandbox(dataset) as sandbox,
          MelioInbox(tmp_path / "inbox", InboxConfig(port=0, tls_port=0)) as inbox,
          dg.DagsterInstance.from_config(str(home)) as instance):
        for name, value in {
            "WELL_DATA_DIR": str(data), "WELL_QONTO_API_URL": sandbox.base_url,
            "WELL_QONTO_OAUTH_URL": sandbox.base_url, "WELL_QONTO_CLIENT_ID": sandbox.config.client_id,
            "WELL_QONTO_REDIRECT_URI": f"http://127.0.0.1:{free_port()}/callback",
            "WELL_MELIO_INBOX_ADDRESS": INBOX_ADDRESS, "WELL_SMTP_HOST": "127.0.0.1", "WELL_SMTP_PORT": str(inbox.port),
            "WELL_SMTP_SECURITY": "starttls", "WELL_SMTP_USERNAME": InboxConfig().username,
            "WELL_SMTP_FROM_ADDRESS": "well@papeterie-client.example", "WELL_SMTP_CA_FILE": str(inbox.cert_path),
            "DAGSTER_HOME": str(home), "FAQ_QONTO_SECRET": sandbox.config.client_secret,
            "FAQ_SMTP_PASSWORD": InboxConfig().password,
        }.items():
            monkeypatch.setenv(name, value)
        for secret, variable in (("qonto_client_secret", "FAQ_QONTO_SECRET"), ("smtp_password", "FAQ_SMTP_PASSWORD")):
            assert runner.invoke(cli, ["secrets", "set", secret, "--value-from-env", variable]).exit_code == 0
        (data / "melio").mkdir(parents=True, exist_ok=True)
        (data / "melio" / "vendors.csv").write_text(VENDORS)
        (data / "melio" / "bills.csv").write_text(BILLS)
        settings = load_settings()
        (workspace,) = load_workspaces(settings)  # no workspace file: the default workspace `main`
        ws = build_workspace(workspace)  # what the code location builds, its sensor and jobs
        overlap = timedelta(minutes=settings.sync_overlap_minutes)
        declare_sensor(instance)  # the daemon's first evaluation stores the sensor's state

        # 1. Connect and backfill. Before the Melio exports are loaded, the sensor waits (nothing is scored).
        connected = runner.invoke(cli, ["qonto", "connect", "--sandbox-approve"])
        assert connected.exit_code == 0, connected.output
        assert "waits for the first Melio export load" in skip_text(daemon_tick(ws, instance))
        assert dg.materialize(list(ws.melio_assets), instance=instance).success
        backfill = dg.materialize([ws.pipeline], instance=instance, tags={
            "dagster/asset_partition_range_start": ws.partitions.get_first_partition_key(),
            "dagster/asset_partition_range_end": ws.partitions.get_last_partition_key()})
        assert backfill.success
        (backfilled,) = reported_markers(instance, backfill.run_id)  # a backfill reaching the present sets it
        assert set(inbox_ids(inbox)) == {"d0-000", "d0-001", "d0-002"}
        storage = DuckDBStorage(settings.duckdb_path, settings.attachments_dir)
        queue = review.list_queue(storage, limit=None)
        assert [entry.qonto_id for entry in queue.entries] == ["q-stranger"]

        # 2. A new invoice appears in Qonto: one tick asks for a sync from the backfill's marker, its run delivers it.
        new = fresh_invoice("new-1", iban=IBAN)
        write_dataset(dataset, qonto_records := [*qonto_records, new])
        request = only_request(daemon_tick(ws, instance))
        assert marker_of(stored_cursor(instance)) == backfilled
        assert window(request)["updated_from"] == (backfilled - overlap).isoformat()
        assert launch(ws, instance, request).success
        assert inbox_ids(inbox)["new-1"] == 1

        # 3. A quiet tick launches nothing and costs one request (the first after the run settles it).
        settled = daemon_tick(ws, instance)
        marker = marker_of(stored_cursor(instance))
        assert marker is not None and marker > backfilled
        assert f"No change since {marker.isoformat()}" in skip_text(settled)
        runs = len(instance.get_runs())
        sandbox.reset_stats()
        quiet = daemon_tick(ws, instance)
        assert f"No change since {marker.isoformat()}" in skip_text(quiet)
        assert sandbox.stats()["requests"] == 1 and sandbox.stats()["api_requests"] == 1
        assert len(instance.get_runs()) == runs

        # 4. Disconnect: Qonto revokes the consent, the sensor skips saying so, the review queue is kept.
        refresh = SecretStore(settings.secrets_path, environ={}).get(QONTO_REFRESH_TOKEN)
        assert refresh is not None
        disconnected = runner.invoke(cli, ["qonto", "disconnect"])
        assert disconnected.exit_code == 0, disconnected.output
        assert sandbox.stats()["by_path"].get("/v2/oauth2/consents") == 1  # the revoke reached Qonto
        refused = httpx.post(f"{sandbox.base_url}/oauth2/token", data={
            "grant_type": "refresh_token", "refresh_token": refresh.reveal(),
            "client_id": sandbox.config.client_id, "client_secret": sandbox.config.client_secret})
        assert refused.status_code in (400, 401)
        later = fresh_invoice("new-2", iban=IBAN)  # arrives in Qonto while Well is disconnected
        write_dataset(dataset, qonto_records := [*qonto_records, later])
        skipped = skip_text(daemon_tick(ws, instance))
        assert "Qonto is not connected" in skipped and marker.isoformat() in skipped
        assert review.list_queue(storage, limit=None) == queue
        assert len(instance.get_runs()) == runs and marker_of(stored_cursor(instance)) == marker

        # 5. Reconnect: the next tick resumes from the marker (minus the overlap), not from scratch.
        again = runner.invoke(cli, ["qonto", "connect", "--sandbox-approve"])
        assert again.exit_code == 0 and "kept from the first connect" in again.output
        resumed = only_request(daemon_tick(ws, instance))
        assert window(resumed)["updated_from"] == (marker - overlap).isoformat()
        assert launch(ws, instance, resumed).success
        assert inbox_ids(inbox)["new-2"] == 1
        assert "No change since" in skip_text(daemon_tick(ws, instance))

        # 6. Rewind the marker before every record and re-import: nothing e-mailed twice, no row duplicated.
        since = (DAY0 - timedelta(days=1)).date().isoformat()
        rewound = runner.invoke(cli, ["qonto", "rewind", since])
        assert rewound.exit_code == 0, rewound.output
        to = datetime.fromisoformat(f"{since}T00:00:00+00:00")
        assert stored_cursor(instance) == rewind_cursor(to)  # the sensor's marker, in the instance
        reimport = only_request(daemon_tick(ws, instance))
        assert window(reimport)["updated_from"] == (to - overlap).isoformat()
        assert launch(ws, instance, reimport).success
        assert "No change since" in skip_text(daemon_tick(ws, instance))
        assert review.list_queue(storage, limit=None).entries == queue.entries

    sent = inbox_ids(inbox)
    assert set(sent) == {"d0-000", "d0-001", "d0-002", "new-1", "new-2"} and set(sent.values()) == {1}
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT id) FROM qonto_supplier_invoices").fetchone() == (6, 6)
        assert con.execute("SELECT count(*), count(DISTINCT qonto_id) FROM outbox").fetchone() == (5, 5)
