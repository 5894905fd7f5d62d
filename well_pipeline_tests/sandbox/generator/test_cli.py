"""`well sandbox generate`."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from well_pipeline.cli.sandbox import sandbox


def test_generate_command_writes_a_dataset_and_reports_progress(tmp_path: Path) -> None:
    out = tmp_path / "data"
    args = ["generate", "--out", str(out), "--invoices", "120", "--vendors", "20", "--years", "1.5", "--seed", "9",
            "--now", "2026-02-01T10:00:00Z"]
    result = CliRunner().invoke(sandbox, args)
    assert result.exit_code == 0, result.output
    progress = [line for line in result.stderr.splitlines() if line.startswith("generate:")]
    assert len(progress) == 10 and progress[-1].startswith("generate: 100%")
    assert "\x1b" not in result.output and "[#" not in result.output  # not a terminal: plain lines, no bar
    assert "Dataset written to" in result.stdout and "cases:" in result.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"] == {"invoices": 120, "vendors": 20, "years": 1.5, "now": "2026-02-01T10:00:00.000Z"}
    first = (out / "qonto" / "invoices.jsonl").read_bytes()
    again = CliRunner().invoke(sandbox, args)
    assert again.exit_code == 0
    assert (out / "qonto" / "invoices.jsonl").read_bytes() == first


def test_generate_command_rejects_bad_now_and_foreign_directories(tmp_path: Path) -> None:
    result = CliRunner().invoke(sandbox, ["generate", "--out", str(tmp_path / "x"), "--now", "yesterday"])
    assert result.exit_code != 0 and "--now" in result.output
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "keep.txt").write_text("x")
    result = CliRunner().invoke(sandbox, ["generate", "--out", str(tmp_path / "foreign"), "--invoices", "5"])
    assert result.exit_code != 0 and "refusing" in result.output


def read_all(fd: int, *, deadline_s: float) -> bytes:
    """Everything the process on the other side of a pseudo-terminal writes, until it closes it."""
    out = b""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], deadline - time.monotonic())
        if not ready:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        out += chunk
    return out


def test_generate_command_shows_a_progress_bar_in_a_terminal(tmp_path: Path) -> None:
    main, terminal = pty.openpty()
    args = ["generate", "--out", str(tmp_path / "data"), "--invoices", "120", "--vendors", "20", "--years", "1",
            "--seed", "9", "--now", "2026-02-01T10:00:00Z"]
    process = subprocess.Popen([sys.executable, "-m", "well_pipeline.cli.main", "sandbox", *args],
                               stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True)
    os.close(terminal)
    try:
        output = read_all(main, deadline_s=120).decode()
    finally:
        os.close(main)
        assert process.wait(timeout=30) == 0, output
    bar = re.findall(r"generate: invoices \+ attachments\s+\[([#-]+)\]\s+(\d+)/120\s+(\d+)%", output)
    counts = [int(done) for _, done, _ in bar]
    assert counts == sorted(counts) and len(set(counts)) > 10, output  # redrawn in place as the work goes
    assert bar[-1] == ("#" * len(bar[-1][0]), "120", "100")
    assert "\r" in output and "generate:  10%" not in output  # a bar, not the lines a log gets
    assert output.index("120/120") < output.index("Dataset written to")  # then the summary
