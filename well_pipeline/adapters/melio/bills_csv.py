"""Reader for `melio/bills.csv`, the Melio ledger a backfill checks so it never creates a bill twice.

Why strict per row: a bill read with a wrong amount or date would make the duplicate check answer wrongly
and silently, so any value that cannot be read with certainty skips the row with an error. Callers should
treat ledger errors as blocking: a skipped bill is a bill the duplicate check cannot see.

Formats accepted:
- dates `YYYY-MM-DD` and `MM/DD/YYYY` (Melio's own CSV examples). A slash date whose first part is above
  12 is day-first, which we refuse; once a file shows such a date, every slash date in it whose day and
  month could be swapped is refused too, as that file evidently writes dates day-first.
- amounts `1234.56`, `1,234.56`, `1234,56` (decimal comma when there is no dot), with an optional sign
  and leading currency symbol. `1,234` fits both the thousands and the decimal-comma reading and is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache, partial
from pathlib import Path
from typing import TypeVar

from well_pipeline.adapters.melio.csv_rows import CsvLoad, CsvSchema, RawRow, RowIssue, read_table

__all__ = [
    "BILL_SCHEMA",
    "MelioBill",
    "parse_amount",
    "parse_currency",
    "parse_date",
    "read_ledger",
]

BILL_SCHEMA = CsvSchema(
    file_label="melio/bills.csv",
    description="Melio bill ledger",
    required=("bill_id", "company_name", "invoice_number"),
    optional=("invoice_date", "due_date", "amount", "currency", "status"),
)

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class MelioBill:
    """One bill already in Melio; optional values are None when the cell is empty. `line`: row start."""

    bill_id: str
    company_name: str
    invoice_number: str
    invoice_date: date | None
    due_date: date | None
    amount: Decimal | None
    currency: str | None
    status: str | None
    line: int


_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_SLASH_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_DATE_COLUMNS = ("invoice_date", "due_date")


def parse_date(raw: str, day_first_seen: tuple[int, str] | None = None) -> date:
    """Parse `YYYY-MM-DD` or `MM/DD/YYYY`; raise ValueError with the reason otherwise.

    `day_first_seen` is (line, value) of a day-first date elsewhere in the same file, if any.
    """
    if m := _ISO_DATE.fullmatch(raw):
        year, month, day = int(m[1]), int(m[2]), int(m[3])
    elif m := _SLASH_DATE.fullmatch(raw):
        month, day, year = int(m[1]), int(m[2]), int(m[3])
        if month > 12:
            raise ValueError("is not MM/DD/YYYY (no month above 12); day-first dates are refused as "
                             "ambiguous, use YYYY-MM-DD")
        if day_first_seen and day <= 12 and day != month:
            seen_line, seen_value = day_first_seen
            raise ValueError(f"is ambiguous: line {seen_line} has the day-first date {seen_value!r}, so "
                             "day and month may be swapped here; use YYYY-MM-DD")
    else:
        raise ValueError("is not a date in YYYY-MM-DD or MM/DD/YYYY")
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError("is not a calendar date") from None


_PLAIN = re.compile(r"\d+(?:\.\d+)?")
_THOUSANDS_COMMA = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_DECIMAL_COMMA = re.compile(r"\d+,\d+")
_SIGNED = re.compile(r"([+-]?)\s*[€$£]?\s*([+-]?)\s*(.*)")
_SIGN_OR_SYMBOL = frozenset("+-€$£")


def parse_amount(raw: str) -> Decimal:
    """Parse an amount in one of the accepted formats (module docstring); raise ValueError otherwise."""
    if _PLAIN.fullmatch(raw):  # fast path: what most exports write
        return Decimal(raw)
    sign_before, sign_after, number = "", "", raw
    if raw[:1] in _SIGN_OR_SYMBOL and (m := _SIGNED.fullmatch(raw)):
        sign_before, sign_after, number = m[1], m[2], m[3]
    if sign_before and sign_after:
        raise ValueError("has two signs")
    negative = "-" in (sign_before, sign_after)
    if _PLAIN.fullmatch(number):
        value = number
    elif _THOUSANDS_COMMA.fullmatch(number):
        if "." not in number and _DECIMAL_COMMA.fullmatch(number):
            raise ValueError("is ambiguous: thousands separator or decimal comma? write 1234.00 or 1,234.00")
        value = number.replace(",", "")
    elif _DECIMAL_COMMA.fullmatch(number):
        value = number.replace(",", ".")
    else:
        raise ValueError("is not an amount like 1234.56, 1,234.56 or 1234,56")
    return -Decimal(value) if negative else Decimal(value)


def parse_currency(raw: str) -> str:
    """A 3-letter code, upper-cased; raise ValueError otherwise."""
    code = raw.upper()
    if not (len(code) == 3 and code.isascii() and code.isalpha()):
        raise ValueError("is not a 3-letter currency code")
    return code


def _day_first_evidence(rows: list[RawRow]) -> tuple[int, str] | None:
    """The first slash date in the file that can only be day-first, as (line, value)."""
    for line, cells in rows:
        for column in _DATE_COLUMNS:
            value = cells.get(column, "")
            if "/" in value and (m := _SLASH_DATE.fullmatch(value)) and int(m[1]) > 12:
                return line, m[0]
    return None


def read_ledger(path: Path) -> CsvLoad[MelioBill]:
    """Load the bill ledger; a row with any unreadable value is skipped with one error per problem."""
    table = read_table(path, BILL_SCHEMA)
    day_first_seen = _day_first_evidence(table.rows)
    # Ledgers repeat dates and currencies a lot; lru_cache keeps successes only, so refusals are re-reported.
    parse_dates = lru_cache(maxsize=None)(partial(parse_date, day_first_seen=day_first_seen))
    parse_currencies = lru_cache(maxsize=None)(parse_currency)
    bills: list[MelioBill] = []
    errors = list(table.errors)
    first_line: dict[str, int] = {}
    for line, cells in table.rows:
        bill_id, name, number = cells["bill_id"], cells["company_name"], cells["invoice_number"]
        problems = [] if bill_id and name and number else [
            f"{column} is empty" for column in BILL_SCHEMA.required if not cells[column]]
        invoice_date = _optional(cells, "invoice_date", parse_dates, problems)
        due_date = _optional(cells, "due_date", parse_dates, problems)
        amount = _optional(cells, "amount", parse_amount, problems)
        currency = _optional(cells, "currency", parse_currencies, problems)
        if problems:
            errors.extend(RowIssue(path, line, f"{problem}; row skipped") for problem in problems)
            continue
        if (first := first_line.get(bill_id)) is not None:
            errors.append(RowIssue(path, line, (
                f"duplicate bill_id {bill_id!r} as line {first}; kept line {first}, skipped this row")))
            continue
        first_line[bill_id] = line
        bills.append(MelioBill(bill_id, name, number, invoice_date, due_date, amount, currency,
                               cells.get("status") or None, line))

    errors.sort(key=lambda issue: issue.line)  # shape errors from read_table come first otherwise
    return CsvLoad(bills, errors, [], list(table.notes), path, table.sha256)


def _optional(cells: dict[str, str], column: str, parse: Callable[[str], V], problems: list[str]) -> V | None:
    """Parse an optional cell: None when empty or absent; a refusal is added to `problems`."""
    raw = cells.get(column)
    if not raw:
        return None
    try:
        return parse(raw)
    except ValueError as exc:
        problems.append(f"{column} {raw!r} {exc}")
        return None
