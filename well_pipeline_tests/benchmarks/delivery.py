"""Delivery benchmark: bill e-mails over one reused SMTP connection vs. a new connection per e-mail.

    python -m well_pipeline_tests.benchmarks.delivery --bills 2000

Prints one JSON line. Both phases run in the same process against the same in-process MelioInbox sandbox
(STARTTLS, TLS 1.3, AUTH PLAIN): `emails_per_s` sends every bill through one `SmtpMailer` connection,
`one_connection_each_emails_per_s` opens a new connection (TCP + STARTTLS handshake + EHLO + AUTH) for each
bill, as a naive integration would. Each bill carries a distinct ~50 KB PDF made by the generator's PDF
writer; building the message is inside the timed loop in both phases (it is part of sending a bill). The
inbox shares the process (and the GIL), so absolute rates are a lower bound; the ratio is the point. The
inbox must end with exactly one message per bill per phase, each with its own draft, or the run fails.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from well_pipeline.adapters.melio import BillEmail, SmtpMailer, build_bill_email
from well_pipeline.adapters.secrets.secret import Secret
from well_pipeline.sandbox.generator.documents.pdf import build_pdf
from well_pipeline.sandbox.melio import InboxConfig, MelioInbox

TO = "benchcorp_1234@invoicesmelio.com"
FROM = "bills@well.example.com"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bills", type=int, default=2000, help="bills per phase")
    parser.add_argument("--attachment-kb", type=int, default=50)
    parser.add_argument("--security", choices=("starttls", "tls"), default="starttls")
    return parser.parse_args(argv)


def _pdf(n: int, phase: str, size: int) -> bytes:
    lines = [f"Supplier: Bench Supplier {n % 97}", f"Invoice number: {phase}-{n:06d}",
             f"Total: {100 + n % 900}.{n % 100:02d} EUR", "Due date: 2026-12-31"]
    content = "".join(f"BT /F1 10 Tf 1 0 0 1 56 {760 - 16 * i} Tm ({text}) Tj ET\n" for i, text in enumerate(lines))
    base = build_pdf(content.encode("ascii"), title=f"Invoice {phase}-{n}", creation_date="20260101")
    return build_pdf(content.encode("ascii"), title=f"Invoice {phase}-{n}", creation_date="20260101",
                     pad_bytes=max(0, size - len(base) - 64))


def _bill(n: int, phase: str, size: int) -> BillEmail:
    return BillEmail(
        qonto_id=f"{phase}-0000-4000-8000-{n:012d}", record_version=1, to_address=TO, from_address=FROM,
        supplier_name=f"Bench Supplier {n % 97}", invoice_number=f"{phase}-{n:06d}", amount="123.45",
        currency="EUR", document=_pdf(n, phase, size), document_filename=f"invoice-{n}.pdf",
        content_type="application/pdf",
    )


def _mailer(inbox: MelioInbox, security: str) -> SmtpMailer:
    port = inbox.port if security == "starttls" else inbox.tls_port
    return SmtpMailer("127.0.0.1", port, security=security, username=inbox.config.username,  # type: ignore[arg-type]
                      password=Secret(inbox.config.password), ca_file=str(inbox.cert_path), timeout_s=30,
                      max_retries=0, local_hostname="well.bench")


def _check(results: list, phase: str) -> None:
    failed = [r for r in results if r.outcome != "sent"]
    if failed:
        raise SystemExit(f"{phase}: {len(failed)} e-mails not sent, first: {failed[0]}")


def main(argv: list[str] | None = None) -> dict:
    args = _parse_args(argv)
    logging.getLogger("well.melio.mailer").setLevel(logging.WARNING)
    size = args.attachment_kb * 1024
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="well-bench-delivery-") as tmp:
        with MelioInbox(Path(tmp) / "inbox", InboxConfig(port=0, tls_port=0)) as inbox:
            # Phase 1: one connection for the whole batch.
            started = time.perf_counter()
            with _mailer(inbox, args.security) as mailer:
                reused = [mailer.send(build_bill_email(_bill(n, "r", size), now=now)) for n in range(args.bills)]
            reused_s = time.perf_counter() - started
            _check(reused, "reused connection")
            after_reused = inbox.stats()

            # Phase 2: a new connection (TLS handshake + AUTH) per e-mail.
            started = time.perf_counter()
            each = []
            for n in range(args.bills):
                with _mailer(inbox, args.security) as single:
                    each.append(single.send(build_bill_email(_bill(n, "e", size), now=now)))
            each_s = time.perf_counter() - started
            _check(each, "one connection each")
            stats = inbox.stats()

            messages = inbox.messages()
            expected = 2 * args.bills
            ids = {m.qonto_id for m in messages}
            drafts = len(inbox.drafts())
            if not (len(messages) == stats["messages_accepted"] == len(ids) == drafts == expected):
                raise SystemExit(f"inbox holds {len(messages)} messages / {len(ids)} distinct ids / {drafts} "
                                 f"drafts, expected {expected} of each")
            if after_reused["connections"] != 1 or stats["connections"] != 1 + args.bills:
                raise SystemExit(f"unexpected connection counts: {after_reused['connections']}, {stats['connections']}")
            attachment_bytes = sum(m.attachments[0].size for m in messages) / len(messages)

    result = {
        "emails_per_s": round(args.bills / reused_s, 1),
        "one_connection_each_emails_per_s": round(args.bills / each_s, 1),
        "speedup": round(each_s / reused_s, 2),
        "bills": args.bills,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        # What each extra connection costs (TCP + STARTTLS/TLS 1.3 handshake + EHLO x2 + AUTH + QUIT).
        "connection_setup_ms_per_email": round(1000 * (each_s - reused_s) / args.bills, 2),
        "reused_seconds": round(reused_s, 3),
        "one_connection_each_seconds": round(each_s, 3),
        "connections": {"reused": after_reused["connections"], "one_each": stats["connections"] - 1},
        "inbox_messages": len(messages),
        "mean_attachment_kb": round(attachment_bytes / 1024, 1),
        "security": args.security,
        "tls": "TLSv1.3",
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
