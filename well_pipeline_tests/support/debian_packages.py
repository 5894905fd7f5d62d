"""Debian packages the tests need (Chromium, PostgreSQL): installed with apt when missing, in one apt run.

Why one module: the browser test and the PostgreSQL store's tests both need a system package that CI machines may
lack, and both get it the same way: apt-get, as root or through password-less sudo. `apt-get update` runs at most
once per process, and a failed apt run is not retried by the next caller of the same process (it would fail the
same way, slowly).

The test command (`scripts/dev.py test`) runs, before pytest, so the install is not counted inside a test worker:

    python -m well_pipeline_tests.support.debian_packages chromium postgresql
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

INSTALL_TIMEOUT_S = 900

# What `main` can install: a name on the command line -> the support module that finds it. Each module has
# `APT_PACKAGE`, `installed() -> bool` and `main()` (prints what it found or why there is none).
TARGETS = {
    "chromium": "well_pipeline_tests.support.chromium",
    "postgresql": "well_pipeline_tests.support.postgres_server",
}


@dataclass(frozen=True)
class AptOutcome:
    """Whether apt-get installed the packages, and what to tell the reader when it did not."""

    ok: bool
    detail: str


_updated = False
_failure: AptOutcome | None = None


def apt_prefix() -> list[str] | None:
    """How to run apt-get here: directly as root, through password-less sudo, or not at all."""
    if shutil.which("apt-get") is None:
        return None
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n"]
    return None


def apt_install(packages: Sequence[str]) -> AptOutcome:
    """Install Debian's `packages` (no recommends), after one `apt-get update` per process."""
    global _updated, _failure
    if _failure is not None:
        return _failure
    prefix = apt_prefix()
    if prefix is None:
        return AptOutcome(False, "apt-get cannot be run here (not Debian, or not root and no password-less sudo)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    commands = [] if _updated else [["apt-get", "update", "-q"]]
    commands.append(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages])
    for command in commands:
        try:
            result = subprocess.run([*prefix, *command], capture_output=True, text=True, env=env,
                                    timeout=INSTALL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _failure = AptOutcome(False, f"`{' '.join(command)}` did not finish within {INSTALL_TIMEOUT_S} s")
            return _failure
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            _failure = AptOutcome(False, f"`{' '.join(command)}` failed: {' / '.join(tail)}")
            return _failure
        if command[1] == "update":
            _updated = True
    return AptOutcome(True, f"installed Debian's {' '.join(packages)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Install every named target that is missing in one apt run, then print what each found; exit 0 either way
    (the tests that need a package report a missing one themselves)."""
    names = list(sys.argv[1:] if argv is None else argv)
    unknown = [name for name in names if name not in TARGETS]
    if unknown:
        print(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    modules = [importlib.import_module(TARGETS[name]) for name in names]
    missing = [module.APT_PACKAGE for module in modules if not module.installed()]
    if missing:
        outcome = apt_install(missing)
        print(f"[well] apt-get install {' '.join(missing)}: {outcome.detail}", flush=True)
    for module in modules:
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
