"""`MatchStore` contract: scored days replaced as a whole, people's decisions kept, applied and re-applied only
to the version they were made on, the review queue in reading order, and the counts the asset checks read."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from well_pipeline.adapters.melio import read_vendor_directory
from well_pipeline.adapters.storage import Storage
from well_pipeline.adapters.storage.records import ScoredRow, StaleRecordError, StoredAttachment
from well_pipeline.core.matching.vendor_index import LearnedLink
from well_pipeline.core.scoring.display import Section
from well_pipeline.core.scoring.model import Decision, ScoredMatch
from well_pipeline_tests.support.qonto_records import make_invoice
from well_pipeline_tests.support.review_queue import T0, created_day, fill_queue, record, store_invoices

DAY1, DAY2 = date(2026, 3, 14), date(2026, 3, 15)  # T0 is 2026-03-14 09:30 UTC; 30 hours later is the 15th


@pytest.fixture
def vendors(storage: Storage, tmp_path: Path) -> None:
    csv = tmp_path / "vendors.csv"
    csv.write_text("Company Name;Vendor ID\nPapeterie Dupont SARL;V-1\nNordlicht Logistik GmbH;V-2\n",
                   encoding="utf-8")
    storage.melio.replace_vendors(read_vendor_directory(csv))


def _row(match: ScoredMatch, raw: dict, version: int = 1) -> ScoredRow:
    return ScoredRow(match, created_day(raw), version)


def _decisions(storage: Storage) -> dict[str, tuple]:
    page = storage.matches.queue(decisions=[d.value for d in Decision])
    return {e.qonto_id: (e.decision, e.vendor_id, e.vendor_name) for e in page.entries}


def _changed(raw: dict, **fields: object) -> dict:
    """The same Qonto record, changed later in Qonto (a new version once stored)."""
    later = datetime.fromisoformat(raw["updated_at"]) + timedelta(days=1)
    return {**raw, **fields, "updated_at": later.isoformat()}


# ---- the review queue ------------------------------------------------------------------------------------------
def test_queue_orders_limits_per_section_and_counts_everything(storage: Storage) -> None:
    records = [record(f"inv-r{n}", score=0.6 + n / 100, hours=n) for n in range(5)]
    records += [record(f"inv-p{n}", score=0.8499, raw_score=0.9, hard_rules=("ALREADY_PAID_IN_QONTO",), hours=n)
                for n in range(4)]
    records += [record("inv-fraud", score=0.56, hard_rules=("BANK_DETAILS_CHANGED",), hours=30),
                record("inv-refused", decision="refused", score=0.2, hard_rules=("NO_DOCUMENT",)),
                record("inv-linked", decision="auto_link", score=0.97),
                record("inv-empty", score=0.7, supplier_name=None, total_amount=None, hours=50)]
    fill_queue(storage, records)
    page = storage.matches.queue(limit=2)
    everything = storage.matches.queue()
    day_one = storage.matches.queue(days=[DAY2])

    assert [e.qonto_id for e in page.entries] == ["inv-fraud", "inv-empty", "inv-r4", "inv-p0", "inv-p1",
                                                  "inv-refused"]
    assert page.totals == {Section.POSSIBLE_FRAUD: 1, Section.REVIEW: 6, Section.PAID_IN_QONTO: 4,
                           Section.REFUSED: 1}
    assert page.waiting == 11 and "inv-linked" not in {e.qonto_id for e in everything.entries}
    assert [e.qonto_id for e in everything.entries] == [e.qonto_id for e in
                                                        sorted(everything.entries, key=lambda e: e.order_key)]
    assert len(everything.entries) == 12

    by_id = {e.qonto_id: e for e in everything.entries}
    assert by_id["inv-r0"].total_amount == Decimal("1234.56") and by_id["inv-r0"].amount == "1234.56 EUR"
    assert by_id["inv-empty"].total_amount is None and by_id["inv-empty"].supplier_name is None
    assert by_id["inv-p0"].score_label == "84.99%, capped by ALREADY_PAID_IN_QONTO"
    assert by_id["inv-r0"].runner_up == "Nordlicht Logistik GmbH [V-2] 31%"
    assert by_id["inv-r0"].created_at == T0.replace(tzinfo=None)  # naive UTC
    # Created 30 and 50 hours after 2026-03-14 09:30 UTC: the 15th and the 16th.
    assert [e.qonto_id for e in day_one.entries] == ["inv-fraud"]
    assert [e.qonto_id for e in storage.matches.queue(decisions=["refused"]).entries] == ["inv-refused"]


def test_details_join_the_invoice_and_keep_the_parts(storage: Storage) -> None:
    fill_queue(storage, [record("inv-1", score=0.8499, raw_score=0.93, hard_rules=("IBAN_NOT_VERIFIED",))])
    details = storage.matches.details("inv-1")
    assert details is not None
    assert (details.entry.qonto_id, details.entry.decision, details.entry.vendor_id) == ("inv-1", "review", "V-1")
    assert details.entry.hard_rules == ("IBAN_NOT_VERIFIED",) and details.entry.raw_score == pytest.approx(0.93)
    assert details.entry.reasons[0].code == "IBAN_NOT_VERIFIED" and details.entry.candidates[1].vendor_id == "V-2"
    assert (details.completeness, details.strength, details.policy_fit) == (1.0, pytest.approx(0.8499), 1.0)
    assert details.due_date == date(2026, 4, 13)
    assert storage.matches.details("inv-unknown") is None


# ---- scored days ------------------------------------------------------------------------------------------------
def test_replace_days_replaces_only_those_days_and_a_moved_record_leaves_its_old_day(storage: Storage) -> None:
    a, b, c = record("inv-a"), record("inv-b", hours=30), record("inv-c")
    fill_queue(storage, [a, b, c])
    assert set(_decisions(storage)) == {"inv-a", "inv-b", "inv-c"}

    # Day 1 rescored: only inv-a remains there (inv-c has no row any more); day 2 untouched.
    storage.matches.replace_days([DAY1], [_row(a[1]._replace(decision=Decision.AUTO_LINK), a[0])])
    assert _decisions(storage) == {"inv-a": ("auto_link", "V-1", "Papeterie Dupont SARL"),
                                   "inv-b": ("review", "V-1", "Papeterie Dupont SARL")}
    # inv-b's creation day was corrected to day 1: scoring day 1 must not leave its day-2 row behind.
    storage.matches.replace_days([DAY1], [ScoredRow(b[1], DAY1, 1)])
    assert set(_decisions(storage)) == {"inv-b"}
    assert [e.qonto_id for e in storage.matches.queue(days=[DAY1]).entries] == ["inv-b"]


def test_stale_dates(storage: Storage) -> None:
    a, b = record("inv-a"), record("inv-b", hours=30)
    store_invoices(storage, [a[0], b[0]])
    assert storage.matches.stale_dates(None) == [DAY1, DAY2]  # never scored
    storage.matches.replace_days([DAY1, DAY2], [_row(a[1], a[0]), _row(b[1], b[0])])
    assert storage.matches.stale_dates(None) == []
    assert storage.matches.stale_dates(datetime(2000, 1, 1)) == []  # Melio loaded long before the scoring
    assert storage.matches.stale_dates(datetime(2999, 1, 1)) == [DAY1, DAY2]  # Melio loaded after it
    store_invoices(storage, [_changed(b[0], invoice_number="X-2")])  # version 2, scored was version 1
    assert storage.matches.stale_dates(None) == [DAY2]


# ---- decisions --------------------------------------------------------------------------------------------------
@pytest.mark.usefixtures("vendors")
def test_decisions_are_applied_at_once_kept_in_order_and_read_back_for_scoring(storage: Storage) -> None:
    fill_queue(storage, [record("inv-1"), record("inv-2"), record("inv-3", candidates=())])
    assert storage.matches.scoring_inputs([DAY1]).decisions_seen == 0

    approved = storage.matches.record_decision(qonto_id="inv-1", action="approve", author="ana")
    assert (approved.vendor_id, approved.author, approved.extra) == ("V-1", "ana", {"record_version": 1})
    storage.matches.record_decision(qonto_id="inv-2", action="refuse", author="bo", reason="not ours")
    storage.matches.record_decision(qonto_id="inv-3", action="pin", author="bo", vendor_id="V-2")
    assert _decisions(storage) == {"inv-1": ("manual_link", "V-1", "Papeterie Dupont SARL"),
                                   "inv-2": ("refused", "V-1", "Papeterie Dupont SARL"),
                                   "inv-3": ("manual_link", "V-2", "Nordlicht Logistik GmbH")}

    seen = storage.matches.scoring_inputs([DAY1]).decisions_seen
    assert seen > 0
    storage.matches.record_decision(qonto_id="inv-2", action="pin", author="ana", vendor_id="V-2")
    history = storage.matches.decision_history("inv-2")
    assert [(h.action, h.vendor_id, h.reason, h.author) for h in history] == \
        [("refuse", None, "not ours", "bo"), ("pin", "V-2", None, "ana")]
    assert all(isinstance(h.decided_at, datetime) for h in history)
    assert storage.matches.decision_history("inv-unknown") == []

    inputs = storage.matches.scoring_inputs([DAY1])
    assert inputs.decisions_seen > seen  # every decision moves it on
    assert {q: (o.action, o.vendor_id, o.author) for q, o in inputs.overrides.items()} == {
        "inv-1": ("approve", "V-1", "ana"), "inv-2": ("pin", "V-2", "ana"), "inv-3": ("pin", "V-2", "bo")}
    assert inputs.overrides["inv-2"].decided_at.endswith("Z")
    # Approved and pinned records teach their supplier's name and IBAN, citing the record.
    learned = {link.source_id: link for link in inputs.learned}
    assert set(learned) == {"inv-1", "inv-2", "inv-3"}
    assert learned["inv-2"] == LearnedLink("V-2", supplier_name="Papeterie Dupont SARL",
                                           iban="FR7630006000011234567890189", supplier_id=None, source_id="inv-2")


@pytest.mark.usefixtures("vendors")
def test_a_decision_on_what_someone_else_just_decided_is_stale(storage: Storage) -> None:
    """`expected_decision`: of two people deciding on what they were both shown, the first wins."""
    fill_queue(storage, [record("inv-1")])
    storage.matches.record_decision(qonto_id="inv-1", action="refuse", author="ana", reason="not ours",
                                    expected_decision="review")
    with pytest.raises(StaleRecordError, match="inv-1 was decided meanwhile"):
        storage.matches.record_decision(qonto_id="inv-1", action="approve", author="bo", expected_decision="review")
    assert [h.author for h in storage.matches.decision_history("inv-1")] == ["ana"]  # nothing stored
    assert _decisions(storage)["inv-1"][0] == "refused"
    # Shown the refusal, a person may overturn it; without `expected_decision` the latest decision wins.
    storage.matches.record_decision(qonto_id="inv-1", action="pin", author="bo", vendor_id="V-1",
                                    expected_decision="refused")
    storage.matches.record_decision(qonto_id="inv-1", action="refuse", author="cy", reason="no")
    assert [h.author for h in storage.matches.decision_history("inv-1")] == ["ana", "bo", "cy"]


@pytest.mark.usefixtures("vendors")
def test_a_refusal_teaches_nothing(storage: Storage) -> None:
    fill_queue(storage, [record("inv-1")])
    storage.matches.record_decision(qonto_id="inv-1", action="pin", author="ana", vendor_id="V-1")
    storage.matches.record_decision(qonto_id="inv-1", action="refuse", author="ana", reason="wrong")
    assert storage.matches.scoring_inputs([DAY1]).learned == []  # the latest decision counts


@pytest.mark.usefixtures("vendors")
def test_a_decision_on_a_changed_record_is_refused_and_an_old_one_no_longer_applies(storage: Storage) -> None:
    raw, match = record("inv-1")
    fill_queue(storage, [(raw, match)])
    storage.matches.record_decision(qonto_id="inv-1", action="approve", author="ana")
    store_invoices(storage, [_changed(raw, total_amount={"value": "9999.00", "currency": "EUR"})])

    with pytest.raises(StaleRecordError, match="changed in Qonto"):
        storage.matches.record_decision(qonto_id="inv-1", action="refuse", author="ana", reason="x")
    assert len(storage.matches.decision_history("inv-1")) == 1  # nothing stored
    assert storage.matches.scoring_inputs([DAY1]).overrides == {}  # the approval was for version 1
    with pytest.raises(KeyError):
        storage.matches.record_decision(qonto_id="inv-unknown", action="refuse", author="ana", reason="x")

    storage.matches.replace_days([DAY1], [_row(match, raw, version=2)])  # version 2 scored and shown
    storage.matches.record_decision(qonto_id="inv-1", action="refuse", author="ana", reason="x")
    assert storage.matches.scoring_inputs([DAY1]).overrides["inv-1"].extra == {"record_version": 2}


@pytest.mark.usefixtures("vendors")
def test_a_decision_made_while_scoring_computed_is_applied_again(storage: Storage) -> None:
    raw, match = record("inv-1")
    fill_queue(storage, [(raw, match)])
    seen = storage.matches.scoring_inputs([DAY1]).decisions_seen  # a scoring run reads...
    storage.matches.record_decision(qonto_id="inv-1", action="refuse", author="ana", reason="fraud")  # ...a person...
    auto = _row(match._replace(decision=Decision.AUTO_LINK), raw)
    storage.matches.replace_days([DAY1], [auto], seen)  # ...and the run writes what it computed before
    assert _decisions(storage)["inv-1"][0] == "refused"

    storage.matches.replace_days([DAY1], [auto], storage.matches.scoring_inputs([DAY1]).decisions_seen)
    assert _decisions(storage)["inv-1"][0] == "auto_link"  # nothing new since: the run's row stands


# ---- what scoring reads ------------------------------------------------------------------------------------------
def test_scoring_inputs_read_the_days_invoices_and_every_duplicate_key(storage: Storage) -> None:
    records = [record("inv-late", hours=3), record("inv-early", hours=1, supplier_id="sup-9"),
               record("inv-other-day", hours=30)]
    store_invoices(storage, [raw for raw, _ in records])
    inputs = storage.matches.scoring_inputs([DAY1])
    assert [row["id"] for row in inputs.invoices] == ["inv-early", "inv-late"]  # oldest first, only day 1
    early = inputs.invoices[0]
    assert (early["supplier_name"], early["total_amount"], early["currency"], early["version"]) == \
        ("Papeterie Dupont SARL", Decimal("1234.56"), "EUR", 1)
    assert (early["created_date"], early["supplier_id"], early["has_document"]) == (DAY1, "sup-9", False)
    assert early["document_type"] is None and '"id"' in early["raw_json"]
    assert {k[0] for k in inputs.duplicate_keys} == {"inv-late", "inv-early", "inv-other-day"}
    key = next(k for k in inputs.duplicate_keys if k[0] == "inv-early")
    assert key[1:] == (T0.replace(tzinfo=None) + timedelta(hours=1), "INV-2026-0001", Decimal("1234.56"), "EUR",
                       "Papeterie Dupont SARL", "FR7630006000011234567890189")
    assert storage.matches.scoring_inputs([]).invoices == []


def test_scoring_inputs_carry_the_document_and_a_late_document_makes_the_day_stale(storage: Storage) -> None:
    raw, match = record("inv-1")
    store_invoices(storage, [raw])
    storage.matches.replace_days([DAY1], [_row(match, raw)])
    assert storage.matches.stale_dates(None) == []
    storage.invoices.record_attachments([StoredAttachment("att-inv-1", "ab" * 32, 2048, "application/pdf",
                                                          "invoice.pdf", "ab/abab.pdf")])
    row = storage.matches.scoring_inputs([DAY1]).invoices[0]
    assert (row["has_document"], row["document_type"], row["document_size"], row["document_name"]) == \
        (True, "application/pdf", 2048, "invoice.pdf")
    assert storage.matches.stale_dates(None) == [DAY1]  # the document arrived after the record was scored


def test_observed_ibans_count_resolved_records_outside_the_days(storage: Storage) -> None:
    fill_queue(storage, [
        record("inv-1"), record("inv-2", hours=1),
        record("inv-other", hours=2, iban="DE89370400440532013000"),
        record("inv-ambiguous", hours=3, hard_rules=("AMBIGUOUS_VENDOR",)),
        record("inv-refused", hours=4, decision="refused"),
        record("inv-no-iban", hours=5, iban=None),
        record("inv-day2", hours=30),
    ])
    observed = storage.matches.scoring_inputs([DAY2]).observed_ibans
    assert sorted(observed) == [("V-1", "DE89370400440532013000", 1), ("V-1", "FR7630006000011234567890189", 2)]
    assert sorted(storage.matches.scoring_inputs([DAY1]).observed_ibans) == \
        [("V-1", "FR7630006000011234567890189", 1)]


# ---- the asset checks --------------------------------------------------------------------------------------------
def test_the_check_counts(storage: Storage) -> None:
    good, missing, bad, broken = record("inv-good"), record("inv-missing"), record("inv-bad"), record("inv-broken")
    store_invoices(storage, [good[0], missing[0], bad[0], broken[0]])
    orphan = record("inv-orphan")[1]
    rows = [_row(good[1], good[0]), _row(bad[1]._replace(strength=1.5), bad[0]),
            _row(broken[1]._replace(decision=Decision.AUTO_LINK, hard_rules=("NO_DOCUMENT", "DUPLICATE")), broken[0]),
            ScoredRow(orphan, DAY1, 1)]
    assert storage.matches.row_coverage().invoices_without_row == 0  # nothing scored yet: no scored day
    storage.matches.replace_days([DAY1], rows)
    coverage = storage.matches.row_coverage()
    assert (coverage.invoices_without_row, coverage.rows_without_invoice) == (1, 1)
    assert storage.matches.scores_out_of_range() == 1
    assert storage.matches.auto_links_with_hard_rules() == [("inv-broken", ("NO_DOCUMENT", "DUPLICATE"))]

    storage.matches.replace_days([DAY1], [_row(m, raw) for raw, m in (good, missing)])
    coverage = storage.matches.row_coverage()
    assert (coverage.invoices_without_row, coverage.rows_without_invoice) == (2, 0)  # inv-bad, inv-broken
    assert storage.matches.scores_out_of_range() == 0 and storage.matches.auto_links_with_hard_rules() == []


def test_an_invoice_belongs_to_its_utc_creation_day(storage: Storage) -> None:
    local = make_invoice(invoice_id="inv-local", created_at=datetime(2026, 3, 15, 0, 30,
                                                                      tzinfo=timezone(timedelta(hours=2))))
    store_invoices(storage, [local])
    assert created_day(local) == DAY1  # 2026-03-14 22:30 UTC
    assert [row["id"] for row in storage.matches.scoring_inputs([DAY1]).invoices] == ["inv-local"]
    assert storage.matches.scoring_inputs([DAY2]).invoices == []


# ---- what each `scored_matches` partition shows (issue 10) ---------------------------------------------------------
def test_day_decisions_count_each_scored_day(storage: Storage) -> None:
    fill_queue(storage, [record("q-1", decision="auto_link"), record("q-2", decision="review", hard_rules=("X",)),
                         record("q-3", decision="review", hours=2), record("q-next", decision="refused", hours=30)])
    day, next_day, empty = created_day(record("q-1")[0]), T0.date() + timedelta(days=1), date(2026, 1, 1)
    decided = storage.matches.day_decisions([day, next_day, empty])
    assert set(decided) == {day, next_day}
    assert (decided[day].rows, decided[day].decisions, decided[day].capped) == (3, {"auto_link": 1, "review": 2}, 1)
    assert (decided[next_day].rows, decided[next_day].decisions) == (1, {"refused": 1})
    assert storage.matches.day_decisions([]) == {}
