"""Wait on a condition, never on the clock: the one polling helper of the test suite.

Why: a fixed `time.sleep(0.2)` guesses how long another thread, process or server needs, and on a loaded
machine the guess is wrong; a wall-clock assertion (`elapsed < 2`) fails the same way. A test instead polls
the condition it needs (a counter, a file, a process state) until it holds. The timeout is a deadline for a
broken condition, not a measurement: it is generous because it costs nothing when the condition holds.

    wait_until(lambda: inbox.stats()["delays_waiting"] == 1, 30, "the run to reach the stalled e-mail")
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 60.0
_FIRST_POLL_S = 0.005
_MAX_POLL_S = 0.1


def wait_until(predicate: Callable[[], T], timeout_s: float = DEFAULT_TIMEOUT_S,
               message: str | Callable[[], str] = "the condition") -> T:
    """Poll `predicate` until it returns something truthy and return that value.

    Fails with an AssertionError naming `message` (a string, or a callable evaluated at failure time so it can
    show the state that did not converge) once `timeout_s` has passed. The predicate is always evaluated once
    more after the deadline, so a starved test thread that wakes up late still sees a condition that holds.
    Polling starts fast and backs off, so a condition that holds at once costs no measurable time.
    """
    deadline = time.monotonic() + timeout_s
    poll_s = _FIRST_POLL_S
    while True:
        expired = time.monotonic() >= deadline  # read before probing: the last probe follows the deadline
        value = predicate()
        if value:
            return value
        if expired:
            what = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(min(poll_s, max(deadline - time.monotonic(), 0.0)))
        poll_s = min(poll_s * 2, _MAX_POLL_S)
