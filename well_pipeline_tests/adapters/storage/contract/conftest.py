"""The storage contract: every test in this folder runs against every implementation of `Storage`.

Adding an implementation is a new folder under `adapters/storage/` plus one entry in `IMPLEMENTATIONS` below: the
whole suite then runs against it too. A factory gets the test's temporary folder and the pytest request, through
which it asks for the fixtures it needs (the PostgreSQL one: the test server's DSN).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from well_pipeline.adapters.storage import DuckDBStorage, Storage
from well_pipeline_tests.adapters.storage.conftest import new_schema


def _duckdb(tmp_path: Path, request: pytest.FixtureRequest) -> Storage:
    return DuckDBStorage(tmp_path / "well.duckdb", tmp_path / "attachments")


def _postgres(tmp_path: Path, request: pytest.FixtureRequest) -> Storage:
    from well_pipeline.adapters.storage.postgres import PostgresStorage

    # A fresh schema per test in the one server of this process: isolated and cheap.
    return PostgresStorage(request.getfixturevalue("postgres_dsn"), new_schema(), tmp_path / "attachments")


IMPLEMENTATIONS: dict[str, Callable[[Path, pytest.FixtureRequest], Storage]] = {
    "duckdb": _duckdb, "postgres": _postgres}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    yield IMPLEMENTATIONS[request.param](tmp_path, request)
