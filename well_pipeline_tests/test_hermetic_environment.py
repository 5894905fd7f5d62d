"""The suite is hermetic: no `WELL_*` variable from the shell and no `./well.toml` reaches a test (conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from well_pipeline.settings import SETTINGS_FILE_ENV, load_settings
from well_pipeline_tests.conftest import SETTINGS_FILE_VARIABLE, WELL_PREFIX, empty_settings_file

ROOT = Path(__file__).resolve().parents[1]
LEAKED_HOST = "leaked-from-the-shell.example"
LEAKED_PORT = 2526


def test_a_test_sees_no_shell_setting_and_no_settings_file() -> None:
    """Run as part of the suite, and again below by a pytest whose shell and cwd are full of settings."""
    assert {k: v for k, v in os.environ.items() if k.startswith(WELL_PREFIX)} == {
        SETTINGS_FILE_VARIABLE: str(empty_settings_file())}
    assert empty_settings_file().read_text(encoding="utf-8") == ""
    settings = load_settings()
    assert settings.smtp_host != LEAKED_HOST and settings.smtp_port != LEAKED_PORT


def test_the_conftest_names_the_loaders_variable() -> None:
    assert SETTINGS_FILE_VARIABLE == SETTINGS_FILE_ENV


def test_a_developers_shell_and_well_toml_do_not_reach_the_tests(tmp_path: Path) -> None:
    """A developer runs pytest from a folder holding their own `well.toml`, with `WELL_*` exported."""
    (tmp_path / "well.toml").write_text(f"[well]\nsmtp_port = {LEAKED_PORT}\n", encoding="utf-8")
    shell = {k: v for k, v in os.environ.items() if not k.startswith(WELL_PREFIX)}
    shell |= {"WELL_SMTP_HOST": LEAKED_HOST, "WELL_SECRET_SMTP_PASSWORD": "from-the-shell"}
    probe = f"{ROOT / 'well_pipeline_tests' / 'test_hermetic_environment.py'}::" \
            "test_a_test_sees_no_shell_setting_and_no_settings_file"
    inner = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), probe],
        cwd=tmp_path, env=shell, capture_output=True, text=True, timeout=300)
    assert inner.returncode == 0 and "1 passed" in inner.stdout, inner.stdout[-3000:] + inner.stderr[-2000:]
    # The setup itself leaks when nothing isolates it: the file and the variable are read from there.
    leaked = subprocess.run(
        [sys.executable, "-c", "from well_pipeline.settings import load_settings; s = load_settings(); "
                               "print(s.smtp_host, s.smtp_port)"],
        cwd=tmp_path, env=shell, capture_output=True, text=True, timeout=300)
    assert leaked.stdout.split() == [LEAKED_HOST, str(LEAKED_PORT)], leaked.stderr[-2000:]
