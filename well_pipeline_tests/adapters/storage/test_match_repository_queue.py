"""`MatchRepository.queue` on a real DuckDB file: reading order, a limit per section, true totals, no NaN."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from well_pipeline.adapters.storage.match_repository import MatchRepository
from well_pipeline.core.scoring.display import Section
from well_pipeline_tests.support.review_queue import record, write_queue


def test_queue_orders_limits_per_section_and_counts_everything(tmp_path: Path) -> None:
    records = [record(f"inv-r{n}", score=0.6 + n / 100, hours=n) for n in range(5)]
    records += [record(f"inv-p{n}", score=0.8499, raw_score=0.9, hard_rules=("ALREADY_PAID_IN_QONTO",), hours=n)
                for n in range(4)]
    records += [record("inv-fraud", score=0.56, hard_rules=("BANK_DETAILS_CHANGED",), hours=30),
                record("inv-refused", decision="refused", score=0.2, hard_rules=("NO_DOCUMENT",)),
                record("inv-linked", decision="auto_link", score=0.97),
                record("inv-empty", score=0.7, supplier_name=None, total_amount=None, hours=50)]
    database = write_queue(tmp_path / "well.duckdb", records)
    with database.connect(read_only=True) as con:
        page = MatchRepository().queue(con, limit=2)
        everything = MatchRepository().queue(con)
        day_one = MatchRepository().queue(con, days=[date(2026, 3, 15)])

    assert [e.qonto_id for e in page.entries] == ["inv-fraud", "inv-empty", "inv-r4", "inv-p0", "inv-p1",
                                                  "inv-refused"]
    assert page.totals == {Section.POSSIBLE_FRAUD: 1, Section.REVIEW: 6, Section.PAID_IN_QONTO: 4,
                           Section.REFUSED: 1}
    assert page.waiting == 11 and "inv-linked" not in {e.qonto_id for e in everything.entries}
    assert [e.qonto_id for e in everything.entries] == [e.qonto_id for e in
                                                        sorted(everything.entries, key=lambda e: e.order_key)]
    assert len(everything.entries) == 12

    by_id = {e.qonto_id: e for e in everything.entries}
    assert by_id["inv-r0"].total_amount == Decimal("1234.56") and by_id["inv-r0"].amount == "1234.56 EUR"
    assert by_id["inv-empty"].total_amount is None and by_id["inv-empty"].supplier_name is None
    assert by_id["inv-p0"].score_label == "84.99%, capped by ALREADY_PAID_IN_QONTO"
    assert by_id["inv-r0"].runner_up == "Nordlicht Logistik GmbH [V-2] 31%"
    # Created 30 and 50 hours after 2026-03-14 09:30 UTC: the 15th and the 16th.
    assert [e.qonto_id for e in day_one.entries] == ["inv-fraud"]
