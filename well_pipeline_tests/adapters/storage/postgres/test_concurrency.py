"""Exactly once with several writer processes, against the real test server: PostgreSQL allows several writers,
so claims, re-plans, review decisions and ingests must hold when processes race (issue 12).

Each test starts 4 processes (multiprocessing: nothing shared but the database) that wait at a barrier and
then do the same thing at the same moment; the assertions read what the database kept.
"""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from well_pipeline.adapters.qonto.records import RejectedRecord, parse_supplier_invoice
from well_pipeline.adapters.storage.postgres import PostgresStorage
from well_pipeline.adapters.storage.records import ANY_ROW, ClaimConflictError, StaleRecordError
from well_pipeline.core.delivery.plan import OutboxState
from well_pipeline_tests.adapters.storage.conftest import new_schema
from well_pipeline_tests.support.delivery_records import DAY, NEXT_DAY, release_records
from well_pipeline_tests.support.qonto_records import make_invoice
from well_pipeline_tests.support.review_queue import fill_queue, record
from well_pipeline_tests.support.waiting import wait_until

PROCESSES = 4
TO = "papeterie_1234@invoicesmelio.com"
# Forked: quick to start, and safe here because the parent holds no connection (every store method opens and
# closes its own), so a child inherits nothing but the DSN.
_PROCESSES = multiprocessing.get_context("fork")


def _race(target: Any, *args: Any) -> list[Any]:
    """Run `target(worker, barrier, results, *args)` in PROCESSES processes at once; every worker's result."""
    barrier, results = _PROCESSES.Barrier(PROCESSES), _PROCESSES.Queue()
    workers = [_PROCESSES.Process(target=target, args=(n, barrier, results, *args)) for n in range(PROCESSES)]
    for worker in workers:
        worker.start()
    found = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    errors = [r for r in found if isinstance(r, BaseException) or (isinstance(r, tuple) and r[0] == "error")]
    assert errors == []
    return found


# ---- the workers ---------------------------------------------------
def _deliver(worker: int, barrier: Any, results: Any, dsn: str, schema: str, documents: str, plan: bool) -> None:
    """A delivery run: read the candidates (and the plan), then claim, "send" and complete each record."""
    try:
        storage = PostgresStorage(dsn, schema, Path(documents))
        rows = storage.outbox.candidates([DAY, NEXT_DAY])
        entries = storage.outbox.entries()
        barrier.wait()
        claimed = []
        for row in rows:
            message_id = f"<well.{row.qonto_id}.w{worker}@x>"
            try:
                storage.outbox.mark_sending(row, message_id=message_id, to_address=TO, dedup=None, resend=False,
                                            expected=entries.get(row.qonto_id) if plan else ANY_ROW)
            except ClaimConflictError:
                continue
            claimed.append(row.qonto_id)
            if plan:  # without a plan, claims stay `sending`: exclusive while the e-mail would be in flight
                storage.outbox.complete(row, message_id=message_id, state=OutboxState.SENT, code=250, reply="OK",
                                        attempts=1, resend=False)
        results.put(("ok", worker, claimed))
    except BaseException as exc:  # reported to the test, which fails on it
        results.put(("error", worker, repr(exc)))


def _decide(worker: int, barrier: Any, results: Any, dsn: str, schema: str, documents: str) -> None:
    try:
        storage = PostgresStorage(dsn, schema, Path(documents))
        barrier.wait()
        try:
            storage.matches.record_decision(qonto_id="inv-1", action=("approve", "refuse")[worker % 2],
                                            author=f"person-{worker}", reason="checked", expected_decision="review")
            results.put(("won", worker, None))
        except StaleRecordError as exc:
            results.put(("stale", worker, str(exc)))
    except BaseException as exc:
        results.put(("error", worker, repr(exc)))


def _ingest(worker: int, barrier: Any, results: Any, dsn: str, schema: str, documents: str, amount: str) -> None:
    try:
        storage = PostgresStorage(dsn, schema, Path(documents))
        # Each new amount comes with a later `updated_at`: a change, not a stale copy.
        updated = datetime(2026, 3, 14, 10, tzinfo=UTC) + timedelta(minutes=int(amount[0]))
        invoices = [parse_supplier_invoice(make_invoice(
            invoice_id=f"inv-{n}", attachment_id=f"att-{n}", updated_at=updated,
            total_amount={"value": amount, "currency": "EUR"})) for n in range(20)]
        barrier.wait()
        changes = storage.invoices.upsert_invoices(invoices, [RejectedRecord("{}", "no id", "bad-1")])
        results.put(("ok", worker, (len(changes.new), len(changes.changed))))
    except BaseException as exc:
        results.put(("error", worker, repr(exc)))


# ---- the tests ---------------------------------------------------------------------------------------------------
@pytest.fixture
def pg(postgres_dsn: str, tmp_path: Path) -> PostgresStorage:
    return PostgresStorage(postgres_dsn, new_schema(), tmp_path / "attachments")


def _args(pg: PostgresStorage, postgres_dsn: str) -> tuple[str, str, str]:
    return postgres_dsn, pg.database.schema, str(pg.documents.root)


def test_delivery_processes_racing_over_the_same_records_send_each_once(pg: PostgresStorage, postgres_dsn: str
                                                                        ) -> None:
    specs = [(f"q-{n:02d}", "auto_link", n) for n in range(20)]
    release_records(pg, *specs)
    found = _race(_deliver, *_args(pg, postgres_dsn), True)
    claimed = [qonto_id for _, _, ids in found for qonto_id in ids]
    assert sorted(claimed) == [qonto_id for qonto_id, _, _ in specs]  # every record, each claimed once
    entries = pg.outbox.entries()
    assert {e.state for e in entries.values()} == {OutboxState.SENT}
    for _, worker, ids in found:  # the stored row is the winner's
        assert all(entries[q].message_id == f"<well.{q}.w{worker}@x>" for q in ids)
    audit = pg.outbox.send_audit()
    assert (audit.records_sent, audit.sent_twice) == (20, [])  # one hand-over recorded per record


def test_claims_racing_while_every_record_is_in_flight_are_exclusive(pg: PostgresStorage, postgres_dsn: str) -> None:
    specs = [(f"q-{n:02d}", "auto_link", n) for n in range(20)]
    release_records(pg, *specs)
    found = _race(_deliver, *_args(pg, postgres_dsn), False)
    claimed = [qonto_id for _, _, ids in found for qonto_id in ids]
    assert sorted(claimed) == [qonto_id for qonto_id, _, _ in specs]
    assert {str(e.state) for e in pg.outbox.entries().values()} == {"sending"}


def test_people_deciding_on_one_record_at_once_one_wins_the_others_are_stale(pg: PostgresStorage,
                                                                              postgres_dsn: str) -> None:
    fill_queue(pg, [record("inv-1")])
    found = _race(_decide, *_args(pg, postgres_dsn))
    won = [worker for outcome, worker, _ in found if outcome == "won"]
    stale = [message for outcome, _, message in found if outcome == "stale"]
    assert len(won) == 1 and len(stale) == PROCESSES - 1
    assert all("inv-1 was decided meanwhile" in message for message in stale)
    history = pg.matches.decision_history("inv-1")
    assert [h.author for h in history] == [f"person-{won[0]}"]  # the others stored nothing


def test_ingests_of_the_same_page_at_once_number_each_version_once(pg: PostgresStorage, postgres_dsn: str) -> None:
    first = _race(_ingest, *_args(pg, postgres_dsn), "1.00")
    assert sorted(counts for _, _, counts in first) == [(0, 0)] * (PROCESSES - 1) + [(20, 0)]
    changed = _race(_ingest, *_args(pg, postgres_dsn), "2.00")
    assert sorted(counts for _, _, counts in changed) == [(0, 0)] * (PROCESSES - 1) + [(0, 20)]
    versions = pg.outbox.record_versions({f"inv-{n}": [1, 2, 3] for n in range(20)})
    assert all(set(by_version) == {1, 2} for by_version in versions.values())
    assert [r.key for r in pg.invoices.unparsed_records()] == ["bad-1"]  # counted, not duplicated



def _claim_and_wait(dsn: str, schema: str, documents: str, claimed: Any) -> None:
    """A delivery run with its e-mail in flight: claims, then waits (the SMTP conversation) until killed."""
    storage = PostgresStorage(dsn, schema, Path(documents))
    (row,) = [r for r in storage.outbox.candidates([DAY, NEXT_DAY]) if r.qonto_id == "q-flight"]
    storage.outbox.mark_sending(row, message_id="<well.q-flight@x>", to_address=TO, dedup=None, resend=False)
    claimed.set()
    time.sleep(600)  # killed by the test long before


def test_a_live_claim_on_another_machine_is_never_expired_a_killed_one_is(pg: PostgresStorage,
                                                                            postgres_dsn: str) -> None:
    # Several delivery processes of one workspace can be alive at once on Postgres: a run that starts while another
    # has an e-mail in flight must not take that row for a dead run's (it would be held for a person for nothing).
    rows = release_records(pg, ("q-flight", "auto_link", 0), ("q-other", "auto_link", 1))
    claimed = _PROCESSES.Event()
    live = _PROCESSES.Process(target=_claim_and_wait, args=(*_args(pg, postgres_dsn), claimed))
    live.start()
    try:
        assert claimed.wait(60)
        assert pg.outbox.expire_interrupted() == 0  # alive: its lease is held
        assert {q: str(e.state) for q, e in pg.outbox.entries().items()} == {"q-flight": "sending"}
        with pytest.raises(ClaimConflictError):  # nor can another run claim it meanwhile
            pg.outbox.mark_sending(rows["q-flight"], message_id="<other@x>", to_address=TO, dedup=None,
                                   resend=False)
        live.kill()  # SIGKILL: no clean-up; the server ends its session, and its lease with it
        live.join(timeout=60)
        expired: list[int] = []  # the server notices the closed socket a moment later, not at once
        wait_until(lambda: expired.append(pg.outbox.expire_interrupted()) or sum(expired) == 1, timeout_s=30,
                   message="the killed claim's lease to be freed")
        assert sum(expired) == 1
        assert {q: str(e.state) for q, e in pg.outbox.entries().items()} == {"q-flight": "unconfirmed"}
    finally:
        if live.is_alive():
            live.kill()
        live.join(timeout=60)
