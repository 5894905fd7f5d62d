"""`well sandbox ...` on a production install (no `sandbox` extra) says what to install, not an ImportError.

The test environment has the extra, so each run hides aiosmtpd and Pillow from a fresh interpreter (a `None` in
`sys.modules` makes importing them fail exactly as on an install without them).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HIDE_THE_EXTRA = "import sys\nsys.modules['aiosmtpd'] = None\nsys.modules['PIL'] = None\n"


def well_without_the_extra(*args: str) -> subprocess.CompletedProcess[str]:
    code = HIDE_THE_EXTRA + "from well_pipeline.cli.main import cli\ncli(sys.argv[1:], prog_name='well')\n"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=os.environ,
                          timeout=120)


@pytest.mark.parametrize(("command", "missing"), [
    (["sandbox", "melio-inbox", "{tmp}"], "aiosmtpd"),
    (["sandbox", "generate", "--out", "{tmp}/dataset", "--invoices", "1", "--vendors", "1"], "PIL"),
])
def test_a_sandbox_command_without_the_extra_says_how_to_install_it(tmp_path: Path, command: list[str],
                                                                    missing: str) -> None:
    result = well_without_the_extra(*(part.format(tmp=tmp_path) for part in command))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"Error: this command needs {missing}, which only the sandboxes use: "
                                     "install the sandbox extra: pip install 'well-pipeline[sandbox]'")
    assert not (tmp_path / "dataset").exists()  # nothing half-written


def test_the_rest_of_well_works_without_the_extra() -> None:
    result = well_without_the_extra("sandbox", "--help")
    assert result.returncode == 0, result.stderr
    assert "melio-inbox" in result.stdout and "generate" in result.stdout
    result = well_without_the_extra("secrets", "--help")
    assert result.returncode == 0 and "Traceback" not in result.stderr


def test_an_unrelated_missing_module_is_not_blamed_on_the_extra() -> None:
    """Only the sandbox-only packages get the hint; any other missing module stays a real error."""
    code = ("import sys\nsys.modules['httpx'] = None\n"
            "from well_pipeline.cli.main import cli\ncli(['secrets', '--help'], prog_name='well')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=120)
    assert result.returncode != 0
    assert "ModuleNotFoundError" in result.stderr and "well-pipeline[sandbox]" not in result.stderr
