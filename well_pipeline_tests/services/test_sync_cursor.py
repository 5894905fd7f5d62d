"""The sync sensor's cursor: its JSON form, the refusals that name the key, and the rules that move the marker."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from well_pipeline.services.sync_cursor import (
    DELIVER_JOB,
    SYNC_JOB,
    CursorError,
    MarkerReport,
    PendingRun,
    SyncCursor,
    digest,
    fingerprints,
    rewind_cursor,
)

MARKER = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
LATER = MARKER + timedelta(minutes=15)
SYNC = PendingRun(job=SYNC_JOB, run_key="qonto-sync:2026-03-14T09:30:00+00:00:abc", window_to=LATER.isoformat(),
                  seen=("f1", "f2"), melio=57)


def test_a_full_cursor_survives_dump_and_parse_with_the_marker_first() -> None:
    cursor = SyncCursor(marker=MARKER, adopted=12, known=("k1", "k2"), melio=5, delivered="d" * 16,
                        retry_base="qonto-sync:x", retry_count=2, pending=SYNC)
    text = cursor.dump()
    assert text.startswith('{"marker":"2026-03-14T09:30:00+00:00","adopted":12,')  # what the sensor page shows
    parsed = SyncCursor.parse(text)
    assert parsed == cursor and not parsed.edited
    assert SyncCursor.parse(parsed.dump()).dump() == text


def test_a_new_sensor_has_no_marker_and_the_cursor_it_writes_is_never_taken_for_a_persons_edit() -> None:
    for empty in (None, "", "  "):
        assert SyncCursor.parse(empty) == SyncCursor() and not SyncCursor.parse(empty).edited
    # Before any marker report exists, the sensor's own cursor (a pending run) still says "adopted": 0, so the
    # next tick adopts the report of that run instead of ignoring it as older than an edit.
    written = SyncCursor().requesting(SYNC).dump()
    assert json.loads(written)["adopted"] == 0
    parsed = SyncCursor.parse(written)
    assert not parsed.edited
    report = MarkerReport(storage_id=3, marker=LATER, run_state="success")
    assert parsed.settled("success").adopt([report]).marker == LATER


@pytest.mark.parametrize(("text", "named"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"markr": "2026-03-01T00:00:00Z"}', "'markr'"),
    ('{"marker": "2026-03-01T08:00:00"}', '"marker" \'2026-03-01T08:00:00\' has no timezone'),
    ('{"marker": "yesterday"}', '"marker" \'yesterday\' is not an ISO 8601 time'),
    ('{"marker": 1741939200}', '"marker" must be an ISO 8601 time'),
    ('{"marker": null, "adopted": -1}', '"adopted" must be a whole number'),
    ('{"marker": null, "adopted": true}', '"adopted" must be a whole number'),
    ('{"marker": null, "known": "abc"}', '"known" must be a list of strings'),
    ('{"marker": null, "retry": 3}', '"retry" must be an object'),
    ('{"marker": null, "retry": {"base": "x", "count": "2"}}', '"retry.count" must be a whole number'),
    ('{"marker": null, "pending": {"job": "qonto_sync_job"}}', '"pending" must be an object with "job" and "run_key"'),
    ('{"marker": null, "pending": {"job": "j", "run_key": "k", "extra": 1}}', '"pending" must be an object'),
    ('{"marker": null, "pending": {"job": "j", "run_key": "k", "melio": "5"}}', '"pending.melio"'),
])
def test_a_malformed_cursor_is_refused_naming_the_key(text: str, named: str) -> None:
    with pytest.raises(CursorError) as refused:
        SyncCursor.parse(text)
    assert named in str(refused.value)


def test_a_marker_with_an_offset_is_read_in_utc() -> None:
    paris = SyncCursor.parse('{"marker": "2026-03-14T10:30:00+01:00", "adopted": 0}')
    assert paris.marker == MARKER and paris.marker.tzinfo == UTC
    assert SyncCursor.parse('{"marker": "2026-03-14T09:30:00Z", "adopted": 0}').marker == MARKER


# -- settling the pending run ----------------------------------------------------------------------------------
def test_a_succeeded_sync_makes_what_its_probe_saw_known_and_forgets_its_retries() -> None:
    cursor = SyncCursor(marker=MARKER, adopted=4, known=("old",), melio=50, retry_base=SYNC.base, retry_count=2,
                        pending=SYNC)
    settled = cursor.settled("success")
    assert settled.pending is None and settled.known == ("f1", "f2") and settled.melio == 57
    assert settled.retry_count == 0 and settled.retry_base == ""
    assert settled.marker == MARKER  # the marker moves by the run's report (adopt), not by settling


def test_a_succeeded_delivery_remembers_the_set_it_delivered() -> None:
    pending = PendingRun(job=DELIVER_JOB, run_key="deliver-approved:abc", digest="abc")
    settled = SyncCursor(marker=MARKER, known=("k",), pending=pending).settled("success")
    assert settled.delivered == "abc" and settled.known == ("k",) and settled.pending is None


def test_a_failed_run_leaves_the_marker_and_the_same_request_gets_a_new_key_each_time() -> None:
    cursor = SyncCursor(marker=MARKER, known=("k",), pending=SYNC)
    assert cursor.run_key(SYNC.base) == SYNC.base
    once = cursor.settled("failed")
    assert once.marker == MARKER and once.known == ("k",) and once.pending is None
    assert once.run_key(SYNC.base) == f"{SYNC.base}:retry-1"
    assert once.run_key("qonto-sync:other") == "qonto-sync:other"  # other work: its own key
    retried = PendingRun(job=SYNC_JOB, run_key=once.run_key(SYNC.base), seen=SYNC.seen)
    assert retried.base == SYNC.base
    twice = once.requesting(retried).settled("failed")
    assert twice.run_key(SYNC.base) == f"{SYNC.base}:retry-2"
    assert twice.requesting(retried).settled("success").run_key(SYNC.base) == SYNC.base


def test_a_run_that_never_launched_is_forgotten_without_a_retry() -> None:
    settled = SyncCursor(marker=MARKER, pending=SYNC).settled("missing")
    assert settled == SyncCursor(marker=MARKER)


# -- adopting the runs' marker reports -------------------------------------------------------------------------
def test_reports_are_adopted_in_order_succeeded_ones_move_the_marker_forward_only() -> None:
    reports = [MarkerReport(7, LATER, "success"), MarkerReport(5, MARKER - timedelta(days=1), "success"),
               MarkerReport(9, LATER + timedelta(hours=1), "failed")]
    adopted = SyncCursor(marker=MARKER, adopted=4).adopt(reports)
    assert adopted.marker == LATER  # the older report does not move it back, the failed run's is passed over
    assert adopted.adopted == 9
    assert adopted.adopt(reports) == adopted  # already adopted: nothing changes


def test_adoption_waits_at_a_run_still_active() -> None:
    reports = [MarkerReport(5, LATER, "active"), MarkerReport(6, LATER + timedelta(hours=1), "success")]
    waiting = SyncCursor(marker=MARKER, adopted=4).adopt(reports)
    assert waiting.marker == MARKER and waiting.adopted == 4
    done = waiting.adopt([MarkerReport(5, LATER, "success"), reports[1]])
    assert done.marker == LATER + timedelta(hours=1) and done.adopted == 6


def test_a_new_sensor_adopts_a_backfill_that_ran_before_it() -> None:
    adopted = SyncCursor().adopt([MarkerReport(3, MARKER, "success")])
    assert adopted.marker == MARKER and adopted.adopted == 3


def test_a_persons_edit_ignores_older_reports_and_adopts_newer_ones() -> None:
    edited = SyncCursor.parse(rewind_cursor(MARKER - timedelta(days=3)))
    assert edited.edited and edited.marker == MARKER - timedelta(days=3)
    assert edited.known == () and edited.pending is None  # the next probe sees the whole window as new
    ignoring = edited.ignoring_reports_up_to(8)
    assert not ignoring.edited and ignoring.adopted == 8
    # A report existing at the edit (say, the sync that set the marker being rewound) would undo the rewind.
    assert ignoring.adopt([MarkerReport(8, LATER, "success")]).marker == MARKER - timedelta(days=3)
    # A run that succeeds after the edit (the re-import) moves it on.
    assert ignoring.adopt([MarkerReport(11, LATER, "success")]).marker == LATER
    assert '"adopted":8' in ignoring.dump()  # written back: the next tick no longer takes it for an edit


def test_rewind_cursor_is_a_marker_only_edit_in_utc() -> None:
    text = rewind_cursor(datetime(2026, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=1))))
    assert json.loads(text) == {"marker": "2026-03-01T08:00:00+00:00"}


def test_digests_and_fingerprints_are_stable_and_order_free() -> None:
    assert digest(["b", "a"]) == digest(["a", "b"]) != digest(["a"])
    assert len(digest(["a"])) == 16
    pairs = [("inv-1", "2026-03-14T09:00:00+00:00"), ("inv-2", "2026-03-14T09:01:00+00:00")]
    assert fingerprints(pairs) == fingerprints(list(reversed(pairs)))
    assert fingerprints([("inv-1", "2026-03-14T09:05:00+00:00")])[0] not in fingerprints(pairs)  # an edit is new
