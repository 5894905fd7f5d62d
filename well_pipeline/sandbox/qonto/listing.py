"""GET /v2/supplier_invoices: query parsing, filtering, sorting and page-number pagination.

Semantics chosen where Qonto's docs are silent (all UNCONFIRMED, see reference §3, §6, §9):
- time bounds: `*_from` inclusive, `*_to` exclusive, compared as instants (offsets honoured); a client
  must still overlap its windows and de-duplicate by id, because the real bounds are unknown;
- timestamps must be RFC 3339 with `Z` or an offset; a `+` sent unencoded arrives as a space and is
  refused with 422 (the classic client bug), as is a naive or date-only value;
- sort: `sort_by=<field>:<asc|desc>`, default `created_at:desc` (Qonto's default for to-review
  invoices); nulls sort as the largest value (PostgreSQL's default) and ties are broken by id in the same
  direction, so paging is stable (the `shifted_page` fault serves what unstable ties do instead, see
  `shift_page`); `updated_at` is accepted although Qonto does not list it;
- pagination: `page` (default 1) / `per_page` (default 100, 1..100, else 422); `current_page` and other
  unknown parameters are ignored, like Qonto ignores `current_page`; a page past the last answers 422
  (vendor claim) except page 1 of an empty result, which answers 200 with `total_pages: 1` (the
  behaviour of Pagy, whose overflow error is the likely source of that 422);
- `filter[status]` values outside Qonto's enumerated statuses are refused with `not_in_list`.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .dataset import InvoiceRow, Snapshot
from .errors import unprocessable

STATUSES = frozenset(
    {
        "to_review",
        "to_approve",
        "awaiting_payment",
        "pending",
        "scheduled",
        "paid",
        "archived",
        "rejected",
        "discarded",
        "to_pay",  # named in Qonto's sync guide; matches only records literally in that status
    }
)
SORT_FIELDS = (
    "created_at",
    "file_name",
    "supplier_name",
    "payment_date",
    "due_date",
    "scheduled_date",
    "total_amount",
    "updated_at",
)
DUE_DATE_VALUES = frozenset({"past_and_today", "future", "missing_date"})
DOCUMENT_TYPES = frozenset({"duplicates", "non_financial_documents"})
DEFAULT_SORT = ("created_at", True)
MAX_PER_PAGE = 100
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


@dataclass(frozen=True)
class ListQuery:
    """The filters and order of one list request (hashable: it keys the result cache)."""

    statuses: frozenset[str] | None = None
    created_from: float | None = None
    created_to: float | None = None
    updated_from: float | None = None
    updated_to: float | None = None
    due_date: frozenset[str] | None = None
    exclude_credit_notes: bool = False
    document_types: frozenset[str] | None = None
    attachment_ids: frozenset[str] | None = None
    sort_field: str = DEFAULT_SORT[0]
    descending: bool = DEFAULT_SORT[1]


@dataclass(frozen=True)
class PageRequest:
    """Requested page number and size."""

    page: int = 1
    per_page: int = MAX_PER_PAGE


def _parse_instant(value: str, parameter: str) -> float:
    if not _RFC3339.match(value):
        raise unprocessable(
            "invalid_format",
            f"{parameter} must be an RFC 3339 timestamp with a time zone, e.g. 2022-01-21T12:01:02Z",
            parameter,
        )
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise unprocessable("invalid_format", f"{parameter} is not a valid date-time", parameter) from None


def _parse_bool(value: str, parameter: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise unprocessable("invalid_format", f"{parameter} must be true or false", parameter)


def _parse_positive_int(value: str, parameter: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise unprocessable("invalid_format", f"{parameter} must be an integer", parameter) from None
    return number


def _enum_values(values: list[str], allowed: frozenset[str], parameter: str) -> frozenset[str] | None:
    cleaned = [v for v in values if v != ""]
    if not cleaned:
        return None
    for value in cleaned:
        if value not in allowed:
            raise unprocessable(
                "not_in_list", f"{value!r} is not one of: {', '.join(sorted(allowed))}", parameter
            )
    return frozenset(cleaned)


def parse_list_query(params: Iterable[tuple[str, str]]) -> tuple[ListQuery, PageRequest]:
    """Turn query parameters into a ListQuery and PageRequest; raises ApiError (422) when invalid."""
    multi: dict[str, list[str]] = {}
    for key, value in params:
        if key.endswith("[]"):
            key = key[:-2]
        multi.setdefault(key, []).append(value)

    def last(name: str) -> str | None:
        values = multi.get(name)
        return values[-1] if values else None

    fields: dict[str, Any] = {}
    if "filter[status]" in multi:
        fields["statuses"] = _enum_values(multi["filter[status]"], STATUSES, "filter[status]")
    for name, target in (
        ("filter[created_at_from]", "created_from"),
        ("filter[created_at_to]", "created_to"),
        ("filter[updated_at_from]", "updated_from"),
        ("filter[updated_at_to]", "updated_to"),
    ):
        instant = last(name)
        if instant:
            fields[target] = _parse_instant(instant, name)
    if "filter[due_date]" in multi:
        fields["due_date"] = _enum_values(multi["filter[due_date]"], DUE_DATE_VALUES, "filter[due_date]")
    flag = last("filter[exclude_credit_notes]")
    if flag:
        fields["exclude_credit_notes"] = _parse_bool(flag, "filter[exclude_credit_notes]")
    if "filter[document_type]" in multi:
        fields["document_types"] = _enum_values(
            multi["filter[document_type]"], DOCUMENT_TYPES, "filter[document_type]"
        )
    if "filter[attachment_id]" in multi:
        ids = frozenset(v for v in multi["filter[attachment_id]"] if v)
        fields["attachment_ids"] = ids or None
    sort_by = last("sort_by")
    if sort_by:
        field_name, sep, direction = sort_by.partition(":")
        if field_name not in SORT_FIELDS or not sep or direction not in ("asc", "desc"):
            raise unprocessable(
                "not_in_list",
                f"sort_by must be <field>:<asc|desc> with field one of: {', '.join(SORT_FIELDS)}",
                "sort_by",
            )
        fields["sort_field"] = field_name
        fields["descending"] = direction == "desc"

    page, per_page = 1, MAX_PER_PAGE
    raw_page = last("page")
    if raw_page is not None and raw_page != "":
        page = _parse_positive_int(raw_page, "page")
        if page < 1:
            raise unprocessable("out_of_range", "page must be greater than or equal to 1", "page")
    raw_per_page = last("per_page")
    if raw_per_page is not None and raw_per_page != "":
        per_page = _parse_positive_int(raw_per_page, "per_page")
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise unprocessable("out_of_range", f"per_page must be between 1 and {MAX_PER_PAGE}", "per_page")
    return ListQuery(**fields), PageRequest(page, per_page)


# ----- sorting ---------------------------------------------------------------------------------------
def _sort_value(row: InvoiceRow, field_name: str) -> Any:
    """Comparable value of a row for a sort field, or None (sorted as the largest)."""
    if field_name == "created_at":
        return row.created
    if field_name == "updated_at":
        return row.updated
    if field_name == "total_amount":
        try:
            return Decimal(str(row.total_amount)) if row.total_amount is not None else None
        except (InvalidOperation, ValueError):
            return None
    if field_name in ("file_name", "supplier_name"):
        text = getattr(row, field_name)
        return None if text is None else text.casefold()
    value: str | None = getattr(row, field_name)  # YYYY-MM-DD strings sort chronologically
    return value


def ascending_order(snapshot: Snapshot, field_name: str) -> list[int]:
    """Row indices sorted ascending by field (nulls last, ties by id); cached on the snapshot."""
    cached = snapshot.orders.get(field_name)
    if cached is not None:
        return cached
    with snapshot.orders_lock:
        cached = snapshot.orders.get(field_name)
        if cached is not None:
            return cached
        rows = snapshot.rows
        if field_name == "created_at":
            order = list(range(len(rows)))  # rows are already sorted by (created, id)
        else:

            def key(index: int) -> tuple[Any, ...]:
                value = _sort_value(rows[index], field_name)
                return (value is None, value if value is not None else 0, rows[index].id)

            order = sorted(range(len(rows)), key=key)
        snapshot.orders[field_name] = order
        return order


# ----- filtering -------------------------------------------------------------------------------------
def _due_date_predicate(values: frozenset[str], today: date) -> Callable[[InvoiceRow], bool]:
    today_iso = today.isoformat()

    def check(row: InvoiceRow) -> bool:
        due = row.due_date
        if due is None:
            return "missing_date" in values
        if due <= today_iso:
            return "past_and_today" in values
        return "future" in values

    return check


def build_predicate(query: ListQuery, today: date) -> Callable[[InvoiceRow], bool] | None:
    """One function testing every filter of the query, or None when nothing filters."""
    checks: list[Callable[[InvoiceRow], bool]] = []
    if query.statuses is not None:
        statuses = query.statuses
        checks.append(lambda row: row.status in statuses)
    if query.created_from is not None:
        lo = query.created_from
        checks.append(lambda row: row.created >= lo)
    if query.created_to is not None:
        hi = query.created_to
        checks.append(lambda row: row.created < hi)
    if query.updated_from is not None:
        ulo = query.updated_from
        checks.append(lambda row: row.updated >= ulo)
    if query.updated_to is not None:
        uhi = query.updated_to
        checks.append(lambda row: row.updated < uhi)
    if query.due_date is not None:
        checks.append(_due_date_predicate(query.due_date, today))
    if query.exclude_credit_notes:
        checks.append(lambda row: not row.is_credit_note)
    if query.document_types is not None:
        wanted = query.document_types

        def document_type(row: InvoiceRow) -> bool:
            return ("duplicates" in wanted and row.has_duplicates) or (
                "non_financial_documents" in wanted and row.is_non_financial
            )

        checks.append(document_type)
    if query.attachment_ids is not None:
        ids = query.attachment_ids
        checks.append(lambda row: any(a in ids for a in row.attachment_ids))
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    return lambda row: all(check(row) for check in checks)


class ListingEngine:
    """Filters + sorts a snapshot, caching whole result lists so paging through 100k rows stays cheap."""

    def __init__(self, cache_size: int = 64) -> None:
        self._cache: OrderedDict[tuple[Any, ...], list[InvoiceRow]] = OrderedDict()
        self._lock = threading.Lock()
        self._cache_size = cache_size

    def results(
        self, snapshot: Snapshot, query: ListQuery, first_exposed: int, today: date
    ) -> list[InvoiceRow]:
        """All exposed rows matching the query, in the requested order."""
        key = (snapshot.version, query, first_exposed, today if query.due_date else None)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        order = ascending_order(snapshot, query.sort_field)
        indices: Iterable[int] = reversed(order) if query.descending else order
        rows = snapshot.rows
        predicate = build_predicate(query, today)
        result = [
            rows[i] for i in indices if i >= first_exposed and (predicate is None or predicate(rows[i]))
        ]
        with self._lock:
            self._cache[key] = result
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return result


def shift_page(rows: list[InvoiceRow], page: PageRequest) -> list[InvoiceRow]:
    """Page `page` as a listing whose tied sort keys swapped between two requests would serve it (shifted_page).

    The record that ended page k opens page k+1 again and the one that should have opened page k+1 is never
    served; the page keeps its size and `meta.total_count` is unchanged, so only distinct ids reveal the loss.
    """
    start = (page.page - 1) * page.per_page
    if page.page < 2 or start >= len(rows):
        return rows[start : start + page.per_page]
    return [rows[start - 1], *rows[start + 1 : start + page.per_page]]


def paginate(rows: list[InvoiceRow], page: PageRequest) -> tuple[list[InvoiceRow], dict[str, Any]]:
    """Slice one page and build Qonto's meta block; raises 422 for a page past the last."""
    total = len(rows)
    total_pages = max(1, math.ceil(total / page.per_page))
    if page.page > total_pages:
        raise unprocessable("out_of_range", f"page {page.page} is past the last page ({total_pages})", "page")
    start = (page.page - 1) * page.per_page
    meta = {
        "current_page": page.page,
        "next_page": page.page + 1 if page.page < total_pages else None,
        "prev_page": page.page - 1 if page.page > 1 else None,
        "total_pages": total_pages,
        "total_count": total,
        "per_page": page.per_page,
    }
    return rows[start : start + page.per_page], meta
