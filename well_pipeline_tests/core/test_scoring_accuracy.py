"""Accuracy on generated ground truth: the same measure as the scoring benchmark, on a smaller dataset.

Targets from the scoring issue: auto-link precision >= 99.5 %, >= 90 % of clean invoices of known vendors
auto-linked, every bank-detail change held. Two seeds, so the weights are not tuned to one draw.
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
    assert accuracy.auto_links > 1000
    assert accuracy.auto_link_precision >= 0.995, accuracy.wrong_auto_links[:10]
    assert accuracy.clean_auto_link_rate >= 0.90
    assert accuracy.bank_detail_changes > 0
    assert accuracy.bank_detail_changes_held == accuracy.bank_detail_changes
