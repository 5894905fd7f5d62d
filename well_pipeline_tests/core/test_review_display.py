"""How a review-queue record reads (core/scoring/display.py): capped scores, reasons, vendors, order, empties."""

from __future__ import annotations

import json
import math
from datetime import datetime
from decimal import Decimal

import pandas as pd
import pytest

from well_pipeline.core.scoring.display import (
    QueueEntry,
    QueueKey,
    Section,
    parse_candidates,
    parse_reasons,
    runner_up,
    score_label,
    score_value,
    section_of,
    select_page,
    text,
    top_reason,
)

REASONS = json.dumps([
    {"code": "NAME_SIMILAR", "part": "counterparty_strength", "text": "name is 97% similar"},
    {"code": "IBAN_NOT_VERIFIED", "part": "hard_rule", "text": "no IBAN read on the invoice"},
    {"code": "REVIEW", "part": "decision", "text": "score 84.99%: a person decides"},
])
CANDIDATES = json.dumps([
    {"vendor_id": "V-1", "company_name": "Papeterie Dupont SARL", "probability": 0.9251, "name_similarity": 97.0,
     "evidence": ["NAME_SIMILAR"], "log_odds": 2.5},
    {"vendor_id": "V-2", "company_name": "Dupont Papier", "probability": 0.3, "name_similarity": 80.0,
     "evidence": [], "some_future_key": {"x": 1}},
])


@pytest.mark.parametrize(("score", "raw", "rules", "expected"), [
    (0.8499, 0.93, ("IBAN_NOT_VERIFIED", "NAME_ONLY_MATCH"), "84.99%, capped by IBAN_NOT_VERIFIED"),
    (0.5499, 0.91, ("NO_DOCUMENT",), "54.99%, capped by NO_DOCUMENT"),
    (0.849999, 0.95, ("AMBIGUOUS_VENDOR",), "84.99%, capped by AMBIGUOUS_VENDOR"),  # truncated, not 85.00%
    (0.72345, 0.72345, ("VAT_MISMATCH",), "72.3%"),   # a hard rule that did not lower the score caps nothing
    (0.84996, 0.84996, (), "84.9%"),                   # uncapped: one decimal, truncated (never 85.0%)
    (0.29, 0.29, (), "29.0%"),                         # 0.29 * 100 is 28.999… in binary floats
])
def test_score_label_names_the_cap_and_truncates(score, raw, rules, expected) -> None:
    assert score_label(score, raw, rules) == expected
    assert score_value(score, raw, rules) == float(expected.split("%")[0])


def test_top_reason_is_the_first_hard_rules_text_else_the_decisions() -> None:
    reasons = parse_reasons(REASONS)
    assert top_reason(("IBAN_NOT_VERIFIED", "NAME_ONLY_MATCH"), reasons) == "no IBAN read on the invoice"
    # A hard rule without its own reason text falls back to the decision's reason.
    assert top_reason(("VAT_MISMATCH",), reasons) == "score 84.99%: a person decides"
    assert top_reason((), reasons) == "score 84.99%: a person decides"
    assert top_reason((), parse_reasons("[]")) == ""


def test_candidates_tolerate_unknown_keys_and_give_the_runner_up() -> None:
    candidates = parse_candidates(CANDIDATES)
    assert [c.vendor_id for c in candidates] == ["V-1", "V-2"]
    assert runner_up("V-1", candidates) == "Dupont Papier [V-2] 30%"
    assert runner_up("V-1", candidates[:1]) == ""
    entry = QueueEntry("q1", "review", 0.8499, 0.93, ("IBAN_NOT_VERIFIED",), parse_reasons(REASONS), candidates,
                       vendor_id="V-1", vendor_name="Papeterie Dupont SARL")
    assert entry.best_vendor == "Papeterie Dupont SARL [V-1] 92%"  # 92.51% truncated
    assert entry.runner_up == "Dupont Papier [V-2] 30%"


def test_empty_values_read_as_nothing() -> None:
    for empty in (None, float("nan"), pd.NaT, Decimal("NaN"), "  "):
        assert text(empty) == ""
    entry = QueueEntry("q1", "review", 0.7, 0.7, (), (), (), total_amount=float("nan"), created_at=None)
    assert (entry.amount, entry.created_day, entry.best_vendor, entry.runner_up, entry.top_reason, entry.flag) == \
        ("", "", "", "", "", "")
    assert QueueEntry("q2", "review", 0.7, 0.7, (), (), (), total_amount=Decimal("22.800000000"),
                      currency="EUR").amount == "22.80 EUR"
    assert score_value(float("nan"), None, ()) is None and not math.isnan(score_value(0.5, 0.5, ()))


def test_sections_put_frauds_first_and_paid_in_qonto_last() -> None:
    assert section_of("review", ("BANK_DETAILS_CHANGED", "ALREADY_PAID_IN_QONTO")) is Section.POSSIBLE_FRAUD
    assert section_of("review", ("AMOUNT_OVER_AUTO_LIMIT", "PAYMENT_IN_QONTO")) is Section.PAID_IN_QONTO
    assert section_of("review", ("NAME_ONLY_MATCH",)) is Section.REVIEW
    assert section_of("refused", ("BANK_DETAILS_CHANGED",)) is Section.REFUSED
    t = datetime(2026, 3, 14)
    keys = [
        QueueKey("paid-high", "review", 0.84, ("ALREADY_PAID_IN_QONTO",), t),
        QueueKey("review-low", "review", 0.60, (), t),
        QueueKey("refused-plain", "refused", 0.54, ("NO_DOCUMENT",), t),
        QueueKey("refused-fraud", "refused", 0.10, ("BANK_DETAILS_CHANGED",), t),
        QueueKey("review-high", "review", 0.80, (), t),
        QueueKey("fraud-low", "review", 0.56, ("BANK_DETAILS_CHANGED",), t),
        QueueKey("review-high-older", "review", 0.80, (), datetime(2026, 3, 1)),
    ]
    ordered, totals = select_page(keys, None)
    assert [k.qonto_id for k in ordered] == ["fraud-low", "review-high-older", "review-high", "review-low",
                                             "paid-high", "refused-fraud", "refused-plain"]
    assert totals == {Section.POSSIBLE_FRAUD: 1, Section.REVIEW: 3, Section.PAID_IN_QONTO: 1, Section.REFUSED: 2}


def test_select_page_limits_each_section_and_keeps_true_totals() -> None:
    t = datetime(2026, 3, 14)
    keys = [QueueKey(f"r{n:02}", "review", 0.6 + n / 1000, (), t) for n in range(10)]
    keys += [QueueKey("f1", "review", 0.56, ("BANK_DETAILS_CHANGED",), t)]
    keys += [QueueKey(f"p{n}", "review", 0.84, ("ALREADY_PAID_IN_QONTO",), t) for n in range(4)]
    chosen, totals = select_page(keys, 3)
    assert [k.qonto_id for k in chosen] == ["f1", "r09", "r08", "r07", "p0", "p1", "p2"]
    assert totals[Section.REVIEW] == 10 and totals[Section.PAID_IN_QONTO] == 4
