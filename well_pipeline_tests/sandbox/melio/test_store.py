"""Persistence: a restarted inbox on the same directory sees earlier messages and keeps numbering."""

from __future__ import annotations

import json
from pathlib import Path

from well_pipeline.sandbox.melio import InboxConfig, InboxStore, MelioInbox

from .conftest import make_message, send


def test_restart_sees_earlier_messages_and_keeps_the_certificate(tmp_path: Path, invoice_pdf: bytes) -> None:
    store_dir = tmp_path / "inbox"
    config = InboxConfig(port=0, tls_port=0)
    with MelioInbox(store_dir, config) as first:
        send(first, make_message(qonto_id="q-1", attachments=[(invoice_pdf, "application/pdf", "a.pdf")]))
        send(first, make_message(qonto_id="q-2"))
        cert = first.cert_path.read_bytes()
        before = first.messages()
    assert (store_dir / "messages" / "000001.eml").exists() and (store_dir / "inbox.jsonl").exists()
    with MelioInbox(store_dir, config) as second:
        assert second.messages() == before
        assert second.cert_path.read_bytes() == cert  # clients keep trusting the same CA file
        send(second, make_message(qonto_id="q-3"))
        messages = second.messages()
    assert [m.ordinal for m in messages] == [1, 2, 3]
    assert [m.qonto_id for m in messages] == ["q-1", "q-2", "q-3"]
    assert messages[0].drafts[0].invoice_number == "FA-2026-0042"
    assert b"X-Well-Qonto-Id: q-1" in messages[0].raw()
    # Read-only access without a server, as the CLI does.
    assert [m.qonto_id for m in InboxStore(store_dir, create=False).messages()] == ["q-1", "q-2", "q-3"]


def test_torn_last_line_and_orphan_eml_are_tolerated(tmp_path: Path) -> None:
    store_dir = tmp_path / "inbox"
    with MelioInbox(store_dir, InboxConfig(port=0, tls_port=0)) as inbox:
        send(inbox, make_message(qonto_id="kept"))
    # Simulate a crash: an .eml written without its JSON line, and a half-written JSON line.
    (store_dir / "messages" / "000002.eml").write_bytes(b"Subject: orphan\r\n\r\n")
    with (store_dir / "inbox.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"ordinal": 2, "message_id": "<torn')
    with MelioInbox(store_dir, InboxConfig(port=0, tls_port=0)) as inbox:
        assert [m.qonto_id for m in inbox.messages()] == ["kept"]
        send(inbox, make_message(qonto_id="after-crash"))
        assert [m.ordinal for m in inbox.messages()] == [1, 3]  # ordinal 2 is never reused
    lines = (store_dir / "inbox.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-1])["ordinal"] == 3
    assert [m.qonto_id for m in InboxStore(store_dir).messages()] == ["kept", "after-crash"]
