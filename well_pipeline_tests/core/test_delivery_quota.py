"""Relay quotas: which answers mean "quota reached", and rolling per-minute / per-day windows."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from well_pipeline.core.delivery.quota import SendQuota, SendWindow, is_quota_reply

T0 = datetime(2026, 3, 14, 9, 0, 0)


@pytest.mark.parametrize(("code", "text"), [
    (421, "4.7.0 Try again later, closing connection. Too many messages"),
    (421, "4.7.28 Our system has detected an unusual rate of unsolicited mail"),
    (450, "4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages"),
    (451, "4.7.500 Server busy: sending limit exceeded"),
    (452, "4.5.3 Too many recipients"),
    (451, "4.7.0 Daily QUOTA exceeded"),
    (550, "5.4.5 Daily user sending quota exceeded"),
    (554, "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException"),
])
def test_quota_answers_are_recognised(code: int, text: str) -> None:
    assert is_quota_reply(code, text)


@pytest.mark.parametrize(("code", "text"), [
    (421, "4.3.2 Service not available, closing transmission channel"),
    (451, "4.3.0 Requested action aborted: local error in processing"),
    (452, "4.3.1 Mailbox full, try later"),
    (451, "4.3.0 Please regenerate your message"),       # "rate" inside a word is not a rate
    (552, "5.3.4 Message size exceeds fixed limit"),      # a size refusal, not a quota
    (550, "5.7.1 Requested action not taken: message refused"),
    (250, "2.0.0 OK: rate limited to nothing"),            # only failures count
    (None, "rate limit"),
])
def test_other_answers_are_not_quota(code: int | None, text: str) -> None:
    assert not is_quota_reply(code, text)


def test_daily_window_counts_the_last_24_hours_and_says_when_it_frees_up() -> None:
    history = [T0 - timedelta(hours=30), T0 - timedelta(hours=23), T0 - timedelta(hours=1)]
    window = SendWindow(SendQuota(per_day=3), history)
    assert window.sent_last_day(T0) == 2  # the send 30 h ago has left the window
    assert window.day_left(T0) == 1 and window.day_resets_at(T0) is None
    window.record(T0)
    assert window.day_left(T0) == 0
    # The oldest send in the window (23 h ago) leaves it in one hour: one slot frees up then.
    assert window.day_resets_at(T0) == T0 + timedelta(hours=1)
    later = T0 + timedelta(hours=1, seconds=1)
    assert window.day_left(later) == 1


def test_per_minute_window_says_how_long_to_wait() -> None:
    window = SendWindow(SendQuota(per_minute=2))
    assert window.minute_wait(T0) == 0.0
    window.record(T0)
    window.record(T0 + timedelta(seconds=10))
    assert window.minute_wait(T0 + timedelta(seconds=20)) == pytest.approx(40.0)
    assert window.minute_wait(T0 + timedelta(seconds=60)) == pytest.approx(0.0)  # the first left at 60 s
    assert window.minute_wait(T0 + timedelta(seconds=61)) == 0.0


def test_zero_means_unlimited_and_negative_is_refused() -> None:
    window = SendWindow(SendQuota(), [T0] * 10_000)
    assert window.day_left(T0) is None and window.day_resets_at(T0) is None and window.minute_wait(T0) == 0.0
    assert window.sent_last_day(T0 + timedelta(seconds=1)) == 10_000
    with pytest.raises(ValueError):
        SendQuota(per_day=-1)
