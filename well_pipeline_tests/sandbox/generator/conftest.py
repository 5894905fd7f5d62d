"""One 2,000-invoice dataset shared by the generator tests (generated once per session, ~2 s)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from well_pipeline.sandbox.generator import GenerationSummary, generate_dataset

NOW = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # an hour after the 2026 summer-time switch in Paris
SEED = 20260329
INVOICES = 2000
VENDORS = 300
YEARS = 3.0
GEN_ARGS: dict[str, Any] = {"invoices": INVOICES, "vendors": VENDORS, "years": YEARS, "seed": SEED, "now": NOW}


@dataclass
class Dataset:
    """The generated directory plus its files parsed once."""

    root: Path
    summary: GenerationSummary
    records: list[dict[str, Any]]
    truth: list[dict[str, str]]
    vendors_truth: list[dict[str, str]]
    melio_vendors: list[dict[str, str]]
    bills: list[dict[str, str]]
    manifest: dict[str, Any]
    organization: dict[str, Any]

    @property
    def truth_by_id(self) -> dict[str, dict[str, str]]:
        return {row["qonto_id"]: row for row in self.truth}

    @property
    def vendor_by_id(self) -> dict[str, dict[str, str]]:
        return {row["vendor_id"]: row for row in self.vendors_truth}

    def attachment(self, record: dict[str, Any]) -> Path:
        ext = Path(record["file_name"]).suffix
        return self.root / "qonto" / "attachments" / f"{record['attachment_id']}{ext}"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def load(root: Path, summary: GenerationSummary) -> Dataset:
    with (root / "qonto" / "invoices.jsonl").open(encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    return Dataset(
        root=root,
        summary=summary,
        records=records,
        truth=read_csv(root / "truth" / "invoices.csv"),
        vendors_truth=read_csv(root / "truth" / "vendors.csv"),
        melio_vendors=read_csv(root / "melio" / "vendors.csv"),
        bills=read_csv(root / "melio" / "bills.csv"),
        manifest=json.loads((root / "manifest.json").read_text(encoding="utf-8")),
        organization=json.loads((root / "qonto" / "organization.json").read_text(encoding="utf-8")),
    )


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    root = tmp_path_factory.mktemp("generated") / "data"
    summary = generate_dataset(root, **GEN_ARGS)
    return load(root, summary)
