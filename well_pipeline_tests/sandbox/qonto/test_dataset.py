"""Dataset loading: hot reload, tolerance of bad lines, 100k lines loaded without the cyclic GC."""

from __future__ import annotations

import gc
import json
import logging
import os
from datetime import UTC, datetime, timedelta

import pytest

from well_pipeline.sandbox.qonto.dataset import Dataset, load_invoices
from well_pipeline_tests.support.qonto_records import make_invoice, write_dataset
from well_pipeline_tests.support.qonto_sandbox import api_key_headers, running_sandbox


def _ids(client, sb) -> list[str]:
    response = client.get(f"{sb.base_url}/v2/supplier_invoices", headers=api_key_headers(sb))
    assert response.status_code == 200
    return sorted(record["id"] for record in response.json()["supplier_invoices"])


def test_reload_when_invoices_file_changes(tmp_path, client, clock):
    write_dataset(tmp_path, [make_invoice(invoice_id="a")])
    with running_sandbox(tmp_path, clock=clock) as sb:
        assert _ids(client, sb) == ["a"]
        write_dataset(
            tmp_path, [make_invoice(invoice_id="a"), make_invoice(invoice_id="b")]
        )  # atomic replace
        assert _ids(client, sb) == ["a", "b"]
        with (tmp_path / "qonto" / "invoices.jsonl").open("a") as fh:  # in-place append
            fh.write(json.dumps(make_invoice(invoice_id="c")) + "\n")
        assert _ids(client, sb) == ["a", "b", "c"]
        changed = make_invoice(invoice_id="b", status="paid")
        write_dataset(tmp_path, [changed])
        assert _ids(client, sb) == ["b"]
        one = client.get(f"{sb.base_url}/v2/supplier_invoices/b", headers=api_key_headers(sb))
        assert one.json()["supplier_invoice"]["status"] == "paid"
        assert (
            client.get(f"{sb.base_url}/v2/supplier_invoices/a", headers=api_key_headers(sb)).status_code
            == 404
        )


def test_bad_lines_are_skipped_with_a_warning_naming_the_line(tmp_path, client, clock, caplog):
    good_1, good_2 = make_invoice(invoice_id="good-1"), make_invoice(invoice_id="good-2")
    write_dataset(tmp_path, [good_1, good_2])
    lines = [
        json.dumps(good_1),
        '{"id": "truncated", "created_at": "2026-03-14T09:30:00+00:00", "sta',
        '["not", "an", "object"]',
        json.dumps({**make_invoice(invoice_id="no-date"), "created_at": None}),
        "",
        json.dumps(good_2),
    ]
    (tmp_path / "qonto" / "invoices.jsonl").write_text("\n".join(lines) + "\n")
    with (
        caplog.at_level(logging.WARNING, logger="well.sandbox.qonto"),
        running_sandbox(tmp_path, clock=clock) as sb,
    ):
        assert _ids(client, sb) == ["good-1", "good-2"]
    messages = [r.getMessage() for r in caplog.records if r.name == "well.sandbox.qonto"]
    assert any("line 2" in m and "malformed" in m for m in messages), messages
    assert any("line 3" in m for m in messages), messages
    assert any("line 4" in m and "created_at" in m for m in messages), messages


def test_missing_dataset_serves_an_empty_list(tmp_path, client, clock):
    with running_sandbox(tmp_path / "does-not-exist", clock=clock) as sb:
        assert _ids(client, sb) == []


@pytest.mark.slow
def test_hundred_thousand_lines_load_in_order_without_a_garbage_collection(tmp_path):
    """100k lines load, sorted, with the cyclic GC paused (what keeps the load fast, see `load_invoices`).

    Counting collections instead of timing the load: the pause is the mechanism that matters (without it
    100k fresh dicts set off ever larger collections, triple the time), and a count does not depend on how
    busy the machine is. Nothing else in this test allocates while the file loads.
    """
    template = json.dumps(make_invoice(invoice_id="ID", created_at=datetime(2026, 1, 1, tzinfo=UTC)))
    start = datetime(2024, 1, 1, tzinfo=UTC)
    qonto = tmp_path / "qonto"
    qonto.mkdir()
    with (qonto / "invoices.jsonl").open("w") as fh:
        for i in range(100_000):
            stamp = (start + timedelta(minutes=5 * i)).isoformat(timespec="seconds")
            fh.write(
                template.replace('"id": "ID"', f'"id": "inv-{i:06d}"').replace(
                    '"created_at": "2026-01-01T00:00:00+00:00"', f'"created_at": "{stamp}"'
                )
                + "\n"
            )
    collections: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.collect()  # start from a clean heap, so no collection is already due
    gc.callbacks.append(count)
    try:
        loaded = load_invoices(qonto / "invoices.jsonl")
        during = len(collections)  # read at once: the first allocation after the load may well collect
    finally:
        gc.callbacks.remove(count)
    assert gc.isenabled()  # restored after the load
    assert during == 0, f"{during} garbage collections during the load"
    assert len(loaded.rows) == 100_000 and loaded.skipped == 0
    assert loaded.rows[0].id == "inv-000000" and loaded.rows[-1].id == "inv-099999"
    snapshot = Dataset(tmp_path).current()  # what the server serves: the same rows
    assert [row.id for row in snapshot.rows] == [row.id for row in loaded.rows]


def test_same_size_rewrite_with_identical_signature_is_still_noticed(tmp_path, client, clock):
    write_dataset(tmp_path, [make_invoice(invoice_id="x", supplier_name="AAAA")])
    path = tmp_path / "qonto" / "invoices.jsonl"
    with running_sandbox(tmp_path, clock=clock) as sb:
        url = f"{sb.base_url}/v2/supplier_invoices/x"
        assert (
            client.get(url, headers=api_key_headers(sb)).json()["supplier_invoice"]["supplier_name"] == "AAAA"
        )
        before = path.stat()
        data = path.read_bytes().replace(b'"AAAA"', b'"BBBB"')
        with path.open("r+b") as fh:  # same inode, same size ...
            fh.write(data)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # ... and the same mtime
        assert (path.stat().st_ino, path.stat().st_size) == (before.st_ino, before.st_size)
        assert (
            client.get(url, headers=api_key_headers(sb)).json()["supplier_invoice"]["supplier_name"] == "BBBB"
        )
