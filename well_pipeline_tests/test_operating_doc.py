"""docs/operating.md stays true to the code: what an operator copies from it must work.

- every `well ...` command line in a code block parses with the real click CLI down to its command (options,
  arguments, choices); every `well ...` in running text names a real command and real options (`--help`);
- every `dagster ...` and `dg ...` line names a real command and real options of the installed Dagster (`--help`);
- the hold table lists exactly the hold codes of `core/delivery/plan.py`, and the page names every outbox state;
- the blocks marked `<!-- operating-doc-test: NAME -->` run as written in bash: backup then restore of a data
  directory (real DuckDB file, attachments, encrypted secret store, workspace file, Dagster instance), export then
  import of the database, the schema migration, and reading the sensor's cursor.

Why the leaf commands' callbacks are swapped for a recorder in the parse test: the lines are real commands (a
connect, a rewind, an approval); what is under test is that the CLI accepts them as written, not what they do.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from dagster import DagsterInstance

from well_pipeline.adapters.secrets import SecretStore
from well_pipeline.adapters.storage import DuckDBStorage
from well_pipeline.adapters.storage.duckdb.schema import MIGRATIONS
from well_pipeline.adapters.workspace_state import WorkspaceState, pin, workspace_file
from well_pipeline.cli.main import cli
from well_pipeline.core.delivery.plan import HoldCode, OutboxState
from well_pipeline.services.sync_marker import SYNC_MARKER, last_sync

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "operating.md"
_MARKER = re.compile(r"^<!-- operating-doc-test: ([a-z-]+) -->$")
_FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
_COMMAND = re.compile(r"^\s*(?:[A-Z_]+=\S+\s+)*(well|dagster|dg)\s")
_INLINE = re.compile(r"`((?:well|dagster|dg) [^`]+)`")
_HOLD_ROW = re.compile(r"^\| `([A-Z_]+)` \|")


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language, its text (the fence's indentation removed) and its test marker."""

    lang: str
    text: str
    marker: str | None


def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def blocks(text: str) -> list[Block]:
    found: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        indent, lang = fence.group(1), fence.group(2)
        before = lines[i - 1].strip() if i else ""
        marker = _MARKER.match(before)
        body: list[str] = []
        i += 1
        while not _FENCE.match(lines[i]):
            body.append(lines[i].removeprefix(indent))
            i += 1
        found.append(Block(lang, "\n".join(body) + "\n", marker.group(1) if marker else None))
        i += 1
    return found


def prose(text: str) -> str:
    """The page without its code blocks."""
    return re.sub(r"^\s*```\w*\s*$.*?^\s*```\s*$", "", text, flags=re.MULTILINE | re.DOTALL)


def command_lines(program: str) -> list[list[str]]:
    """Every line of a bash block that runs `program`, split as the shell would (comments and `VAR=x` dropped)."""
    found = []
    for block in blocks(doc()):
        if block.lang != "bash":
            continue
        for line in block.text.splitlines():
            match = _COMMAND.match(line)
            if match and match.group(1) == program:
                words = shlex.split(line, comments=True)
                while "=" in words[0]:
                    words.pop(0)
                found.append(words)
    return found


def inline_commands(program: str) -> list[list[str]]:
    """Every `program ...` code span of the running text, split as the shell would."""
    return [words for span in _INLINE.findall(prose(doc())) if (words := shlex.split(span))[0] == program]


def marked(name: str) -> str:
    (block,) = [b for b in blocks(doc()) if b.marker == name]
    return block.text


# ---- the `well` command lines --------------------------------------------------------------------------------------
def _leaves(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _leaves(command, (*path, name))
        else:
            yield (*path, name), command


@pytest.fixture
def reached(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """Each leaf command's callback replaced by a recorder of its path: the CLI parses, nothing runs."""
    calls: list[tuple[str, ...]] = []
    for path, command in _leaves(cli):
        monkeypatch.setattr(command, "callback", lambda *_, _path=path, **__: calls.append(_path))
    return calls


def test_every_well_command_line_of_the_page_parses_with_the_real_cli(reached: list[tuple[str, ...]]) -> None:
    lines = command_lines("well")
    assert len(lines) >= 20, "the page's `well` command lines were not found"
    runner = CliRunner()
    for words in lines:
        args = words[1:]
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, f"`{shlex.join(words)}` does not parse: {result.output.strip()}"
        called = reached.pop()
        assert tuple(args[:len(called)]) == called, f"`{shlex.join(words)}` reached `well {' '.join(called)}`"


def test_every_well_command_of_the_running_text_exists() -> None:
    spans = inline_commands("well")
    assert len(spans) >= 15, "the page's inline `well` commands were not found"
    runner = CliRunner()
    for words in spans:
        result = runner.invoke(cli, [*words[1:], "--help"])
        assert result.exit_code == 0, f"`{shlex.join(words)}` is not a command of `well`: {result.output.strip()}"


def test_a_renamed_option_or_command_fails_the_parse(reached: list[tuple[str, ...]]) -> None:
    """The check above can fail: a line the CLI does not accept exits non-zero."""
    runner = CliRunner()
    assert runner.invoke(cli, ["review", "pin", "ID", "--vendr", "V-1"]).exit_code != 0
    assert runner.invoke(cli, ["delivery", "confirme", "ID", "--help"]).exit_code != 0
    assert runner.invoke(cli, ["review", "pin", "ID"]).exit_code != 0  # --vendor is required
    assert reached == []


# ---- Dagster's command lines --------------------------------------------------------------------------------------
def _dagster_cli(program: str) -> click.Command:
    """The click command behind the installed `program` script (its console entry point's module's `cli`)."""
    (entry,) = [e for e in entry_points(group="console_scripts") if e.name == program]
    return importlib.import_module(entry.value.split(":")[0]).cli


@pytest.mark.parametrize("program", ["dagster", "dg"])
def test_every_dagster_command_of_the_page_exists_with_its_options(program: str) -> None:
    commands = command_lines(program) + inline_commands(program)
    assert commands, f"no `{program}` command found in the page"
    group = _dagster_cli(program)
    runner = CliRunner()
    for words in commands:
        result = runner.invoke(group, [*words[1:], "--help"])
        assert result.exit_code == 0, f"`{shlex.join(words)}` is not a command of `{program}`: {result.output}"


@pytest.mark.parametrize(("program", "args"), [("dagster", ["asset", "materialize", "--partition-rang", "x"]),
                                               ("dagster", ["sensor", "cursors", "qonto_sync_sensor__main"]),
                                               ("dg", ["launch", "--asset", "x"])])
def test_a_wrong_dagster_command_or_option_fails_the_check(program: str, args: list[str]) -> None:
    """The check above can fail: `--help` does not hide an unknown command or option."""
    assert CliRunner().invoke(_dagster_cli(program), [*args, "--help"]).exit_code != 0


# ---- holds and outbox states ---------------------------------------------------------------------------------------
def _holds_section() -> str:
    text = doc()
    start = text.index("## Holds")
    return text[start:text.index("\n## ", start + 1)]


def test_the_hold_table_lists_exactly_the_hold_codes_of_the_code() -> None:
    rows = [m.group(1) for line in _holds_section().splitlines() if (m := _HOLD_ROW.match(line))]
    assert sorted(rows) == sorted(code.value for code in HoldCode), \
        "docs/operating.md's hold table must have one row per HoldCode (core/delivery/plan.py), and no other"


def test_the_page_names_every_outbox_state() -> None:
    section = _holds_section()
    missing = [state.value for state in OutboxState if f"`{state.value}`" not in section]
    assert not missing, f"outbox states missing from the Holds section: {missing}"


# ---- the blocks that run ----------------------------------------------------------------------------------------
def _bash(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`script` in bash, stopping at the first failing command, with this Python first on PATH (as `python`)."""
    python_dir = Path(sys.executable).parent
    full = {**os.environ, **env, "PATH": f"{python_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=full, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, f"the block failed:\n{script}\n--- stderr:\n{done.stderr}"
    return done


def _tree(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under `root`: its relative path → (sha256, permission bits)."""
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), stat.S_IMODE(p.stat().st_mode))
            for p in sorted(root.rglob("*")) if p.is_file()}


@dataclass
class Deployment:
    data: Path
    home: Path
    backups: Path
    key_backup: Path

    @property
    def key(self) -> Path:
        return self.data / "secret.key"  # the default place: the backup must leave it out

    @property
    def env(self) -> dict[str, str]:
        return {"WELL_DATA_DIR": str(self.data), "DAGSTER_HOME": str(self.home), "BACKUP_DIR": str(self.backups),
                "KEY_BACKUP": str(self.key_backup), "WELL_SECRET_KEY_FILE": str(self.key)}

    def storage(self) -> DuckDBStorage:
        return DuckDBStorage(self.data / "well.duckdb", self.data / "attachments")

    def secrets(self) -> SecretStore:
        return SecretStore(self.data / "secrets.enc.json", key_file=self.key, environ={})


MARKER = "2026-03-14T09:30:00+00:00"


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    """A small but real deployment: DuckDB with a marker, a document, an encrypted secret with its key in the data
    directory (the default), the workspace file and a Dagster instance; the key also copied apart."""
    site = Deployment(tmp_path / "data", tmp_path / "dagster-home", tmp_path / "backups", tmp_path / "vault" / "key")
    storage = site.storage()
    storage.invoices.set_marker(SYNC_MARKER, MARKER)
    storage.documents.put(b"%PDF-1.7\n% an invoice\n")
    site.secrets().set("smtp_password", "relay-password")
    pin(workspace_file(site.data), WorkspaceState(datetime(2023, 12, 1).date(), datetime(2026, 12, 1, tzinfo=UTC)))
    site.home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", site.home / "dagster.yaml")
    with DagsterInstance.from_config(str(site.home)) as instance:  # a real instance: its SQLite storage is created
        assert instance.get_runs() == []
    site.key_backup.parent.mkdir()
    shutil.copy2(site.key, site.key_backup)
    return site


def test_the_backup_then_restore_blocks_bring_back_every_file_and_leave_the_key_apart(deployment: Deployment) -> None:
    site = deployment
    data_before, home_before = _tree(site.data), _tree(site.home)
    assert "well.duckdb" in data_before and "secret.key" in data_before and "workspace.json" in data_before
    assert any(name.startswith("attachments/") for name in data_before)
    assert any(name.startswith("schedules/") for name in home_before)

    _bash(marked("backup") + marked("export"), site.env)
    archives = sorted(site.backups.glob("*.tar.gz"))
    assert [a.name.split("-2")[0] for a in archives] == ["dagster-home", "well-data"]
    for archive in archives:
        assert stat.S_IMODE(archive.stat().st_mode) == 0o600, f"{archive.name} is readable by others"
    with tarfile.open(next(a for a in archives if a.name.startswith("well-data"))) as tar:
        names = tar.getnames()
    assert "./well.duckdb" in names and "./secrets.enc.json" in names
    assert not [n for n in names if n.endswith("secret.key")], "the key must not be in the data archive"

    shutil.rmtree(site.data)  # the disaster: data directory, its key and the instance gone
    shutil.rmtree(site.home)
    _bash(marked("restore"), site.env)
    assert _tree(site.data) == data_before  # same bytes, same 0600 modes, the key back from its own place
    assert _tree(site.home) == home_before
    assert site.secrets().get("smtp_password").reveal() == "relay-password"
    assert last_sync(site.storage().invoices) == datetime.fromisoformat(MARKER)
    assert "[]" in _bash(marked("read-cursor"), site.env).stdout  # the restored instance opens

    _bash(marked("restore") + marked("import"), site.env)  # the database from the export instead: same rows
    storage = DuckDBStorage(site.data / "well.duckdb", site.data / "attachments", read_only=True)
    assert last_sync(storage.invoices) == datetime.fromisoformat(MARKER)
    with storage.database.connect() as con:
        versions = [v for (v,) in con.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()]
    assert versions == [version for version, _ in MIGRATIONS]


def test_the_migrate_block_brings_a_database_to_the_code_schema(tmp_path: Path) -> None:
    out = _bash(marked("migrate"), {"WELL_DATA_DIR": str(tmp_path / "data")}).stdout
    assert out.strip() == f"schema version {MIGRATIONS[-1][0]}"
    assert (tmp_path / "data" / "well.duckdb").exists()
