"""Same arguments and seed give the same bytes; a different seed gives a different dataset."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from well_pipeline.sandbox.generator import dataset as dataset_module
from well_pipeline.sandbox.generator import generate_dataset

from .conftest import GEN_ARGS, NOW, Dataset

COMPARED = (
    "qonto/invoices.jsonl",
    "qonto/organization.json",
    "melio/vendors.csv",
    "melio/bills.csv",
    "truth/invoices.csv",
    "truth/vendors.csv",
    "manifest.json",
)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _attachment_names(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "qonto" / "attachments").iterdir())


def test_same_seed_and_now_give_identical_bytes(dataset: Dataset, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_dataset(again, **GEN_ARGS)
    for name in COMPARED:
        assert _digest(dataset.root / name) == _digest(again / name), name
    names = _attachment_names(dataset.root)
    assert names == _attachment_names(again)
    # Every image and odd file, plus every 25th PDF.
    sample = [n for i, n in enumerate(names) if not n.endswith(".pdf") or i % 25 == 0]
    assert len(sample) > 100
    for name in sample:
        a = dataset.root / "qonto" / "attachments" / name
        b = again / "qonto" / "attachments" / name
        assert a.stat().st_size == b.stat().st_size and _digest(a) == _digest(b), name


def test_different_seed_gives_a_different_dataset(tmp_path: Path) -> None:
    args = {**GEN_ARGS, "invoices": 200, "vendors": 40}
    generate_dataset(tmp_path / "a", **args)
    generate_dataset(tmp_path / "b", **{**args, "seed": args["seed"] + 1})
    for name in ("qonto/invoices.jsonl", "melio/vendors.csv", "melio/bills.csv"):
        assert _digest(tmp_path / "a" / name) != _digest(tmp_path / "b" / name), name
    assert not set(_attachment_names(tmp_path / "a")) & set(_attachment_names(tmp_path / "b"))


def test_worker_pool_writes_the_same_bytes_as_inline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = {**GEN_ARGS, "invoices": 300, "vendors": 50}
    generate_dataset(tmp_path / "inline", **args)
    monkeypatch.setattr(dataset_module, "POOL_MIN_INVOICES", 1)
    summary = generate_dataset(tmp_path / "pool", **args)
    assert summary.attachments == 300
    names = _attachment_names(tmp_path / "inline")
    assert names == _attachment_names(tmp_path / "pool")
    for name in names:
        assert _digest(tmp_path / "inline" / "qonto" / "attachments" / name) == _digest(
            tmp_path / "pool" / "qonto" / "attachments" / name
        )
    assert _digest(tmp_path / "inline" / "manifest.json") == _digest(tmp_path / "pool" / "manifest.json")


def test_default_now_is_the_current_utc_minute(tmp_path: Path) -> None:
    before = datetime.now(UTC).replace(second=0, microsecond=0)
    summary = generate_dataset(tmp_path / "d", invoices=20, vendors=5, years=0.5, seed=1)
    after = datetime.now(UTC)
    assert before <= summary.now <= after
    assert summary.now.second == 0 and summary.now.microsecond == 0
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert manifest["parameters"]["now"] == summary.now.strftime("%Y-%m-%dT%H:%M:00.000Z")


def test_regenerating_replaces_previous_output_but_refuses_foreign_directories(tmp_path: Path) -> None:
    target = tmp_path / "d"
    generate_dataset(target, invoices=30, vendors=5, years=1, seed=1, now=NOW)
    first = set(_attachment_names(target))
    generate_dataset(target, invoices=10, vendors=5, years=1, seed=2, now=NOW - timedelta(days=1))
    second = set(_attachment_names(target))
    assert len(second) == 10 and not first & second  # stale attachments were removed
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        generate_dataset(foreign, invoices=5, vendors=2, years=1, seed=1, now=NOW)
    assert (foreign / "notes.txt").read_text() == "mine"
