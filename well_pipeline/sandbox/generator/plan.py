"""Before any record is built: when each invoice arrives, and which ones carry a special case.

Creation times are drawn first and sorted, so invoices are generated in arrival order and each vendor's
invoice numbers increase with time, as real sequences do. Rare cases are assigned by quota (exact counts on
random indices) rather than by per-record coin flips, so a 2,000-invoice dataset is guaranteed to contain
every case the tests and the matcher benchmark look for.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass

from .timefmt import MS_PER_DAY, MS_PER_HOUR, MS_PER_MIN, MS_PER_S, paris_offset_hours

# Share of invoices per special case (the rest are "regular": clean, variant, unknown vendor, missing fields).
SPECIAL_RATES: dict[str, float] = {
    "already_in_ledger": 0.05,
    "credit_note": 0.02,
    "non_financial": 0.01,
    "qonto_duplicate_flag": 0.01,
    "all_ocr_null": 0.01,
    "bank_detail_change": 0.005,
    "duplicate_invoice": 0.003,
    # An invoice from a supplier Melio does not know that bears a directory entry's name. More arrive by the
    # ordinary popularity draw; the quota guarantees the class in small datasets.
    "unknown_homonym": 0.003,
}
# Cases that re-use an earlier invoice and therefore must not land at the very start of the timeline.
NEEDS_HISTORY = frozenset({"duplicate_invoice", "qonto_duplicate_flag"})
# Cases placed among the invoices of the last RECENT_DAYS (see plan_specials).
RECENT_CASES = frozenset({"unknown_homonym"})
# Invoices younger than this are mostly still open (to_review, to_approve, awaiting_payment).
RECENT_DAYS = 21
OVERSIZED_MIN_INVOICES = 1000
ODD_MIN_INVOICES = 200


@dataclass(frozen=True)
class Special:
    """A planned special case for one invoice index. `detail` refines odd attachments (oversized|heic|txt)
    and bank-detail changes ("unfiled": a vendor whose IBAN the Melio directory does not hold)."""

    case: str
    detail: str = ""


def window_ms(now_ms: int, years: float) -> tuple[int, int]:
    """[start, end] of the creation-time window: `years` of 365.25 days ending at `now`."""
    return now_ms - int(years * 365.25 * MS_PER_DAY), now_ms


def sample_created_ms(rng: random.Random, count: int, start_ms: int, end_ms: int) -> list[int]:
    """Sorted creation instants in [start_ms, end_ms] (epoch ms).

    Volume grows over time (a growing company), most documents arrive during Paris business hours, and ~3%
    are placed within 90 s of midnight UTC or midnight Paris (a few exactly on it), where day-partitioned
    sync windows and timezone conversions break.
    """
    span = end_ms - start_ms
    out: list[int] = []
    for _ in range(count):
        # sqrt of a uniform: density rises linearly towards `now`.
        base = start_ms + int(span * math.sqrt(rng.random()))
        day_utc = base - base % MS_PER_DAY
        roll = rng.random()
        if roll < 0.015:
            moment = day_utc + (0 if rng.random() < 0.15 else rng.randint(-90 * MS_PER_S, 90 * MS_PER_S))
        elif roll < 0.03:
            paris_midnight = day_utc - paris_offset_hours(day_utc) * MS_PER_HOUR
            moment = paris_midnight + (0 if rng.random() < 0.15 else rng.randint(-90 * MS_PER_S, 90 * MS_PER_S))
        elif roll < 0.88:
            local_ms = rng.randint(7 * MS_PER_HOUR, 19 * MS_PER_HOUR + 30 * MS_PER_MIN)
            moment = day_utc + local_ms - paris_offset_hours(day_utc) * MS_PER_HOUR
        else:
            moment = day_utc + rng.randrange(MS_PER_DAY)
        out.append(min(max(moment, start_ms), end_ms))
    out.sort()
    return out


def special_counts(count: int) -> dict[str, int]:
    """How many invoices get each special case (at least 2 of each once the dataset has 200 invoices)."""
    counts: dict[str, int] = {}
    for case, rate in SPECIAL_RATES.items():
        n = round(rate * count)
        if count >= ODD_MIN_INVOICES:
            n = max(n, 2)
        counts[case] = n
    return counts


def recent_from(created: list[int], now_ms: int) -> int:
    """Index of the first invoice created in the last RECENT_DAYS (sorted `created`; len(created) if none)."""
    return bisect.bisect_left(created, now_ms - RECENT_DAYS * MS_PER_DAY)


def plan_specials(rng: random.Random, count: int, recent_index: int | None = None) -> dict[int, Special]:
    """Map invoice index -> special case. Odd attachments: 1 oversized PDF (>= 1000 invoices), and a couple
    of wrong-type files (HEIC, TXT) at a tiny rate (>= 200 invoices).

    `recent_index` (see `recent_from`) is where the last RECENT_DAYS begin. The unknown-homonym quota goes
    there: a supplier nobody has added to Melio yet is typically a new one, and only open (recent) invoices
    show whether a matcher tells the homonyms apart, since settled ones are held for their status anyway.
    """
    pool = list(range(count))
    rng.shuffle(pool)
    plan: dict[int, Special] = {}
    history_floor = count // 5
    recent_floor = count if recent_index is None else recent_index

    def take(case: str, n: int, detail: str = "", floor: int = 0) -> None:
        taken = 0
        for index in pool:
            if taken >= n:
                break
            if index in plan or index < floor:
                continue
            plan[index] = Special(case, detail)
            taken += 1
        if taken < n and floor:  # not enough invoices past the floor: the rest anywhere, the count stays exact
            take(case, n - taken, detail)

    if count >= OVERSIZED_MIN_INVOICES:
        take("odd_attachment", 1, "oversized")
    if count >= ODD_MIN_INVOICES:
        wrong = max(2, count // 10_000)
        take("odd_attachment", (wrong + 1) // 2, "heic")
        take("odd_attachment", wrong // 2, "txt")
    for case, n in special_counts(count).items():
        if case == "bank_detail_change":
            # Half as before (Melio holds the old IBAN), half visible only against the vendor's own invoices,
            # so those come late enough for the vendor to have a history.
            take(case, n - n // 2)
            take(case, n // 2, "unfiled", floor=history_floor)
            continue
        if case in RECENT_CASES:
            take(case, n, floor=recent_floor)
            continue
        take(case, n, floor=history_floor if case in NEEDS_HISTORY else 0)
    return plan
