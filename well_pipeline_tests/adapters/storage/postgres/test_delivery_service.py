"""The delivery service (`deliver_days`) run by several processes at once over the same records, on the real
PostgreSQL test server and the Melio inbox sandbox: each record is e-mailed exactly once (issue 12).

Here rather than under `services/` because it needs this folder's PostgreSQL server fixture. The store's own races
(claims, decisions, ingests) are in `test_concurrency.py`; this one checks that the service uses the store's
guarantee: every claim names the outbox row its run planned from, and a record claimed by another run is skipped.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from pathlib import Path
from typing import Any

from well_pipeline.adapters.melio import SmtpMailer
from well_pipeline.adapters.secrets.secret import Secret
from well_pipeline.adapters.storage.postgres import PostgresStorage
from well_pipeline.sandbox.melio import InboxConfig, MelioInbox
from well_pipeline.services import delivery
from well_pipeline_tests.adapters.storage.conftest import new_schema
from well_pipeline_tests.support.delivery_records import DAY, NEXT_DAY, release_records

PROCESSES = 4
RECORDS = 20
INBOX = "papeterie_1234@invoicesmelio.com"
FROM = "well@papeterie-client.example"
# Forked before the inbox sandbox starts its thread, so no child inherits a lock that thread might hold; the parent
# holds no database connection (every store method opens its own), so a child inherits nothing but arguments.
_PROCESSES = multiprocessing.get_context("fork")


def _delivery_run(worker: int, address: Any, barrier: Any, results: Any, dsn: str, schema: str,
                  documents: str) -> None:
    """One delivery run of its own process. Its mail connection opens only once every run has planned, so all of
    them plan every record from the same outbox and then race to claim each one."""
    try:
        port, ca_file, username, password = address.get(timeout=60)

        def mailer() -> SmtpMailer:
            barrier.wait(timeout=60)
            return SmtpMailer("127.0.0.1", port, username=username, password=Secret(password), ca_file=ca_file,
                              backoff_s=0)

        storage = PostgresStorage(dsn, schema, Path(documents))
        report = delivery.deliver_days(storage, [DAY, NEXT_DAY], mailer, to_address=INBOX, from_address=FROM)
        results.put(("ok", worker, (report.sent, report.claimed_elsewhere, report.remaining, dict(report.outcomes))))
    except BaseException as exc:  # reported to the test, which fails on it
        results.put(("error", worker, repr(exc)))


def test_delivery_runs_racing_over_the_same_records_email_each_once(postgres_dsn: str, tmp_path: Path) -> None:
    storage = PostgresStorage(postgres_dsn, new_schema(), tmp_path / "attachments")
    ids = [f"q-{n:02d}" for n in range(RECORDS)]
    release_records(storage, *[(qonto_id, "auto_link", n) for n, qonto_id in enumerate(ids)])
    address, barrier, results = _PROCESSES.Queue(), _PROCESSES.Barrier(PROCESSES), _PROCESSES.Queue()
    workers = [_PROCESSES.Process(target=_delivery_run, args=(n, address, barrier, results, postgres_dsn,
                                                              storage.database.schema, str(storage.documents.root)))
               for n in range(PROCESSES)]
    for worker in workers:
        worker.start()
    try:
        with MelioInbox(tmp_path / "inbox", InboxConfig(port=0, tls_port=0)) as inbox:
            for _ in workers:
                address.put((inbox.port, str(inbox.cert_path), inbox.config.username, inbox.config.password))
            found = [results.get(timeout=120) for _ in workers]
            received = Counter(m.header("X-Well-Qonto-Id") for m in inbox.messages())
    finally:
        for worker in workers:
            worker.join(timeout=60)
            if worker.is_alive():
                worker.terminate()
    assert [r for r in found if r[0] == "error"] == []
    assert all(worker.exitcode == 0 for worker in workers)

    assert received == Counter(dict.fromkeys(ids, 1))  # every record e-mailed, none twice
    reports = [figures for _, _, figures in found]
    assert sum(sent for sent, _, _, _ in reports) == RECORDS
    # Every run planned every record; the claims of all but the first to claim each record conflicted.
    assert sum(skipped for _, skipped, _, _ in reports) == RECORDS * (PROCESSES - 1)
    assert all(remaining == 0 and set(outcomes) <= {"sent"} for _, _, remaining, outcomes in reports)
    assert {str(e.state) for e in storage.outbox.entries().values()} == {"sent"}
    audit = storage.outbox.send_audit()
    assert (audit.records_sent, audit.sent_twice) == (RECORDS, [])
