"""A sandbox CLI started as a process: what it prints until it says it is serving."""

from __future__ import annotations

import subprocess
import time

READY_LINE = "Press Ctrl-C"


def startup_output(process: subprocess.Popen[str], timeout_s: float = 20) -> str:
    """The process's output up to and including its "Press Ctrl-C" line (or until it ends or `timeout_s` passes),
    so the test can read the ports and credentials the sandbox printed."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if READY_LINE in line:
            break
    return "".join(lines)
