"""List a Qonto time window until the *distinct* ids received add up to Qonto's `meta.total_count`.

Why: Qonto pages by page number, and records with tied sort keys can swap places between two page requests:
one record is served on pages k and k+1, another on neither, and `total_count` stays right (reference §12).
Counting raw records then sees the expected total, calls the listing complete and moves the sync marker past
a record that no later sync brings back. So a pass is complete only when every page reported the same
`total_count`, no id came twice, and the distinct ids reach that count.

When a pass falls short:
1. the whole window is listed once more: a list that changed while we paged usually has settled;
2. then it is split in two at the median of the received records' timestamps (or the middle of the window)
   and each half is listed the same way, recursively: a window that fits in one page cannot shift between
   pages, so halving converges in about log2(records / 100) levels;
3. a window that still falls short at `MAX_SPLIT_DEPTH`, that cannot be split (all its records share one
   timestamp) or whose halves are no smaller than itself stays short: the caller fails the run and keeps the
   sync marker, so the next sync reads the window again.
Re-reading is cheap and safe: rows are keyed on the Qonto id and unchanged ones are not rewritten.

The strategy is independent of storage: `list_once(window)` performs (and stores) one pass and returns its
`ListingTally`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from well_pipeline.adapters.qonto import InvoicePage, SupplierInvoice

if TYPE_CHECKING:  # qonto_ingest imports this module; the window type is only needed for hints
    from well_pipeline.services.qonto_ingest import IngestWindow

__all__ = ["MAX_SPLIT_DEPTH", "ListingIncompleteError", "ListingOutcome", "ListingTally", "list_until_reconciled"]

MAX_SPLIT_DEPTH = 10  # 2**10 windows of 100 records: a 100k-record window with ties everywhere still converges
RELISTS = 1  # whole-window passes again before splitting

Log = Callable[[str], None]


class ListingIncompleteError(RuntimeError):
    """Some window of the listing never reconciled with Qonto's count: records may be missing.

    Raised after everything received is stored (and attachments fetched), so it only stops the sync marker
    from moving; `report` is the ingest report of the run.
    """

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report


def split_field(window: IngestWindow) -> str:
    """The timestamp a window bounds and can be split on: `created_at` for a backfill, else `updated_at`."""
    return "created_at" if window.created_from or window.created_to else "updated_at"


@dataclass
class ListingTally:
    """What one pass over a window received, to check against the `total_count` Qonto announced."""

    split_on: str = "created_at"
    expected: int | None = None  # meta.total_count of the first page
    counts: set[int] = field(default_factory=set)  # every total_count seen while paging
    received: int = 0  # raw records, repeats included
    ids: set[str] = field(default_factory=set)
    anonymous: int = 0  # records without a readable id: counted, cannot be checked for repeats
    stamps: list[datetime] = field(default_factory=list)  # split_on values of the in-window invoices

    @classmethod
    def for_window(cls, window: IngestWindow) -> ListingTally:
        return cls(split_on=split_field(window))

    def add(self, page: InvoicePage) -> None:
        """Count one page (as yielded by `QontoClient.iter_supplier_invoice_pages`)."""
        if page.total_count is not None:
            if self.expected is None:
                self.expected = page.total_count
            self.counts.add(page.total_count)
        self.received += page.received
        self.ids.update(page.raw_ids)
        self.anonymous += max(0, page.received - len(page.raw_ids))
        for record in page.results:
            if isinstance(record, SupplierInvoice):
                self.stamps.append(getattr(record, self.split_on))

    @property
    def distinct(self) -> int:
        return len(self.ids) + self.anonymous

    @property
    def repeated(self) -> int:
        return self.received - self.distinct

    def reconciled(self) -> bool:
        """True when nothing can be missing (also when Qonto announced no count: nothing to check against)."""
        if self.expected is None:
            return True
        return len(self.counts) == 1 and self.repeated == 0 and self.distinct >= self.expected

    def describe(self) -> str:
        text = f"Qonto reported {self.expected} records; {self.distinct} distinct arrived"
        if self.repeated:
            text += f" ({self.repeated} served twice)"
        if len(self.counts) > 1:
            text += f"; total_count changed while paging ({', '.join(str(c) for c in sorted(self.counts))})"
        return text


@dataclass
class ListingOutcome:
    """How the listing went: complete or not, and what it took."""

    complete: bool = True
    passes: int = 0
    windows_split: int = 0
    short_windows: list[str] = field(default_factory=list)  # descriptions of the windows that stayed short


def _bounds(window: IngestWindow, name: str) -> tuple[datetime | None, datetime | None]:
    prefix = "created" if name == "created_at" else "updated"
    return getattr(window, f"{prefix}_from"), getattr(window, f"{prefix}_to")


def split_window(window: IngestWindow, tally: ListingTally) -> tuple[datetime, IngestWindow, IngestWindow] | None:
    """Where to cut `window` in two so both halves hold received records, or None when it cannot be cut."""
    name = tally.split_on
    low, high = _bounds(window, name)
    stamps = sorted(tally.stamps)
    candidates = [stamps[len(stamps) // 2]] if stamps else []
    if low is not None and high is not None:
        candidates.append(low + (high - low) / 2)
    for middle in candidates:
        if (low is not None and middle <= low) or (high is not None and middle >= high):
            continue
        if stamps and not stamps[0] < middle <= stamps[-1]:
            continue  # one half would hold every received record: no progress
        prefix = "created" if name == "created_at" else "updated"
        lower = dataclasses.replace(window, **{f"{prefix}_to": middle})
        upper = dataclasses.replace(window, **{f"{prefix}_from": middle})
        return middle, lower, upper
    return None


def list_until_reconciled(window: IngestWindow, list_once: Callable[[IngestWindow], ListingTally], *,
                          warn: Log, max_depth: int = MAX_SPLIT_DEPTH) -> ListingOutcome:
    """List `window` (see the module docstring); every warning goes to `warn` (the Dagster event log)."""
    outcome = ListingOutcome()

    def one_pass(part: IngestWindow) -> ListingTally:
        outcome.passes += 1
        return list_once(part)

    def reconcile(part: IngestWindow, depth: int, parent_received: int | None) -> None:
        tally = one_pass(part)
        if tally.reconciled():
            return
        if depth == 0:
            for attempt in range(1, RELISTS + 1):
                warn(f"{tally.describe()} for {part.describe()} (records shifted between pages or the list "
                     f"changed while paging): re-listing the window ({attempt}/{RELISTS})")
                tally = one_pass(part)
                if tally.reconciled():
                    return
        cut = split_window(part, tally) if depth < max_depth else None
        if parent_received is not None and tally.received >= parent_received:
            cut = None  # this half brought back as much as its parent: splitting further cannot help
        if cut is None:
            outcome.complete = False
            outcome.short_windows.append(part.describe())
            warn(f"{tally.describe()} for {part.describe()}, and the window cannot be narrowed further: "
                 "it stays incomplete")
            return
        middle, lower, upper = cut
        outcome.windows_split += 1
        warn(f"{tally.describe()} for {part.describe()}: split window at {middle.isoformat()} and listing "
             "each half")
        reconcile(lower, depth + 1, tally.received)
        reconcile(upper, depth + 1, tally.received)

    reconcile(window, 0, None)
    return outcome
