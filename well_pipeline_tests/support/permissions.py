"""File-mode helpers for the private-data tests: a permissive umask, and what is open to other users."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def permissive_umask() -> Iterator[None]:
    """Run under the common umask 022, so a file Well forgot to protect really comes out 0644.

    Why: under a strict umask (077) every file is private by accident and the tests would prove nothing.
    """
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def open_to_others(root: Path) -> list[tuple[str, str]]:
    """(relative path, octal mode) of every folder that is not 0700 and every file that is not 0600 under `root`."""
    found = []
    if mode(root) != 0o700:
        found.append((".", oct(mode(root))))
    for current, dirnames, filenames in os.walk(root):
        for name in dirnames:
            path = Path(current) / name
            if mode(path) != 0o700:
                found.append((str(path.relative_to(root)), oct(mode(path))))
        for name in filenames:
            path = Path(current) / name
            if mode(path) != 0o600:
                found.append((str(path.relative_to(root)), oct(mode(path))))
    return found


def make_open(root: Path) -> int:
    """Open `root` and everything under it to others (folders 0755, files 0644), as an old install would be."""
    count = 0
    for current, dirnames, filenames in os.walk(root):
        for name in dirnames:
            os.chmod(Path(current) / name, 0o755)
            count += 1
        for name in filenames:
            os.chmod(Path(current) / name, 0o644)
            count += 1
    os.chmod(root, 0o755)
    return count + 1
