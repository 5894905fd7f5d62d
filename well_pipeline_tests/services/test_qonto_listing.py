"""The reconciliation rules of qonto_listing.py on hand-built pages: what counts as complete, where a window is
cut, and when the strategy gives up (the sandbox tests in test_qonto_ingest.py drive it end to end)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from well_pipeline.adapters.qonto import InvoicePage, RejectedRecord, parse_supplier_invoice
from well_pipeline.services.qonto_ingest import IngestWindow
from well_pipeline.services.qonto_listing import ListingTally, list_until_reconciled, split_window
from well_pipeline_tests.support.qonto_records import make_invoice

T0 = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


def page(total: int, ids: list[str], *, minutes: list[int] | None = None) -> InvoicePage:
    minutes = minutes if minutes is not None else list(range(len(ids)))
    records = [parse_supplier_invoice(make_invoice(invoice_id=i, created_at=T0 + timedelta(minutes=m)))
               for i, m in zip(ids, minutes, strict=True)]
    return InvoicePage(1, total, list(records), 1, None, len(ids), tuple(ids))


def tally(*pages: InvoicePage) -> ListingTally:
    result = ListingTally()
    for one in pages:
        result.add(one)
    return result


def test_raw_count_reaching_the_total_is_not_enough_when_an_id_came_twice() -> None:
    shifted = tally(page(4, ["a", "b"]), page(4, ["b", "d"]))  # "c" skipped, "b" served twice
    assert shifted.received == 4 and shifted.distinct == 3 and shifted.repeated == 1
    assert not shifted.reconciled()
    assert "3 distinct arrived (1 served twice)" in shifted.describe()
    assert tally(page(4, ["a", "b"]), page(4, ["c", "d"])).reconciled()


def test_a_total_that_changed_while_paging_is_not_reconciled() -> None:
    changed = tally(page(4, ["a", "b"]), page(3, ["c", "d"]))
    assert changed.distinct == 4 and not changed.reconciled()
    assert "total_count changed while paging (3, 4)" in changed.describe()


def test_records_without_an_id_still_count_and_no_total_means_nothing_to_check() -> None:
    anonymous = InvoicePage(1, 2, [RejectedRecord("{}", "no id"), RejectedRecord("{}", "no id")], 1, None, 2, ())
    assert tally(anonymous).reconciled()
    assert tally(InvoicePage(1, None, [], 1, None, 0, ())).reconciled()


def test_split_at_the_median_of_what_arrived_even_without_a_lower_bound() -> None:
    window = IngestWindow(created_to=T0 + timedelta(days=1))
    received = tally(page(5, list("abcde"), minutes=[0, 1, 2, 3, 40]))
    middle, lower, upper = split_window(window, received)
    assert middle == T0 + timedelta(minutes=2)
    assert lower == IngestWindow(created_to=middle) and upper == IngestWindow(created_from=middle,
                                                                               created_to=window.created_to)


def test_records_sharing_one_timestamp_cannot_be_split() -> None:
    window = IngestWindow(created_from=T0 - timedelta(days=1), created_to=T0 + timedelta(days=1))
    assert split_window(window, tally(page(3, list("abc"), minutes=[0, 0, 0]))) is None


def test_a_half_no_smaller_than_its_parent_stops_the_recursion() -> None:
    """Qonto serving the same short listing whatever the window: split once, then give up (bounded passes)."""
    window = IngestWindow(created_from=T0 - timedelta(days=1), created_to=T0 + timedelta(days=1))
    passes: list[IngestWindow] = []
    warnings: list[str] = []

    def list_once(part: IngestWindow) -> ListingTally:
        passes.append(part)
        return tally(page(4, ["a", "b"], minutes=[0, 30]), page(4, ["b", "d"], minutes=[30, 60]))

    outcome = list_until_reconciled(window, list_once, warn=warnings.append)
    assert not outcome.complete and outcome.passes == 4 and outcome.windows_split == 1
    assert passes[0] == passes[1] == window  # the first pass and the re-listing
    assert len(outcome.short_windows) == 2
    assert any("re-listing" in w for w in warnings) and any("split window at" in w for w in warnings)


def test_the_split_depth_is_bounded() -> None:
    window = IngestWindow(created_from=T0, created_to=T0 + timedelta(days=64))
    received = iter(range(1000, 0, -1))  # each half smaller than its parent: only the depth bound stops it

    def list_once(part: IngestWindow) -> ListingTally:
        count = next(received)
        records = page(count, ["x", "y"], minutes=[0, 1]).results
        start = part.created_from or T0
        stamped = [parse_supplier_invoice(make_invoice(invoice_id=r.id, created_at=start + timedelta(minutes=n)))
                   for n, r in enumerate(records)]
        # `count` records arrive, one of them twice: it never reconciles.
        return tally(InvoicePage(1, count, list(stamped), 1, None, count, ("x", "x", *map(str, range(count - 2)))))

    outcome = list_until_reconciled(window, list_once, warn=lambda _: None, max_depth=3)
    assert not outcome.complete
    assert outcome.windows_split == 1 + 2 + 4 and len(outcome.short_windows) == 8
