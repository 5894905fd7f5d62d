"""The storage contract: every test in this folder runs against every implementation of `Storage`.

Adding an implementation (PostgreSQL next) is a new folder under `adapters/storage/` plus one entry in
`IMPLEMENTATIONS` below: the whole suite then runs against it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from well_pipeline.adapters.storage import DuckDBStorage, Storage


def _duckdb(tmp_path: Path) -> Storage:
    return DuckDBStorage(tmp_path / "well.duckdb", tmp_path / "attachments")


IMPLEMENTATIONS: dict[str, Callable[[Path], Storage]] = {"duckdb": _duckdb}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    yield IMPLEMENTATIONS[request.param](tmp_path)
