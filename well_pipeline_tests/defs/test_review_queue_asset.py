"""The `review_queue` asset in the Dagster UI: a typed table, possible frauds first, counts, JSON-safe cells."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from well_pipeline.defs.matching.assets import QUEUE_TABLE_ROWS
from well_pipeline.settings import Settings
from well_pipeline_tests.support.review_queue import record, write_queue
from well_pipeline_tests.support.workspace_defs import bundle_for

COLUMNS = ["flag", "qonto_id", "created", "supplier", "invoice_number", "amount", "decision", "score", "capped_by",
           "best_vendor", "runner_up", "top_reason"]


def test_review_queue_is_a_typed_table_with_frauds_first(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    reviews = [record(f"inv-r{n:03}", score=0.6 + n / 10_000, hours=n % 24) for n in range(QUEUE_TABLE_ROWS + 5)]
    write_queue(settings.duckdb_path, [
        *reviews,
        record("inv-paid", score=0.8499, raw_score=0.95, hard_rules=("ALREADY_PAID_IN_QONTO",)),
        record("inv-fraud", score=0.8499, raw_score=0.9, hard_rules=("BANK_DETAILS_CHANGED", "NAME_ONLY_MATCH"),
               total_amount={"value": "22.8", "currency": "EUR"}),
        record("inv-refused", decision="refused", score=0.2, hard_rules=("NO_CANDIDATE",), candidates=(),
               supplier_name=None, invoice_number=None, total_amount=None),
    ])
    before = datetime.now(UTC).timestamp()
    result = dg.materialize([bundle_for(settings).review_queue], instance=instance)
    after = datetime.now(UTC).timestamp()
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata

    assert (meta["waiting_for_review"].value, meta["possible_fraud"].value, meta["already_paid_in_qonto"].value,
            meta["refused"].value) == (QUEUE_TABLE_ROWS + 7, 1, 1, 1)
    assert isinstance(meta["computed_at"], dg.TimestampMetadataValue)
    assert before <= meta["computed_at"].value <= after
    summary = meta["summary"].value
    assert "Computed " in summary and f"showing {QUEUE_TABLE_ROWS} of {QUEUE_TABLE_ROWS + 7}" in summary
    assert "1 possible payment fraud" in summary and "1 already paid" in summary

    queue = meta["queue"]
    assert isinstance(queue, dg.TableMetadataValue)
    assert [c.name for c in queue.schema.columns] == COLUMNS
    assert {c.name: c.type for c in queue.schema.columns}["score"] == "float"
    assert len(queue.records) == QUEUE_TABLE_ROWS
    first = queue.records[0].data
    assert (first["qonto_id"], first["flag"], first["amount"], first["score"], first["capped_by"]) == \
        ("inv-fraud", "possible payment fraud", "22.80 EUR", 84.99, "BANK_DETAILS_CHANGED")
    assert first["top_reason"] == "text of BANK_DETAILS_CHANGED"
    assert first["runner_up"] == "Nordlicht Logistik GmbH [V-2] 31%" and first["created"] == "2026-03-14 09:30 UTC"
    assert queue.records[1].data["qonto_id"] == f"inv-r{QUEUE_TABLE_ROWS + 4:03}"  # then the best review score

    refused = meta["refused_queue"].records
    assert [r.data["qonto_id"] for r in refused] == ["inv-refused"]
    assert (refused[0].data["supplier"], refused[0].data["amount"], refused[0].data["best_vendor"]) == ("", "", "")

    for table in (queue, meta["refused_queue"]):
        cells = [r.data for r in table.records]
        json.dumps(cells, allow_nan=False)  # raises on NaN/Infinity: the UI stores the table as JSON
        assert all(set(c) == set(COLUMNS) for c in cells)
        assert not [v for c in cells for v in c.values() if v is None or str(v) in ("nan", "None", "NaT")]
