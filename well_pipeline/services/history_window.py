"""The first day of the backfill window (the first daily partition): which day applies, and fixing it once.

Why it is stored rather than computed: a start computed from the calendar ("three years back, 1st of the month")
moves on the 1st of every month, and the partition set moves with it: the oldest month's partitions and their
materialisations drop out of the Dagster UI (the rows stay in DuckDB) and a backfill can no longer reach them.
So the first connect fixes the day once (`pin_history_start`, called by `qonto_connection.connect`) and only an
explicit setting changes it, never the calendar.

Which day applies (`resolve_history_start`), first match wins:
1. the `history_start` setting, when set: widening (or narrowing) the window is a deliberate change;
2. the day stored by the first connect (`<data_dir>/workspace.json`, adapters/workspace_state.py);
3. before any connect, a fallback: the same calendar rule, computed when the code location loads. It is safe
   because before connecting Well holds no Qonto credentials, so no partition holds data that a moving start
   could hide, and a connect in the same month stores that very day: the partitions seen before and after the
   connect agree. (In API-key mode `well qonto connect` checks the key and fixes the day the same way.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

from well_pipeline.adapters import workspace_state
from well_pipeline.adapters.workspace_state import WorkspaceState

__all__ = ["HISTORY_YEARS", "HistoryStart", "calendar_start", "pin_history_start", "resolve_history_start"]

HISTORY_YEARS = 3


def calendar_start(today: date) -> date:
    """`HISTORY_YEARS` back from `today`, on the 1st of that month: what the first connect stores.

    The 1st, so that a fallback start stays put for a whole month; the 29th of February, a year later, is the
    1st of February anyway.
    """
    return today.replace(year=today.year - HISTORY_YEARS, day=1)


@dataclass(frozen=True)
class HistoryStart:
    """The first partition day and where it comes from (`setting`, `stored` or `fallback`)."""

    day: date
    source: Literal["setting", "stored", "fallback"]
    first_connected_at: datetime | None = None  # when `stored`: when the first connect fixed it

    def describe(self) -> str:
        """One line for logs and the CLI, saying why this day."""
        if self.source == "setting":
            return f"{self.day} (the history_start setting)"
        if self.source == "stored" and self.first_connected_at is not None:
            return f"{self.day} (fixed by the first connect, {self.first_connected_at:%Y-%m-%d %H:%M} UTC)"
        return (f"{self.day} (no connect yet: {HISTORY_YEARS} years back, 1st of the month; `well qonto connect` "
                "fixes it)")


def resolve_history_start(setting: date | None, state_file: Path, *, today: date) -> HistoryStart:
    """The day that applies now (see the module docstring for the order).

    Reads `state_file` only when the setting is not set, and never opens the database. A damaged state file
    raises `WorkspaceStateError`: a guessed start would silently change the partition set.
    """
    if setting is not None:
        return HistoryStart(setting, "setting")
    stored = workspace_state.read(state_file)
    if stored is not None:
        return HistoryStart(stored.history_start, "stored", stored.first_connected_at)
    return HistoryStart(calendar_start(today), "fallback")


def pin_history_start(state_file: Path, *, now: datetime) -> tuple[HistoryStart, bool]:
    """Fix the backfill start at the first connect; a later connect keeps the stored one.

    Returns the start in force and whether this call stored it. The setting plays no part here: it overrides
    the stored day while it is set, and the stored day applies again when it is removed.
    """
    now = now.astimezone(UTC)
    state, stored_now = workspace_state.pin(state_file, WorkspaceState(calendar_start(now.date()), now))
    return HistoryStart(state.history_start, "stored", state.first_connected_at), stored_now
