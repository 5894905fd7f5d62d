"""How a review-queue record reads to a person: one pure module for the CLI and the Dagster UI (no I/O).

Both `well review` and the `review_queue` asset format records through these functions, so the terminal and
the UI never disagree on a score, a reason or the order. The rules a finance person relies on:

- a score capped by a hard rule says so and is *truncated*, never rounded: a review record capped at 0.8499
  reads `84.99%, capped by IBAN_NOT_VERIFIED`, never `85.0%` (which would look like an auto-link);
- possible payment frauds (`BANK_DETAILS_CHANGED`) come first, invoices Qonto already paid (or is paying)
  come after the other review records, refused ones are a section of their own;
- an empty field is empty: never `None`, `nan` or `NaT`.

Codes are opaque strings here; the human text lives in the stored reasons.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, NamedTuple

from well_pipeline.core.money import format_money

FRAUD_RULE = "BANK_DETAILS_CHANGED"
PAID_IN_QONTO_RULES = ("ALREADY_PAID_IN_QONTO", "PAYMENT_IN_QONTO")
_FLAG_LABELS = {FRAUD_RULE: "possible payment fraud", "ALREADY_PAID_IN_QONTO": "already paid in Qonto",
                "PAYMENT_IN_QONTO": "being paid in Qonto"}
# Stored scores are rounded to 6 places; a cap is a real difference, not float noise.
_CAP_EPSILON = 1e-9


class Section(StrEnum):
    """The parts of the queue, in the order they are listed (the order of this enum)."""

    POSSIBLE_FRAUD = "possible_fraud"        # review records whose bank details changed: check these first
    REVIEW = "review"                        # the other records waiting for a person
    PAID_IN_QONTO = "already_paid_in_qonto"  # review records Qonto paid or is paying (thousands after a backfill)
    REFUSED = "refused"                      # kept out of Melio; a person may still pin a vendor

    @property
    def rank(self) -> int:
        return _SECTION_RANK[self]


_SECTION_RANK = {section: rank for rank, section in enumerate(Section)}
WAITING_SECTIONS = (Section.POSSIBLE_FRAUD, Section.REVIEW, Section.PAID_IN_QONTO)


# ---- empty values -----------------------------------------------------------------------------------------------
def is_empty(value: object) -> bool:
    """None, NaN, NaT, or blank text: what a person should see as an empty field."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(value != value)  # NaN, pandas NaT and Decimal("NaN") are not equal to themselves
    except (TypeError, ValueError):
        return False


def text(value: object) -> str:
    """`value` as display text, `""` when it is empty (never "None", "nan" or "NaT")."""
    return "" if is_empty(value) else str(value)


def day_text(moment: datetime | date | None) -> str:
    """A Qonto creation day, `2026-03-14` (stored times are UTC)."""
    return "" if is_empty(moment) else f"{moment:%Y-%m-%d}"


def time_text(moment: datetime | None) -> str:
    """A stored (naive UTC) time as `2026-03-14 09:30 UTC`."""
    return "" if is_empty(moment) else f"{moment:%Y-%m-%d %H:%M} UTC"


# ---- scores -----------------------------------------------------------------------------------------------------
def truncated_percent(value: float | None, places: int) -> Decimal | None:
    """`value` (0..1) as a percentage cut (not rounded) to `places` decimals; None when it is not a number.

    Truncation never lifts a score over a threshold it did not reach: 0.84999 gives 84.99, not 85.00.
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(repr(float(value)))
    except (TypeError, ValueError, InvalidOperation):
        return None
    if not number.is_finite():
        return None
    return (number * 100).quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)


def percent_text(value: float | None, places: int = 1) -> str:
    shown = truncated_percent(value, places)
    return "" if shown is None else f"{shown}%"


def capped_by(score: float, raw_score: float | None, hard_rules: Sequence[str]) -> str:
    """The hard rule that capped the score (the first, most severe one), or `""` when no cap lowered it."""
    if not hard_rules or raw_score is None or is_empty(score) or is_empty(raw_score):
        return ""
    return str(hard_rules[0]) if score < raw_score - _CAP_EPSILON else ""


def score_label(score: float, raw_score: float | None, hard_rules: Sequence[str]) -> str:
    """`84.99%, capped by IBAN_NOT_VERIFIED` for a capped score (two decimals), `72.3%` otherwise."""
    rule = capped_by(score, raw_score, hard_rules)
    if rule:
        return f"{percent_text(score, 2)}, capped by {rule}"
    return percent_text(score, 1)


def score_value(score: float, raw_score: float | None, hard_rules: Sequence[str]) -> float | None:
    """The shown percentage as a number (for typed tables): the same truncation as `score_label`."""
    places = 2 if capped_by(score, raw_score, hard_rules) else 1
    shown = truncated_percent(score, places)
    return None if shown is None else float(shown)


# ---- reasons and candidates -------------------------------------------------------------------------------------
class ReasonView(NamedTuple):
    code: str
    part: str
    text: str


class CandidateView(NamedTuple):
    vendor_id: str
    company_name: str
    probability: float | None
    name_similarity: float | None
    evidence: tuple[str, ...]


def _loaded(value: str | Sequence[Any] | None) -> list[Any]:
    if value is None:
        return []
    data = json.loads(value) if isinstance(value, str | bytes) else value
    return list(data) if isinstance(data, list | tuple) else []


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_reasons(value: str | Sequence[Any] | None) -> tuple[ReasonView, ...]:
    """The stored `reasons` JSON as views; entries that are not objects are skipped, unknown keys ignored."""
    return tuple(ReasonView(text(item.get("code")), text(item.get("part")), text(item.get("text")))
                 for item in _loaded(value) if isinstance(item, Mapping))


def parse_candidates(value: str | Sequence[Any] | None) -> tuple[CandidateView, ...]:
    """The stored `candidates` JSON (best first) as views; unknown keys (e.g. `log_odds`) are ignored."""
    views = []
    for item in _loaded(value):
        if not isinstance(item, Mapping):
            continue
        evidence = item.get("evidence")
        views.append(CandidateView(
            text(item.get("vendor_id")), text(item.get("company_name")), _number(item.get("probability")),
            _number(item.get("name_similarity")),
            tuple(text(e) for e in evidence) if isinstance(evidence, list | tuple) else ()))
    return tuple(views)


def top_reason(hard_rules: Sequence[str], reasons: Sequence[ReasonView]) -> str:
    """Why the record waits: the text of the first (most severe) hard rule's reason, else the decision's."""
    if hard_rules:
        first = str(hard_rules[0])
        for reason in reasons:
            if reason.code == first and reason.text:
                return reason.text
    for reason in reasons:
        if reason.part == "decision" and reason.text:
            return reason.text
    return ""


def vendor_label(name: object, vendor_id: object = None, probability: float | None = None) -> str:
    """`Papeterie Dupont SARL [V-1] 92%`: the id is what `well review pin --vendor` takes."""
    parts = [text(name), f"[{text(vendor_id)}]" if text(vendor_id) else "", percent_text(probability, 0)]
    return " ".join(p for p in parts if p)


def best_vendor(vendor_id: str | None, vendor_name: str | None, candidates: Sequence[CandidateView]) -> str:
    """The vendor the record would go to, with its probability when it is one of the ranked candidates."""
    if is_empty(vendor_id) and is_empty(vendor_name):
        return ""
    probability = next((c.probability for c in candidates if c.vendor_id == vendor_id), None)
    return vendor_label(vendor_name, vendor_id, probability)


def runner_up(vendor_id: str | None, candidates: Sequence[CandidateView]) -> str:
    """The next-best vendor: the second candidate (the first other than the chosen one), or `""`."""
    other = next((c for c in candidates if c.vendor_id != vendor_id), None) if len(candidates) > 1 else None
    return "" if other is None else vendor_label(other.company_name, other.vendor_id, other.probability)


# ---- sections and order -----------------------------------------------------------------------------------------
def is_possible_fraud(hard_rules: Sequence[str]) -> bool:
    return FRAUD_RULE in hard_rules


def paid_in_qonto_rule(hard_rules: Sequence[str]) -> str:
    return next((str(r) for r in hard_rules if r in PAID_IN_QONTO_RULES), "")


def flag(hard_rules: Sequence[str]) -> str:
    """`possible payment fraud`, `already paid in Qonto`, `being paid in Qonto` or `""`."""
    if is_possible_fraud(hard_rules):
        return _FLAG_LABELS[FRAUD_RULE]
    return _FLAG_LABELS.get(paid_in_qonto_rule(hard_rules), "")


def section_of(decision: str, hard_rules: Sequence[str]) -> Section:
    """Refused records are their own section (frauds first inside it); review records split three ways."""
    if decision == "refused":
        return Section.REFUSED
    if is_possible_fraud(hard_rules):
        return Section.POSSIBLE_FRAUD
    if paid_in_qonto_rule(hard_rules):
        return Section.PAID_IN_QONTO
    return Section.REVIEW


def order_key(decision: str, hard_rules: Sequence[str], score: float, created_at: datetime | None,
              qonto_id: str) -> tuple:
    """Reading order: section, possible frauds first, best score first, oldest first, then the id (stable)."""
    return (section_of(decision, hard_rules).rank, not is_possible_fraud(hard_rules),
            -score if not is_empty(score) else math.inf, created_at or datetime.max, qonto_id)


class QueueKey(NamedTuple):
    """The few columns that place a record in the queue (cheap to read for the whole queue)."""

    qonto_id: str
    decision: str
    score: float
    hard_rules: tuple[str, ...]
    created_at: datetime | None

    @property
    def section(self) -> Section:
        return section_of(self.decision, self.hard_rules)

    @property
    def order_key(self) -> tuple:
        return order_key(self.decision, self.hard_rules, self.score, self.created_at, self.qonto_id)


def select_page(keys: Iterable[QueueKey], limit: int | None) -> tuple[list[QueueKey], dict[Section, int]]:
    """The first `limit` records of every section in reading order (all when `limit` is None), and totals."""
    ordered = sorted(keys, key=lambda k: k.order_key)
    totals = Counter(k.section for k in ordered)
    if limit is None:
        return ordered, dict(totals)
    taken: Counter[Section] = Counter()
    chosen = []
    for key in ordered:
        if taken[key.section] < limit:
            taken[key.section] += 1
            chosen.append(key)
    return chosen, dict(totals)


# ---- one record and a page of them ------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueEntry:
    """A scored record joined with its Qonto invoice, as the queue shows it."""

    qonto_id: str
    decision: str
    score: float
    raw_score: float | None
    hard_rules: tuple[str, ...]
    reasons: tuple[ReasonView, ...]
    candidates: tuple[CandidateView, ...]
    vendor_id: str | None = None
    vendor_name: str | None = None
    created_at: datetime | None = None
    supplier_name: str | None = None
    invoice_number: str | None = None
    total_amount: Decimal | float | None = None
    currency: str | None = None
    status: str | None = None
    iban: str | None = None

    @property
    def section(self) -> Section:
        return section_of(self.decision, self.hard_rules)

    @property
    def order_key(self) -> tuple:
        return order_key(self.decision, self.hard_rules, self.score, self.created_at, self.qonto_id)

    @property
    def possible_fraud(self) -> bool:
        return is_possible_fraud(self.hard_rules)

    @property
    def flag(self) -> str:
        return flag(self.hard_rules)

    @property
    def score_label(self) -> str:
        return score_label(self.score, self.raw_score, self.hard_rules)

    @property
    def score_value(self) -> float | None:
        return score_value(self.score, self.raw_score, self.hard_rules)

    @property
    def capped_by(self) -> str:
        return capped_by(self.score, self.raw_score, self.hard_rules)

    @property
    def top_reason(self) -> str:
        return top_reason(self.hard_rules, self.reasons)

    @property
    def best_vendor(self) -> str:
        return best_vendor(self.vendor_id, self.vendor_name, self.candidates)

    @property
    def runner_up(self) -> str:
        return runner_up(self.vendor_id, self.candidates)

    @property
    def amount(self) -> str:
        return format_money(self.total_amount, self.currency)

    @property
    def created_day(self) -> str:
        return day_text(self.created_at)


@dataclass(frozen=True)
class QueuePage:
    """Records in reading order (at most a limit per section) and the true size of every section."""

    entries: tuple[QueueEntry, ...]
    totals: Mapping[Section, int] = field(default_factory=dict)

    def section(self, section: Section) -> list[QueueEntry]:
        return [e for e in self.entries if e.section is section]

    def total(self, *sections: Section) -> int:
        return sum(self.totals.get(s, 0) for s in sections)

    @property
    def waiting(self) -> int:
        """Every record whose decision is `review` (possible frauds and paid-in-Qonto ones included)."""
        return self.total(*WAITING_SECTIONS)


def showing(shown: int, total: int) -> str:
    """`showing 50 of 3,204` (the phrase both the CLI and the UI use)."""
    return f"showing {shown:,} of {total:,}"
