"""Which first day applies: the setting, else the day the first connect stored, else the calendar fallback."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from well_pipeline.adapters.workspace_state import WorkspaceStateError, workspace_file
from well_pipeline.services.history_window import (
    HistoryStart,
    calendar_start,
    pin_history_start,
    resolve_history_start,
)


@pytest.mark.parametrize("today,start", [
    (date(2026, 3, 14), date(2023, 3, 1)),
    (date(2026, 3, 1), date(2023, 3, 1)),
    (date(2024, 2, 29), date(2021, 2, 1)),  # a leap day has no match three years back; the 1st always does
    (date(2026, 1, 1), date(2023, 1, 1)),
])
def test_the_calendar_rule_is_three_years_back_on_the_first(today: date, start: date) -> None:
    assert calendar_start(today) == start


def test_the_stored_start_holds_across_a_month_change_where_the_calendar_moves(tmp_path: Path) -> None:
    state_file = workspace_file(tmp_path)
    before_connect = [resolve_history_start(None, state_file, today=day) for day in (date(2026, 3, 31),
                                                                                     date(2026, 4, 1))]
    assert [s.day for s in before_connect] == [date(2023, 3, 1), date(2023, 4, 1)]  # the fallback moves...
    assert {s.source for s in before_connect} == {"fallback"}

    pinned, stored_now = pin_history_start(state_file, now=datetime(2026, 3, 31, 23, 0, tzinfo=UTC))
    assert stored_now and pinned.day == date(2023, 3, 1)
    for today in (date(2026, 3, 31), date(2026, 4, 1), date(2026, 5, 1), date(2027, 1, 1)):
        assert resolve_history_start(None, state_file, today=today) == pinned  # ...the stored start does not


def test_the_setting_wins_over_the_stored_start_and_the_stored_one_returns_without_it(tmp_path: Path) -> None:
    state_file = workspace_file(tmp_path)
    pinned, _ = pin_history_start(state_file, now=datetime(2026, 3, 14, tzinfo=UTC))
    widened = resolve_history_start(date(2020, 1, 1), state_file, today=date(2026, 3, 14))
    assert widened == HistoryStart(date(2020, 1, 1), "setting")
    assert "history_start setting" in widened.describe()
    assert resolve_history_start(None, state_file, today=date(2026, 3, 14)) == pinned
    assert "fixed by the first connect, 2026-03-14 00:00 UTC" in pinned.describe()


def test_a_set_start_does_not_depend_on_a_damaged_file_but_an_unset_one_refuses_to_guess(tmp_path: Path) -> None:
    state_file = workspace_file(tmp_path)
    state_file.write_text("{broken")
    assert resolve_history_start(date(2022, 6, 1), state_file, today=date(2026, 3, 14)).day == date(2022, 6, 1)
    with pytest.raises(WorkspaceStateError, match="cannot be read"):
        resolve_history_start(None, state_file, today=date(2026, 3, 14))


def test_the_fallback_says_how_to_fix_it(tmp_path: Path) -> None:
    fallback = resolve_history_start(None, workspace_file(tmp_path), today=date(2026, 3, 14))
    assert fallback == HistoryStart(date(2023, 3, 1), "fallback")
    assert "well qonto connect" in fallback.describe()
    assert not workspace_file(tmp_path).exists()  # resolving never writes
