"""`wait_until`, the suite's one way to wait: returns what the predicate found, fails naming what never came."""

from __future__ import annotations

import pytest

from well_pipeline_tests.support.waiting import wait_until


def test_returns_the_first_truthy_value_after_polling() -> None:
    answers = iter([None, 0, {}, {"delays_waiting": 1}])
    assert wait_until(lambda: next(answers), 30, "the delay") == {"delays_waiting": 1}
    assert next(answers, "exhausted") == "exhausted"  # polled exactly until it held


def test_a_condition_that_never_holds_fails_naming_it_and_its_state() -> None:
    calls: list[int] = []
    state = {"messages_accepted": 2}
    with pytest.raises(AssertionError, match=r"timed out after 0 s waiting for 5 e-mails; stats \{'messages_acc"):
        wait_until(lambda: calls.append(1), 0, lambda: f"5 e-mails; stats {state}")
    assert calls == [1]  # probed once even past its deadline: a late-waking thread still sees what holds


def test_the_message_is_only_built_on_failure() -> None:
    def message() -> str:
        raise AssertionError("built although the condition held")

    assert wait_until(lambda: "ready", 0, message) == "ready"
