"""`well sandbox melio` serves until SIGTERM without printing the password; `melio-inbox` lists a store."""

from __future__ import annotations

import re
import signal
import smtplib
import ssl
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from well_pipeline.cli.sandbox import sandbox
from well_pipeline.sandbox.generator.documents import render_pdf
from well_pipeline.sandbox.melio import InboxConfig, MelioInbox
from well_pipeline_tests.support.cli_process import startup_output

from .conftest import PASSWORD, USERNAME, invoice_spec, make_message, send

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_cli_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    store = tmp_path / "inbox"
    process = subprocess.Popen(
        [sys.executable, "-c", "from well_pipeline.cli.sandbox import sandbox; sandbox()",
         "melio", "--store", str(store), "--port", "0", "--tls-port", "0"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        output = startup_output(process)
        ports = re.search(r"STARTTLS port: (\d+)\s+implicit TLS port: (\d+)", output)
        cert = re.search(r"CA file\): (\S+)", output)
        assert ports and cert, output
        assert USERNAME in output and "password: see README" in output and PASSWORD not in output
        context = ssl.create_default_context(cafile=cert.group(1))
        with smtplib.SMTP("127.0.0.1", int(ports.group(1)), timeout=10) as client:
            client.starttls(context=context)
            client.login(USERNAME, PASSWORD)
            client.send_message(make_message(qonto_id="via-cli"))
        with smtplib.SMTP_SSL("127.0.0.1", int(ports.group(2)), context=context, timeout=10) as client:
            client.login(USERNAME, PASSWORD)
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=10)
        assert process.returncode == 0, rest
        assert "stopping" in rest and PASSWORD not in rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert (store / "messages" / "000001.eml").exists()


def test_melio_inbox_lists_messages_and_drafts(tmp_path: Path, invoice_jpeg: bytes) -> None:
    store = tmp_path / "inbox"
    with MelioInbox(store, InboxConfig(port=0, tls_port=0)) as inbox:
        pdf = render_pdf(invoice_spec())
        send(inbox, make_message(subject="Invoice FA-2026-0042", message_id="<m1@well.example>",
                                 attachments=[(pdf, "application/pdf", "FA-2026-0042.pdf"),
                                              (b"hello", "text/plain", "notes.txt")]))
        send(inbox, make_message(subject="Scan", message_id="<m2@well.example>",
                                 attachments=[(invoice_jpeg, "image/jpeg", "scan.jpg")]))
        send(inbox, make_message(subject="No attachment", message_id="<m3@well.example>"))
    result = CliRunner().invoke(sandbox, ["melio-inbox", str(store)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "3 message(s)" in out and "2 draft bill(s)" in out
    assert "<m1@well.example>" in out and "Invoice FA-2026-0042" in out
    assert re.search(r"FA-2026-0042\.pdf\s+application/pdf\s+[\d,]+ B\s+-> draft", out)
    assert "notes.txt" in out and "REJECTED: unsupported file type text/plain" in out
    assert "(no attachment: no draft)" in out
    assert re.search(r"vendor: Papeterie Dupont SARL\s+invoice: FA-2026-0042\s+amount: 1234\.56 EUR\s+"
                     r"due: 2026-02-28\s+defaulted: no", out), out
    assert re.search(r"vendor: -\s+invoice: -\s+amount: -\s+due: \d{4}-\d{2}-\d{2}\s+defaulted: yes", out), out

    as_json = CliRunner().invoke(sandbox, ["melio-inbox", str(store), "--json"])
    assert as_json.exit_code == 0 and len(as_json.output.splitlines()) == 3

    missing = CliRunner().invoke(sandbox, ["melio-inbox", str(tmp_path / "nope")])
    assert missing.exit_code != 0 and "no Melio inbox store" in missing.output
    assert not (tmp_path / "nope").exists()
