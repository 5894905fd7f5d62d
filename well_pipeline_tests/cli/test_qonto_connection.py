"""`well qonto connect | status | disconnect` against the sandbox: the connection lifecycle the FAQ promises."""

from __future__ import annotations

from pathlib import Path

import httpx
from click.testing import CliRunner

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
        store = SecretStore(tmp_path / "data" / "secrets.enc.json", environ={})
        refresh = store.get("qonto_refresh_token").reveal()
        assert refresh not in (tmp_path / "data" / "secrets.enc.json").read_text()
        assert "connected: yes" in runner.invoke(cli, ["qonto", "status"], env=env).output

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
