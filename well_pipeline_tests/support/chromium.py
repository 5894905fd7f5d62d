"""Debian's Chromium for the browser test: found, or installed with apt, or a clear reason why not.

Why Debian's package and not Playwright's own download: `playwright install` fetches its browser from a CDN that
CI machines here cannot reach, while Debian's mirror is reachable. Playwright drives it through `executable_path`.

The test command (`scripts/dev.py test`) installs it before pytest (`support/debian_packages.py`: one apt run
with PostgreSQL), so the install is not counted inside a test worker; the browser test calls `ensure_chromium()`
again (a no-op once installed) and skips, with the reason, only when no Chromium can be had at all.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from well_pipeline_tests.support.debian_packages import apt_install

# WELL_CHROMIUM points the browser test at another Chromium build (e.g. a developer's own).
CANDIDATES = ("chromium", "chromium-browser")
APT_PACKAGE = "chromium"

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


def installed() -> bool:
    """Whether a Chromium is there already (for `debian_packages.main`, which installs what is missing at once)."""
    return find_chromium() is not None


def ensure_chromium() -> ChromiumLookup:
    """Chromium's path, installing Debian's package when it is missing and apt-get may be used."""
    found = find_chromium()
    if found is not None:
        return ChromiumLookup(found, f"found {found}")
    if os.environ.get("WELL_CHROMIUM"):
        return ChromiumLookup(None, f"WELL_CHROMIUM={os.environ['WELL_CHROMIUM']} is not a file")
    outcome = apt_install([APT_PACKAGE])
    if not outcome.ok:
        return ChromiumLookup(None, f"Chromium is not installed: {outcome.detail}; install Debian's `chromium` "
                                    "package")
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
