"""A deployment chooses PostgreSQL with settings; the Dagster resource and the CLI then both open it, and a
password never gets into the settings (where the run config, the UI and `well settings` would show it)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from well_pipeline.adapters.storage import DuckDBStorage
from well_pipeline.adapters.storage.postgres import PostgresStorage
from well_pipeline.adapters.storage.postgres.database import redacted
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


def test_an_unreachable_server_is_one_line_from_the_cli_naming_the_server_never_the_password(
        tmp_path: Path, free_port_dsn: str) -> None:
    env = {"WELL_DATA_DIR": str(tmp_path), "WELL_STORAGE_BACKEND": "postgres", "WELL_POSTGRES_DSN": free_port_dsn,
           "PGPASSWORD": SECRET, "PGCONNECT_TIMEOUT": "2"}
    result = subprocess.run([sys.executable, "-m", "well_pipeline.cli.main", "review", "list"], capture_output=True,
                            text=True, timeout=120, env={**os.environ, **env})
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    (line,) = [text for text in result.stderr.splitlines() if text.strip()]
    assert line.startswith(f"Error: cannot connect to PostgreSQL at {redacted(free_port_dsn)} (schema well): "
                           "connection failed: "), line
    assert "postgres_dsn" in line and SECRET not in result.stderr + result.stdout


@pytest.fixture
def free_port_dsn() -> str:
    with socket.socket() as probe:  # a port nothing listens on once closed: the connection is refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"host=127.0.0.1 port={port} dbname=well user=well connect_timeout=2"
