"""The special-case plan: exact quotas, and each case placed where its class needs it."""

from __future__ import annotations

import random
from collections import Counter

from well_pipeline.sandbox.generator.plan import MS_PER_DAY, RECENT_DAYS, plan_specials, recent_from, special_counts


def test_recent_from_is_the_first_invoice_of_the_last_weeks() -> None:
    now = 1_000 * MS_PER_DAY
    created = [now - 40 * MS_PER_DAY, now - RECENT_DAYS * MS_PER_DAY - 1, now - RECENT_DAYS * MS_PER_DAY, now]
    assert recent_from(created, now) == 2
    assert recent_from(created[:2], now) == 2  # none recent: past the end


def test_unknown_homonyms_land_in_the_recent_window_and_bank_changes_split_in_two() -> None:
    count, recent = 3000, 2800
    plan = plan_specials(random.Random(3), count, recent)
    cases = Counter(s.case for s in plan.values())
    assert cases["unknown_homonym"] == special_counts(count)["unknown_homonym"] == 9
    assert all(i >= recent for i, s in plan.items() if s.case == "unknown_homonym")
    changes = Counter(s.detail for s in plan.values() if s.case == "bank_detail_change")
    assert changes == Counter({"": 8, "unfiled": 7})
    assert all(i >= count // 5 for i, s in plan.items() if s.detail == "unfiled")


def test_quota_stays_exact_when_the_recent_window_is_too_small() -> None:
    plan = plan_specials(random.Random(3), 3000, 2998)  # two recent invoices for a quota of nine
    homonyms = sorted(i for i, s in plan.items() if s.case == "unknown_homonym")
    assert len(homonyms) == 9 and homonyms[-2:] == [2998, 2999]
