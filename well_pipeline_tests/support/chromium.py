"""Debian's Chromium for the browser test: found, or installed with apt, or a clear reason why not.

Why Debian's package and not Playwright's own download: `playwright install` fetches its browser from a CDN that
CI machines here cannot reach, while Debian's mirror is reachable. Playwright drives it through `executable_path`.

The test command (`scripts/dev.py test`) runs `python -m well_pipeline_tests.support.chromium` before pytest, so
the install is not counted inside a test worker; the browser test calls `ensure_chromium()` again (a no-op once
installed) and skips, with the reason, only when no Chromium can be had at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# WELL_CHROMIUM points the browser test at another Chromium build (e.g. a developer's own).
CANDIDATES = ("chromium", "chromium-browser")
APT_PACKAGE = "chromium"
INSTALL_TIMEOUT_S = 900

# Chromium's flags for a headless run on a machine with a closed network, as root, with a small /dev/shm: without
# the background-networking ones it opens many refused connections to Google's services at every start.
LAUNCH_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage")


@dataclass(frozen=True)
class ChromiumLookup:
    """The browser's path, or why there is none (then `path` is None)."""

    path: Path | None
    detail: str


def find_chromium() -> Path | None:
    override = os.environ.get("WELL_CHROMIUM")
    if override:
        return Path(override) if Path(override).is_file() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def _apt_prefix() -> list[str] | None:
    """How to run apt-get here: directly as root, through password-less sudo, or not at all."""
    if shutil.which("apt-get") is None:
        return None
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n"]
    return None


def ensure_chromium() -> ChromiumLookup:
    """Chromium's path, installing Debian's package when it is missing and apt-get may be used."""
    found = find_chromium()
    if found is not None:
        return ChromiumLookup(found, f"found {found}")
    if os.environ.get("WELL_CHROMIUM"):
        return ChromiumLookup(None, f"WELL_CHROMIUM={os.environ['WELL_CHROMIUM']} is not a file")
    prefix = _apt_prefix()
    if prefix is None:
        return ChromiumLookup(None, "Chromium is not installed and apt-get cannot be run here (not Debian, or "
                                    "not root and no password-less sudo): install Debian's `chromium` package")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"],
                    ["apt-get", "install", "-y", "-q", "--no-install-recommends", APT_PACKAGE]):
        try:
            result = subprocess.run([*prefix, *command], capture_output=True, text=True, env=env,
                                    timeout=INSTALL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return ChromiumLookup(None, f"`{' '.join(command)}` did not finish within {INSTALL_TIMEOUT_S} s")
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            return ChromiumLookup(None, f"`{' '.join(command)}` failed: {' / '.join(tail)}")
    found = find_chromium()
    if found is None:
        return ChromiumLookup(None, f"apt-get installed {APT_PACKAGE} but no chromium executable is on PATH")
    return ChromiumLookup(found, f"installed Debian's {APT_PACKAGE}: {found}")


def main() -> int:
    """Print what was found or installed; exit 0 either way (the browser test reports a missing browser)."""
    lookup = ensure_chromium()
    print(f"[well] chromium for the browser test: {lookup.detail}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
