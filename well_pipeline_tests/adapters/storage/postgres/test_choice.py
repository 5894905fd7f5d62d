"""A deployment chooses PostgreSQL with settings; the Dagster resource and the CLI then both open it, and a
password never gets into the settings (where the run config, the UI and `well settings` would show it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from well_pipeline.adapters.storage import DuckDBStorage
from well_pipeline.adapters.storage.postgres import PostgresStorage
from well_pipeline.cli.common import open_storage, storage_if_any
from well_pipeline.defs.resources import WellStorageResource
from well_pipeline.settings import SettingsError, dsn_has_password, load_settings
from well_pipeline_tests.adapters.storage.conftest import new_schema

SECRET = "s3cret-Pa55"


def test_the_storage_resource_opens_the_configured_backend(postgres_dsn: str, tmp_path: Path) -> None:
    schema = new_schema()
    resource = WellStorageResource(data_dir=str(tmp_path), storage_backend="postgres", postgres_dsn=postgres_dsn,
                                   postgres_schema=schema)
    storage = resource.storage()
    assert isinstance(storage, PostgresStorage) and storage.database.schema == schema
    storage.invoices.set_marker("qonto", "m-1")  # a real round trip to the server
    assert resource.storage(read_only=True).invoices.get_marker("qonto") == "m-1"
    assert isinstance(WellStorageResource(data_dir=str(tmp_path)).storage(), DuckDBStorage)  # the default


def test_the_cli_opens_the_configured_backend(postgres_dsn: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    schema = new_schema()
    for name, value in {"DATA_DIR": str(tmp_path), "STORAGE_BACKEND": "postgres", "POSTGRES_DSN": postgres_dsn,
                        "POSTGRES_SCHEMA": schema}.items():
        monkeypatch.setenv(f"WELL_{name}", value)
    storage = open_storage()
    assert isinstance(storage, PostgresStorage) and storage.invoices.count() == 0
    assert isinstance(storage_if_any(), PostgresStorage)  # no DuckDB file needed: the schema is made on first use


@pytest.mark.parametrize("dsn", [f"host=db user=well password={SECRET}", f"postgresql://well:{SECRET}@db/well",
                                 f"postgresql://well@db/well?password={SECRET}"])
def test_a_password_in_the_dsn_is_refused_without_being_repeated(dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert dsn_has_password(dsn)
    monkeypatch.setenv("WELL_POSTGRES_DSN", dsn)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "postgres_dsn" in str(raised.value) and "PGPASSFILE" in str(raised.value)
    assert SECRET not in str(raised.value)


def test_a_dsn_without_password_and_a_bad_schema_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not dsn_has_password("host=db user=well dbname=well") and not dsn_has_password("postgresql://well@db/w")
    monkeypatch.setenv("WELL_POSTGRES_SCHEMA", "Acme-Corp")
    with pytest.raises(SettingsError, match="postgres_schema"):
        load_settings()
