"""Several workspaces' inboxes in one sandbox: each `@invoicesmelio.com` address lists only its own mail."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from well_pipeline.cli.sandbox import sandbox
from well_pipeline.sandbox.melio import InboxConfig, InboxStore, MelioInbox

from .conftest import connect, make_message, send

ACME = "acme_1234@invoicesmelio.com"
GLOBEX = "globex_5678@invoicesmelio.com"


def test_each_address_lists_only_the_messages_and_drafts_sent_to_it(tmp_path: Path, invoice_pdf: bytes) -> None:
    store_dir = tmp_path / "inbox"
    pdf = [(invoice_pdf, "application/pdf", "a.pdf")]
    with MelioInbox(store_dir, InboxConfig(port=0, tls_port=0)) as inbox:
        send(inbox, make_message(qonto_id="acme-1", to=ACME, attachments=pdf))
        send(inbox, make_message(qonto_id="globex-1", to=GLOBEX, attachments=pdf))
        send(inbox, make_message(qonto_id="acme-2", to=ACME.upper()))  # addresses compare case-insensitively
        with connect(inbox) as client:  # To says acme, the envelope (Bcc) also reaches globex
            client.send_message(make_message(qonto_id="both", to=ACME), to_addrs=[ACME, GLOBEX])
        assert [m.qonto_id for m in inbox.messages(ACME)] == ["acme-1", "acme-2", "both"]
        assert [m.qonto_id for m in inbox.messages(GLOBEX)] == ["globex-1", "both"]
        assert [d.message_ordinal for d in inbox.drafts(GLOBEX)] == [2]
        assert [d.message_ordinal for d in inbox.drafts(ACME)] == [1]
        assert inbox.messages("nobody@invoicesmelio.com") == []
        assert len(inbox.messages()) == 4
        assert inbox.addresses() == [ACME, GLOBEX]
    # The store read back (a restart, or another process) keeps them apart too.
    store = InboxStore(store_dir, create=False)
    assert [m.qonto_id for m in store.messages(GLOBEX)] == ["globex-1", "both"]


def test_melio_inbox_cli_lists_one_address(tmp_path: Path, invoice_pdf: bytes) -> None:
    store_dir = tmp_path / "inbox"
    with MelioInbox(store_dir, InboxConfig(port=0, tls_port=0)) as inbox:
        send(inbox, make_message(subject="For acme", message_id="<a@well.example>", to=ACME,
                                 attachments=[(invoice_pdf, "application/pdf", "a.pdf")]))
        send(inbox, make_message(subject="For globex", message_id="<g@well.example>", to=GLOBEX))
    result = CliRunner().invoke(sandbox, ["melio-inbox", str(store_dir), "--to", GLOBEX])
    assert result.exit_code == 0, result.output
    assert f"1 message(s) to {GLOBEX}" in result.output and "0 draft bill(s)" in result.output
    assert "For globex" in result.output and "For acme" not in result.output
    as_json = CliRunner().invoke(sandbox, ["melio-inbox", str(store_dir), "--json", "--to", ACME])
    assert as_json.exit_code == 0 and len(as_json.output.splitlines()) == 1 and "<a@well.example>" in as_json.output
