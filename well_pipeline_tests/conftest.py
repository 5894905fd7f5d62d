"""Suite-wide fixtures: every test starts from a hermetic environment."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_ambient_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Secret-store keys and secret overrides from the shell must not leak into tests (nor tests into them)."""
    for name in list(os.environ):
        if name.startswith("WELL_SECRET"):
            monkeypatch.delenv(name, raising=False)
