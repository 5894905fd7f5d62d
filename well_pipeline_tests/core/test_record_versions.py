"""The first-line dedup rule: same id + same content is unchanged; older copies never win."""

from datetime import UTC, datetime, timedelta

from well_pipeline.core.record_versions import Incoming, StoredVersion, classify, fingerprint

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_fingerprint_ignores_key_order_but_not_values() -> None:
    assert fingerprint({"a": 1, "b": "x"}) == fingerprint({"b": "x", "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
    assert fingerprint({"n": "Société"}) != fingerprint({"n": "Societe"})


def test_classify_new_changed_unchanged_stale() -> None:
    stored = {
        "same": StoredVersion("h1", T0, 1),
        "edited": StoredVersion("h1", T0, 1),
        "older-copy": StoredVersion("h2", T0, 3),
    }
    incoming = [
        Incoming("same", "h1", T0),
        Incoming("edited", "h9", T0 + timedelta(minutes=1)),
        Incoming("older-copy", "h0", T0 - timedelta(days=1)),
        Incoming("brand-new", "h5", T0),
    ]
    result = classify(incoming, stored)
    assert result.new == ["brand-new"]
    assert result.changed == ["edited"]
    assert result.unchanged == ["same"]
    assert result.stale == ["older-copy"]


def test_duplicate_id_in_one_batch_counts_once_latest_wins() -> None:
    incoming = [Incoming("x", "old", T0), Incoming("x", "new", T0 + timedelta(seconds=1))]
    result = classify(incoming, {"x": StoredVersion("new", T0, 2)})
    assert result.unchanged == ["x"] and not result.new and not result.changed
