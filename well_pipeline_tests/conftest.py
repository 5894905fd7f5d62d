"""Suite-wide fixtures: every test starts from a hermetic environment."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from well_pipeline_tests.fault_matrix import collect, fault_outcome  # noqa: F401 (a fixture for fault tests)
from well_pipeline_tests.support.postgres_server import PostgresServer, PostgresUnavailable, start_server

WELL_PREFIX = "WELL_"
SETTINGS_FILE_VARIABLE = "WELL_SETTINGS_FILE"  # the settings loader's own name for it (well_pipeline/settings.py)

_shell_environment: dict[str, str] = {}
_empty_settings_dir: Path | None = None


def _isolate(set_variable: Callable[[str, str], object], del_variable: Callable[[str], object],
             settings_file: Path) -> None:
    """Drop every `WELL_*` variable and point the settings file at an empty one.

    Why every variable, not only secrets: a developer's shell (`WELL_DATA_DIR`, `WELL_SMTP_HOST`, ...) or their
    `./well.toml` would otherwise change what tests see, and pass here what fails in CI. The settings file is
    pointed at an empty file rather than at a missing path, so no cwd `well.toml` is read whether the loader
    ignores a missing explicit file or refuses it. Subprocesses the tests start inherit the same environment.
    """
    for name in [name for name in os.environ if name.startswith(WELL_PREFIX)]:
        del_variable(name)
    set_variable(SETTINGS_FILE_VARIABLE, str(settings_file))


def pytest_configure(config: pytest.Config) -> None:
    """Isolate before any test module is imported: the Dagster definitions read settings at import time."""
    global _empty_settings_dir
    _empty_settings_dir = Path(tempfile.mkdtemp(prefix="well-tests-settings-"))
    (_empty_settings_dir / "well.toml").write_text("", encoding="utf-8")
    _shell_environment.update({k: v for k, v in os.environ.items() if k.startswith(WELL_PREFIX)})
    _isolate(os.environ.__setitem__, os.environ.pop, empty_settings_file())


def pytest_unconfigure(config: pytest.Config) -> None:
    """Give the shell's variables back (pytest may run in-process, e.g. from an IDE) and remove the empty file."""
    for name in [name for name in os.environ if name.startswith(WELL_PREFIX)]:
        del os.environ[name]
    os.environ.update(_shell_environment)
    _shell_environment.clear()
    if _empty_settings_dir is not None:
        shutil.rmtree(_empty_settings_dir, ignore_errors=True)


def empty_settings_file() -> Path:
    """The empty settings file every test sees through `WELL_SETTINGS_FILE` (unless it sets its own)."""
    assert _empty_settings_dir is not None, "pytest_configure has not run"
    return _empty_settings_dir / "well.toml"


@pytest.fixture(autouse=True)
def _hermetic_well_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts isolated again, whatever an earlier test or fixture left in `os.environ`.

    Secret-store keys and secret overrides (`WELL_SECRET*`) are among the variables removed, so they can neither
    leak into tests nor tests into them. A test sets what it needs with `monkeypatch.setenv`.
    """
    _isolate(monkeypatch.setenv, lambda name: monkeypatch.delenv(name, raising=False), empty_settings_file())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Fault tests report what they measured into the fault matrix (docs/reliability.md)."""
    report = yield
    collect(item, report)
    return report


# -- the PostgreSQL test server: one per test process (xdist worker), started once (~1.5 s, `initdb` without fsync);
# each test takes a fresh schema in its one database (`support/postgres_server.new_schema`), a few milliseconds.
@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = start_server()
    except PostgresUnavailable as exc:  # only when it is not installed and cannot be: a failed start is an error
        pytest.skip(f"no PostgreSQL server for the tests: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """A DSN of the test server's database (trust authentication on loopback: no password)."""
    return postgres_server.dsn()
