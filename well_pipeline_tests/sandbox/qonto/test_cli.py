"""`well sandbox qonto`: serves until stopped (with `--org` organisations too), prints the address and
credential names, no secrets."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from click.testing import CliRunner

from well_pipeline.cli.sandbox import sandbox
from well_pipeline.sandbox.qonto import OrgConfig, SandboxConfig
from well_pipeline_tests.support.cli_process import startup_output
from well_pipeline_tests.support.qonto_records import make_invoice, write_dataset

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_cli_serves_the_dataset_and_stops_on_sigterm(tmp_path):
    write_dataset(tmp_path, [make_invoice(invoice_id="from-cli")])
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from well_pipeline.cli.sandbox import sandbox; sandbox()",
            "qonto",
            "--data",
            str(tmp_path),
            "--port",
            "0",
            "--latency-ms",
            "1",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = startup_output(process)
        match = re.search(r"serving (http://127\.0\.0\.1:\d+)", output)
        assert match, output
        config = SandboxConfig()
        assert config.client_id in output and config.api_login in output
        assert config.client_secret not in output and config.api_secret not in output
        response = httpx.get(
            f"{match.group(1)}/v2/supplier_invoices",
            headers={"Authorization": f"{config.api_login}:{config.api_secret}"},
            timeout=5,
        )
        assert [r["id"] for r in response.json()["supplier_invoices"]] == ["from-cli"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()


def test_cli_serves_more_organisations_with_org_and_prints_no_secret(tmp_path):
    write_dataset(tmp_path / "demo", [make_invoice(invoice_id="demo-1")])
    write_dataset(tmp_path / "acme", [make_invoice(invoice_id="acme-1")])
    process = subprocess.Popen(
        [sys.executable, "-c", "from well_pipeline.cli.sandbox import sandbox; sandbox()", "qonto",
         "--data", str(tmp_path / "demo"), "--org", f"acme={tmp_path / 'acme'}", "--port", "0"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        output = startup_output(process)
        match = re.search(r"serving (http://127\.0\.0\.1:\d+)", output)
        assert match, output
        acme = OrgConfig("acme", tmp_path / "acme")
        assert "organisation acme" in output and acme.client_id in output and "API key login: acme" in output
        assert acme.client_secret not in output and acme.api_secret not in output
        for login, secret, expected in (("acme", acme.api_secret, "acme-1"),
                                        (SandboxConfig.api_login, SandboxConfig.api_secret, "demo-1")):
            response = httpx.get(f"{match.group(1)}/v2/supplier_invoices",
                                 headers={"Authorization": f"{login}:{secret}"}, timeout=5)
            assert [r["id"] for r in response.json()["supplier_invoices"]] == [expected]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()


def test_cli_refuses_a_malformed_or_ambiguous_org(tmp_path):
    runner = CliRunner()
    for args, message in ((["--org", "acme"], "expected NAME=DIR"),
                          (["--org", "Acme Corp=x"], "lower-case"),
                          (["--org", f"acme={tmp_path / 'a'}", "--org", f"acme={tmp_path / 'b'}"], "used twice"),
                          (["--org", f"acme={tmp_path}"], "own dataset directory")):
        result = runner.invoke(sandbox, ["qonto", "--data", str(tmp_path), "--port", "0", *args])
        assert result.exit_code == 2 and message in result.output, result.output
