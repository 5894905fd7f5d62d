"""Another process holding a DuckDB file's lock, as a run or a notebook does: DuckDB lets one process open the file
for writing, and while it does, no other process may open it at all."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_HOLDER = ("import duckdb, sys\n"
           "con = duckdb.connect(sys.argv[1])\n"
           "for statement in sys.argv[2:]:\n"
           "    con.execute(statement)\n"
           "print('locked', flush=True)\n"
           "sys.stdin.read()\n")


@contextmanager
def lock_held(database: Path, *statements: str) -> Iterator[subprocess.Popen]:
    """A separate process with `database` open (after running `statements`, e.g. `BEGIN`) until the block ends;
    yielded once it holds the lock, so the block never races its start."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(database), *statements],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.communicate("", timeout=60)  # closes stdin: the holder ends and its lock goes with it
