"""The ingest use case against the real Qonto sandbox and a real DuckDB file: listings that reconcile on distinct
ids (re-listing, split windows, failing when they never do) and attachment batches bounded by the deadline."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from well_pipeline.adapters.qonto import QontoTimeoutError, RateLimiter, RateWindow
from well_pipeline.adapters.storage import DuckDBStorage
from well_pipeline.services.qonto_ingest import IngestWindow, ingest_supplier_invoices
from well_pipeline.services.qonto_listing import ListingIncompleteError
from well_pipeline_tests.fault_matrix import FaultOutcome
from well_pipeline_tests.support.qonto_records import make_invoice, write_dataset
from well_pipeline_tests.support.qonto_sandbox import api_key_client, running_sandbox

LIST_PATH = "/v2/supplier_invoices"
T0 = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
WINDOW = IngestWindow(created_from=T0 - timedelta(days=1), created_to=T0 + timedelta(days=30))


def spread(count: int) -> list[dict]:
    """`count` records seven minutes apart: every page boundary falls between two distinct timestamps."""
    return [make_invoice(invoice_id=f"inv-{n:03d}", attachment_id=None, created_at=T0 + timedelta(minutes=7 * n))
            for n in range(count)]


def stored_ids(db_path: Path) -> list[str]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        return [row[0] for row in con.execute("SELECT id FROM qonto_supplier_invoices ORDER BY id").fetchall()]


def ingest(sb, tmp_path: Path, window: IngestWindow = WINDOW, stats_out: dict | None = None, **client_kw):
    """Run the use case with a real client; returns (report, info lines, warnings); `stats_out` gets the client's
    stats."""
    info: list[str] = []
    warnings: list[str] = []
    with api_key_client(sb, page_concurrency=1, **client_kw) as client:
        storage = DuckDBStorage(tmp_path / "db.duckdb", tmp_path / "a")
        report = ingest_supplier_invoices(client, storage.invoices, storage.documents, window, log=info.append,
                                          warn=warnings.append)
        if stats_out is not None:
            stats_out.update(client.stats.as_dict())
    return report, info, warnings


@pytest.mark.fault(scenario="Qonto repeats a record of page 1 on page 2 and skips another (tied sort keys), once",
                   expected="distinct ids fall short of total_count; the window is listed again; every record stored")
def test_a_record_skipped_by_a_page_shift_is_listed_again_and_stored(tmp_path: Path,
                                                                     fault_outcome: FaultOutcome) -> None:
    records = spread(250)
    write_dataset(tmp_path / "data", records, with_default_attachments=False)
    with running_sandbox(tmp_path / "data") as sb:
        sb.add_fault(LIST_PATH, kind="shifted_page", times=1)
        report, _, warnings = ingest(sb, tmp_path)
        assert sb.stats()["faults_injected"] == 1
    ids = stored_ids(tmp_path / "db.duckdb")
    assert ids == sorted(r["id"] for r in records)
    assert "inv-100" in ids  # the record the shifted page 2 never served
    assert report.listing_complete and report.listing_passes == 2 and report.windows_split == 0
    assert report.counts.new == 250 and report.counts.unchanged == 249  # the second pass rewrote nothing
    assert any("249 distinct arrived (1 served twice)" in w and "re-listing" in w for w in warnings), warnings
    fault_outcome.record(observed=f"{report.listing_passes} passes; {len(ids)} of {len(records)} stored; "
                                  f"warning: {warnings[0]}", lost=len(records) - len(set(ids)),
                         duplicated=len(ids) - len(set(ids)))


@pytest.mark.fault(scenario="Qonto shifts every page after the first, on every listing",
                   expected="re-listing does not help; the window is split in halves until each fits one page; "
                            "every record stored")
def test_a_listing_that_keeps_shifting_is_split_until_each_half_reconciles(tmp_path: Path,
                                                                          fault_outcome: FaultOutcome) -> None:
    records = spread(250)
    write_dataset(tmp_path / "data", records, with_default_attachments=False)
    with running_sandbox(tmp_path / "data") as sb:
        sb.add_fault(LIST_PATH, kind="shifted_page", times=None)
        report, _, warnings = ingest(sb, tmp_path)
    ids = stored_ids(tmp_path / "db.duckdb")
    assert ids == sorted(r["id"] for r in records)
    assert report.listing_complete and report.windows_split >= 1 and report.listing_passes > 2
    assert any("split window at" in w for w in warnings), warnings
    fault_outcome.record(observed=f"{report.windows_split} splits, {report.listing_passes} passes; {len(ids)} of "
                                  f"{len(records)} stored", lost=len(records) - len(set(ids)),
                         duplicated=len(ids) - len(set(ids)))


@pytest.mark.fault(scenario="Qonto shifts pages forever over 150 records sharing one creation second",
                   expected="no split can separate them: ListingIncompleteError after storing what arrived")
def test_a_listing_that_never_reconciles_fails_after_storing_what_arrived(tmp_path: Path,
                                                                         fault_outcome: FaultOutcome) -> None:
    records = [make_invoice(invoice_id=f"inv-{n:03d}", attachment_id=None, created_at=T0) for n in range(150)]
    write_dataset(tmp_path / "data", records, with_default_attachments=False)
    with running_sandbox(tmp_path / "data") as sb:
        sb.add_fault(LIST_PATH, kind="shifted_page", times=None)
        with pytest.raises(ListingIncompleteError) as info:
            ingest(sb, tmp_path)
    report = info.value.report
    assert not report.listing_complete and report.listing_passes == 2 and report.windows_split == 0
    assert "records may be missing" in str(info.value) and "created_at in [" in str(info.value)
    ids = stored_ids(tmp_path / "db.duckdb")
    assert len(ids) == 149 and "inv-100" not in ids  # everything Qonto served is kept; only its skipped one is not
    fault_outcome.record(observed=f"ListingIncompleteError after {report.listing_passes} passes; {len(ids)} of 150 "
                                  "stored (Qonto never served the other)", duplicated=len(ids) - len(set(ids)))


def test_an_open_ended_first_sync_splits_on_updated_at(tmp_path: Path) -> None:
    """The first incremental sync has no lower bound: the split point comes from the records received."""
    records = [make_invoice(invoice_id=f"inv-{n:03d}", attachment_id=None, created_at=T0,
                            updated_at=T0 + timedelta(minutes=3 * n)) for n in range(230)]
    write_dataset(tmp_path / "data", records, with_default_attachments=False)
    with running_sandbox(tmp_path / "data") as sb:
        sb.add_fault(LIST_PATH, kind="shifted_page", times=None)
        report, _, warnings = ingest(sb, tmp_path, IngestWindow(updated_to=T0 + timedelta(days=30)))
    assert stored_ids(tmp_path / "db.duckdb") == sorted(r["id"] for r in records)
    assert report.windows_split >= 1 and any("updated_at in […" in w for w in warnings), warnings


@pytest.mark.fault(scenario="One attachment download trickled among healthy ones",
                   expected="the batch stops at the deadline with QontoTimeoutError; healthy documents stored, "
                            "the slow one recorded as failed for the next sync")
def test_a_slow_file_host_stops_the_attachment_batch_after_storing_what_arrived(
        tmp_path: Path, fault_outcome: FaultOutcome) -> None:
    records = [make_invoice(invoice_id=f"inv-{n}", created_at=T0 + timedelta(hours=n)) for n in range(3)]
    documents = {r["attachment_id"]: b"%PDF-1.4\n" + bytes(range(256)) * 80 for r in records}
    write_dataset(tmp_path / "data", records, documents)
    slow = records[1]["attachment_id"]
    with running_sandbox(tmp_path / "data") as sb:
        sb.add_fault(f"/_files/{slow}", kind="slow_body", times=None, rate_bps=2000)
        with pytest.raises(QontoTimeoutError) as info:
            ingest(sb, tmp_path, request_deadline_s=0.3, max_retries=1)
    assert f"/_files/{slow}" in str(info.value) and "0.3 s deadline" in str(info.value)
    assert "signature" not in str(info.value)
    with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as con:
        stored = {row[0] for row in con.execute("SELECT attachment_id FROM qonto_attachments").fetchall()}
        failed = dict(con.execute("SELECT attachment_id, reason FROM qonto_attachment_failures").fetchall())
        listed = con.execute("SELECT count(*) FROM qonto_supplier_invoices").fetchone()[0]
    assert stored == {r["attachment_id"] for r in records} - {slow}
    assert set(failed) == {slow} and "deadline" in failed[slow]
    assert listed == 3
    fault_outcome.record(observed=f"QontoTimeoutError: {info.value}; {len(stored)} documents stored, the slow one "
                                  "recorded as failed", lost=0)


def test_a_long_rate_limit_wait_is_logged_with_the_time_left_and_timed_in_the_stats(tmp_path: Path) -> None:
    # A ceiling of 3 requests per 4 s (named like the 10-minute one) stands in for Qonto's 9,500 per 10 min: a
    # listing page and seven attachment look-ups, fetched by eight threads, stall on it twice or more.
    records = [make_invoice(invoice_id=f"inv-{n}", attachment_id=f"att-{n}", created_at=T0 + timedelta(hours=n))
               for n in range(7)]
    write_dataset(tmp_path / "data", records)
    ceiling = RateLimiter([RateWindow(3, 4.0, "qonto_requests_per_10min")])
    with running_sandbox(tmp_path / "data") as sb:
        report, info, _ = ingest(sb, tmp_path, limiter=ceiling, stats_out=(stats := {}))
    assert report.attachments_fetched == 7
    waits = [line for line in info if line.startswith("Qonto rate limit:")]
    assert waits, info
    assert all("3 requests in the last 4 s, the client's ceiling of 3 (setting qonto_requests_per_10min); waiting "
               in line and "for the window to free a slot (until about" in line for line in waits), waits
    stalls_possible = stats["requests"] // 3  # each full window can stall the rest once
    assert 1 <= len(waits) <= stalls_possible, (waits, stats)  # one line per stall, not one per waiting thread
    # Stalled wall time: at least the reported waits' threshold, never more than the whole ingest took.
    assert 2.0 <= stats["limiter_wait_s"] <= report.seconds, stats


def test_short_limiter_waits_are_not_logged_and_the_log_is_detached_afterwards(tmp_path: Path) -> None:
    write_dataset(tmp_path / "data", spread(250), with_default_attachments=False)  # three pages
    with running_sandbox(tmp_path / "data") as sb:
        with api_key_client(sb, page_concurrency=1, limiter=RateLimiter([RateWindow(1, 1.0)])) as client:
            storage = DuckDBStorage(tmp_path / "db.duckdb", tmp_path / "a")
            info: list[str] = []
            # Pages only (an empty attachment scope): 250 documents at one request a second would take minutes.
            # Waits stay under the 2 s logging threshold: about 1 s less the time a page takes to store.
            ingest_supplier_invoices(client, storage.invoices, storage.documents, WINDOW, log=info.append,
                                     attachment_scope=(date.min, date.min))
            assert client.stats.requests >= 3 and client.stats.limiter_wait_s >= 0.2  # it did wait, briefly
            assert not [line for line in info if "rate limit" in line], info  # pacing is not worth a line
            # After the call, a long wait of the same client no longer reaches that call's log.
            logged = len(info)
            client.limiter.penalize(2.5)
            client.get_organization()
            assert len(info) == logged and client.stats.limiter_wait_s >= 2.5
