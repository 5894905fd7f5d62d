"""Accuracy on generated ground truth: the same measure as the scoring benchmark, on a smaller dataset.

Targets from the scoring issues (3 and 7): auto-link precision >= 99.5 %, no unsafe auto-link at all (settled,
bank-detail change, unknown vendor, credit note, ...), >= 90 % of the records a careful system can auto-link from
the record alone (`clean_known`) auto-linked, every bank-detail change held (and in review, flagged, unless its
name is beyond recognition), and the true vendor among the first three alternatives of >= 97 % of the review and
refused records whose vendor is in Melio. Two seeds, so the weights are not tuned to one draw.
"""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from well_pipeline.sandbox.generator import generate_dataset
from well_pipeline_tests.support.scoring_eval import load_dataset, measure, score_dataset


@pytest.mark.parametrize("seed", [5, 23])
def test_generated_ground_truth(tmp_path: Path, seed: int) -> None:
    generate_dataset(tmp_path, invoices=3000, vendors=400, years=3, seed=seed,
                     now=datetime(2026, 11, 1, tzinfo=UTC))
    data = load_dataset(tmp_path)
    matches, _ = score_dataset(data)
    accuracy = measure(matches, data.truth)
    assert len(matches) == len(data.facts)
    assert accuracy.auto_links > 100
    assert accuracy.unsafe_auto_links == 0, accuracy.unsafe_by_reason
    assert accuracy.auto_link_precision >= 0.995, accuracy.wrong_auto_links[:10]
    assert accuracy.clean_known > 100 and accuracy.clean_auto_link_rate >= 0.90
    assert accuracy.bank_detail_changes > 0
    assert accuracy.bank_detail_changes_held == accuracy.bank_detail_changes
    assert accuracy.bank_detail_changes_in_review >= 0.9 * accuracy.bank_detail_changes
    assert accuracy.review_top3_recall >= 0.97, accuracy.top3_misses[:10]
