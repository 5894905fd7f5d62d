"""`services/review.py` on real storage, without Dagster or the CLI: the rules every review decision passes."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from well_pipeline.adapters.melio import read_vendor_directory
from well_pipeline.adapters.storage import DuckDBStorage, Storage
from well_pipeline.core.scoring.display import Section
from well_pipeline.services import review
from well_pipeline.services.review import (
    NoCandidateError,
    NotScoredError,
    RecordChangedError,
    ReviewError,
    UnknownVendorError,
)
from well_pipeline_tests.support.review_queue import fill_queue, record, store_invoices


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    storage = DuckDBStorage(tmp_path / "well.duckdb", tmp_path / "attachments")
    csv = tmp_path / "vendors.csv"
    csv.write_text("Company Name;Vendor ID\nPapeterie Dupont SARL;V-1\nNordlicht Logistik GmbH;V-2\n",
                   encoding="utf-8")
    storage.melio.replace_vendors(read_vendor_directory(csv))
    fill_queue(storage, [record("inv-review", score=0.8), record("inv-orphan", candidates=(), hours=1),
                         record("inv-refused", decision="refused", score=0.3, hours=2)])
    return storage


def test_list_queue_waiting_and_refused_or_refused_only(storage: Storage) -> None:
    page = review.list_queue(storage, limit=None)
    assert [e.qonto_id for e in page.entries] == ["inv-review", "inv-orphan", "inv-refused"]
    assert page.total(Section.REVIEW) == 2 and page.total(Section.REFUSED) == 1
    refused = review.list_queue(storage, limit=None, refused_only=True)
    assert [e.qonto_id for e in refused.entries] == ["inv-refused"] and refused.waiting == 0
    first = review.list_queue(storage, limit=1)
    assert [e.qonto_id for e in first.entries] == ["inv-review", "inv-refused"] and first.waiting == 2


def test_show_returns_the_record_and_its_decisions(storage: Storage) -> None:
    review.refuse(storage, "inv-review", "not ours", author="ana")
    shown = review.show(storage, "inv-review")
    assert shown.details.entry.decision == "refused" and shown.details.entry.vendor_id == "V-1"
    assert [(d.action, d.reason, d.author) for d in shown.history] == [("refuse", "not ours", "ana")]
    with pytest.raises(NotScoredError) as missing:
        review.show(storage, "inv-nope")
    assert str(missing.value) == "no scored record inv-nope" and missing.value.qonto_id == "inv-nope"


def test_approve_takes_the_scored_vendor_and_says_what_it_was(storage: Storage) -> None:
    outcome = review.approve(storage, "inv-review", author="ana")
    assert outcome.previous_decision == "review"
    assert (outcome.override.action, outcome.override.vendor_id, outcome.override.author) == ("approve", "V-1", "ana")
    entry = review.show(storage, "inv-review").details.entry
    assert (entry.decision, entry.vendor_id, entry.vendor_name) == ("manual_link", "V-1", "Papeterie Dupont SARL")


def test_approve_needs_a_candidate(storage: Storage) -> None:
    with pytest.raises(NoCandidateError, match="inv-orphan has no candidate vendor to approve; use "
                                               "`well review pin inv-orphan --vendor VENDOR_ID`"):
        review.approve(storage, "inv-orphan", author="ana")
    assert review.show(storage, "inv-orphan").history == []  # nothing stored


def test_pin_needs_a_known_vendor(storage: Storage) -> None:
    with pytest.raises(UnknownVendorError, match="unknown Melio vendor 'V-404' \\(see melio_vendors\\)"):
        review.pin(storage, "inv-orphan", "V-404", author="ana")
    assert review.show(storage, "inv-orphan").history == []
    outcome = review.pin(storage, "inv-orphan", "V-2", author="bo")
    assert outcome.override.vendor_id == "V-2" and outcome.previous_decision == "review"
    assert review.show(storage, "inv-orphan").details.entry.vendor_name == "Nordlicht Logistik GmbH"


def test_refuse_keeps_the_reason_and_a_refused_record_can_still_be_pinned(storage: Storage) -> None:
    outcome = review.refuse(storage, "inv-review", "IBAN not confirmed", author="ana")
    assert (outcome.override.reason, outcome.override.vendor_id, outcome.previous_decision) == \
        ("IBAN not confirmed", None, "review")
    assert review.show(storage, "inv-review").details.entry.decision == "refused"
    assert review.pin(storage, "inv-refused", "V-1", author="ana").previous_decision == "refused"


def test_only_a_scored_record_can_be_decided(storage: Storage) -> None:
    for decide in (lambda: review.approve(storage, "inv-nope", author="ana"),
                   lambda: review.pin(storage, "inv-nope", "V-1", author="ana"),
                   lambda: review.refuse(storage, "inv-nope", "x", author="ana")):
        with pytest.raises(NotScoredError, match="^no scored record inv-nope: materialise scored_matches for its "
                                                 "day first$"):
            decide()


def test_a_record_changed_in_qonto_cannot_be_decided_before_it_is_scored_again(storage: Storage) -> None:
    raw = record("inv-review", score=0.8)[0]
    later = datetime.fromisoformat(raw["updated_at"]) + timedelta(days=1)
    store_invoices(storage, [{**raw, "invoice_number": "F-CHANGED", "updated_at": later.isoformat()}])
    with pytest.raises(RecordChangedError, match="inv-review changed in Qonto \\(version 2\\)"):
        review.approve(storage, "inv-review", author="ana")
    assert review.show(storage, "inv-review").history == []


class _SomeoneDecidesFirst:
    """The real match store, where another person's decision lands between this decision's read and its write."""

    def __init__(self, storage: Storage) -> None:
        self._matches = storage.matches

    def __getattr__(self, name: str) -> Any:
        return getattr(self._matches, name)

    def details(self, qonto_id: str) -> Any:
        found = self._matches.details(qonto_id)
        self._matches.record_decision(qonto_id=qonto_id, action="refuse", author="bob", reason="not ours")
        return found


def test_of_two_people_deciding_at_once_the_later_one_is_stale(storage: Storage) -> None:
    racing = SimpleNamespace(matches=_SomeoneDecidesFirst(storage), melio=storage.melio)
    with pytest.raises(RecordChangedError, match=r"inv-review was decided meanwhile \(it is now refused, no longer "
                                                 r"review\); look at it again"):
        review.approve(racing, "inv-review", author="alice")  # type: ignore[arg-type]
    assert [h.author for h in storage.matches.decision_history("inv-review")] == ["bob"]  # alice stored nothing


def test_every_refusal_is_a_review_error() -> None:
    for error in (NotScoredError, NoCandidateError, UnknownVendorError, RecordChangedError):
        assert issubclass(error, ReviewError)
