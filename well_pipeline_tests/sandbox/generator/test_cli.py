"""`well sandbox generate`."""

from __future__ import annotations

import json
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
