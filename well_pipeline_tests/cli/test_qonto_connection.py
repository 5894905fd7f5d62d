"""`well qonto connect | status | disconnect` against the sandbox: the connection lifecycle the FAQ promises."""

from __future__ import annotations

from pathlib import Path

import httpx
from click.testing import CliRunner

from well_pipeline.adapters import workspace_state
from well_pipeline.adapters.secrets import SecretStore
from well_pipeline.cli.main import cli
from well_pipeline_tests.support.qonto_records import make_invoice, write_dataset
from well_pipeline_tests.support.qonto_sandbox import free_port, running_sandbox


def test_connect_status_disconnect_and_reconnect(tmp_path: Path) -> None:
    write_dataset(tmp_path / "dataset", [make_invoice()])
    with running_sandbox(tmp_path / "dataset") as sandbox:
        env = {"WELL_DATA_DIR": str(tmp_path / "data"), "WELL_QONTO_API_URL": sandbox.base_url,
               "WELL_QONTO_OAUTH_URL": sandbox.base_url, "WELL_QONTO_CLIENT_ID": sandbox.config.client_id,
               "WELL_QONTO_REDIRECT_URI": f"http://127.0.0.1:{free_port()}/callback",
               "WELL_DEMO": sandbox.config.client_secret}
        runner = CliRunner()
        missing = runner.invoke(cli, ["qonto", "connect", "--sandbox-approve"], env=env)
        assert missing.exit_code != 0 and "well secrets set qonto_client_secret" in missing.output
        stored = runner.invoke(cli, ["secrets", "set", "qonto_client_secret", "--value-from-env", "WELL_DEMO"],
                               env=env)
        assert stored.exit_code == 0

        connected = runner.invoke(cli, ["qonto", "connect", "--sandbox-approve"], env=env)
        assert connected.exit_code == 0, connected.output
        assert "supplier_invoice.read" in connected.output
        assert "code=" not in connected.output  # the one-time code never reaches the terminal
        stored = workspace_state.read(tmp_path / "data" / "workspace.json")
        assert stored is not None and stored.history_start.day == 1  # three years back, 1st of the month
        first_day = stored.history_start
        assert f"Backfill window starts {first_day} (fixed now)." in connected.output
        store = SecretStore(tmp_path / "data" / "secrets.enc.json", environ={})
        refresh = store.get("qonto_refresh_token").reveal()
        assert refresh not in (tmp_path / "data" / "secrets.enc.json").read_text()
        shown = runner.invoke(cli, ["qonto", "status"], env=env).output
        assert "connected: yes" in shown and f"backfill window starts: {first_day} (fixed by the first connect" in shown

        disconnected = runner.invoke(cli, ["qonto", "disconnect"], env=env)
        assert disconnected.exit_code == 0, disconnected.output
        assert store.get("qonto_refresh_token") is None
        # Qonto no longer honours the old refresh token.
        answer = httpx.post(f"{sandbox.base_url}/oauth2/token", data={
            "grant_type": "refresh_token", "refresh_token": refresh, "client_id": sandbox.config.client_id,
            "client_secret": sandbox.config.client_secret})
        assert answer.status_code in (400, 401)
        assert "connected: no" in runner.invoke(cli, ["qonto", "status"], env=env).output

        again = runner.invoke(cli, ["qonto", "connect", "--sandbox-approve"], env=env)
        assert again.exit_code == 0 and store.get("qonto_refresh_token") is not None
        assert f"Backfill window starts {first_day} (kept from the first connect)." in again.output

        # The setting wins while it is set, and says so; the stored day is untouched.
        widened = runner.invoke(cli, ["qonto", "status"], env={**env, "WELL_HISTORY_START": "2021-06-01"}).output
        assert "backfill window starts: 2021-06-01 (the history_start setting)" in widened


def test_status_names_a_damaged_workspace_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "workspace.json").write_text("{not json")
    result = CliRunner().invoke(cli, ["qonto", "status"], env={"WELL_DATA_DIR": str(data)})
    assert result.exit_code == 1, result.output
    assert "backfill window starts: unknown" in result.output
    assert f"workspace file {data / 'workspace.json'} cannot be read" in result.output
    assert "Traceback" not in result.output
