"""Suite-wide fixtures: every test starts from a hermetic environment."""

from __future__ import annotations

import os

import pytest

from well_pipeline_tests.fault_matrix import collect, fault_outcome  # noqa: F401 (a fixture for fault tests)


@pytest.fixture(autouse=True)
def _no_ambient_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Secret-store keys and secret overrides from the shell must not leak into tests (nor tests into them)."""
    for name in list(os.environ):
        if name.startswith("WELL_SECRET"):
            monkeypatch.delenv(name, raising=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Fault tests report what they measured into the fault matrix (docs/reliability.md)."""
    report = yield
    collect(item, report)
    return report
