"""The layer contracts in pyproject.toml ([tool.importlinter]) catch what they promise to.

The test command runs `lint-imports` on the real code (scripts/dev.py test); here the same contracts run on a small
stand-in `well_pipeline` with the real layout, once clean and once per planted violation, so a contract that
stopped biting (a typo in a module name, a wrong type, a lost `include_external_packages`) fails a test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")



def contract_names() -> dict[str, str]:
    """Contract id -> name, as pyproject.toml declares them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    return {contract["id"]: contract["name"] for contract in config["contracts"]}


# The stand-in's allowed imports, as in the real code: each outer layer uses the ones below it.
LAYOUT = {
    "core/__init__.py": "import rapidfuzz\n",
    "adapters/__init__.py": "import duckdb\nimport well_pipeline.core\n",
    "services/__init__.py": "import well_pipeline.adapters\nimport well_pipeline.core\n",
    "settings.py": "import pydantic_settings\nimport well_pipeline.adapters\n",
    "workspaces.py": "import well_pipeline.adapters\nimport well_pipeline.settings\n",
    "defs/__init__.py": "import dagster\nimport well_pipeline.services\nimport well_pipeline.settings\n",
    "definitions.py": "import dagster\nimport well_pipeline.defs\n",
    "cli/__init__.py": "import click\nimport well_pipeline.services\nimport well_pipeline.settings\n",
    "cli/sandbox.py": "def qonto():\n    import well_pipeline.sandbox\n",
    "sandbox/__init__.py": "import aiosmtpd\nimport PIL\n",
}


def lint(tmp_path: Path, planted: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`lint-imports` with the project's contracts on the stand-in, `planted` lines added to its modules."""
    package = tmp_path / "well_pipeline"
    for relative, source in LAYOUT.items():
        path = package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source + planted.get(relative, ""), encoding="utf-8")
    (package / "__init__.py").write_text("", encoding="utf-8")
    shutil.copyfile(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}  # the stand-in comes before the installed package
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo", "pyproject.toml"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def verdicts(output: str) -> dict[str, str]:
    """Contract id -> KEPT/BROKEN, read from the report (where a long name may wrap over two lines)."""
    report = " ".join(output.split())
    found = {}
    for contract_id, name in contract_names().items():
        match = re.search(re.escape(" ".join(name.split())) + r" (KEPT|BROKEN)", report)
        assert match, f"contract {contract_id!r} is not in the report:\n{output}"
        found[contract_id] = match.group(1)
    return found


def test_the_layout_as_intended_keeps_every_contract(tmp_path: Path) -> None:
    result = lint(tmp_path, {})
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(verdicts(result.stdout).values()) == {"KEPT"}
    assert f"Contracts: {len(contract_names())} kept, 0 broken." in result.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("core/__init__.py", "import dagster\n", "core-is-pure"),
    ("core/__init__.py", "import duckdb\n", "core-is-pure"),
    ("core/__init__.py", "import well_pipeline.adapters\n", "core-is-pure"),
    ("core/__init__.py", "import well_pipeline.settings\n", "core-is-pure"),
    ("services/__init__.py", "import dagster\n", "services-no-dagster"),
    ("services/__init__.py", "import well_pipeline.settings\n", "services-no-dagster"),
    ("cli/__init__.py", "from well_pipeline.defs import resources\n", "cli-no-defs"),
    ("adapters/__init__.py", "def later():\n    import PIL\n", "production-no-sandbox"),
    ("settings.py", "import well_pipeline.cli.sandbox\n", "production-no-sandbox"),  # indirectly reaches the sandbox
    ("services/__init__.py", "import psycopg\n", "psycopg-only-in-adapters"),
    ("defs/__init__.py", "def later():\n    from psycopg import sql\n", "psycopg-only-in-adapters"),
    ("workspaces.py", "import well_pipeline.sandbox\n", "production-no-sandbox"),
    ("workspaces.py", "import psycopg\n", "psycopg-only-in-adapters"),
])
def test_a_planted_violation_breaks_its_contract(tmp_path: Path, module: str, line: str, broken: str) -> None:
    result = lint(tmp_path, {module: line})
    assert result.returncode == 1, result.stdout + result.stderr
    assert verdicts(result.stdout)[broken] == "BROKEN", result.stdout


def test_only_the_cli_may_import_the_sandboxes(tmp_path: Path) -> None:
    result = lint(tmp_path, {"defs/__init__.py": "import well_pipeline.sandbox\n"})
    assert result.returncode == 1
    found = verdicts(result.stdout)
    assert found["sandbox-only-from-cli"] == found["production-no-sandbox"] == "BROKEN", result.stdout
