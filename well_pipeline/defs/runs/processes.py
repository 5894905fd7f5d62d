"""Is a process that reported itself at some moment still that same, running process?

Dagster's run workers write their own pid into the event log. Reading it back later, three things can make a
pid lie: the process is gone (the easy case), it is a zombie (killed, not yet reaped by its parent: it runs no
code any more), or the pid was handed to another process (after a reboot pids start over). On Linux `/proc`
answers all three; elsewhere only the first is checked, and a reused pid reads as alive: the safe side, since
the `dagster/max_runtime` bound still ends such a run.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
# How much later than its own report a process may seem to have started and still be the same one. /proc
# gives the start relative to the boot time, which is known to the second and moves when the clock is set;
# a wrong "reused" verdict would fail a live run, so the margin is wide. A pid reused within a minute of the
# first report (a reboot that quick) reads as alive and is left to the max-runtime bound.
START_TOLERANCE_S = 60.0


def process_alive(pid: int, reported_at: float) -> bool:
    """True if `pid` runs and is the process that reported it at `reported_at` (a Unix timestamp)."""
    if pid <= 0:
        return False
    if (PROC / "self").exists():
        return _alive_per_proc(pid, reported_at)
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


def _alive_per_proc(pid: int, reported_at: float) -> bool:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        return True  # unreadable is not proof of death
    try:
        boot_time = _boot_time()
    except OSError:
        boot_time = None
    # Fields after the command name, which is in parentheses and may itself contain spaces or parentheses.
    fields = stat[stat.rindex(")") + 2:].split()
    state, start_ticks = fields[0], int(fields[19])  # stat(5): field 3 is the state, field 22 the start time
    if state in {"Z", "X", "x"}:
        return False  # a zombie or dead task: killed, only waiting to be reaped
    if boot_time is None:
        return True  # cannot tell a reused pid from the original: alive
    started_at = boot_time + start_ticks / os.sysconf("SC_CLK_TCK")
    return started_at <= reported_at + START_TOLERANCE_S


def _boot_time() -> float:
    for line in (PROC / "stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise OSError("no btime in /proc/stat")
