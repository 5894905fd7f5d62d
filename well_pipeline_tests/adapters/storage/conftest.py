"""The PostgreSQL test server, shared by the contract tests and the PostgreSQL store's own tests.

One server per test process (xdist worker), started once (~1.5 s: `initdb` without fsync); each test takes a fresh
schema in its one database (`new_schema`), which costs a few milliseconds instead of a server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from well_pipeline_tests.support.postgres_server import PostgresServer, PostgresUnavailable, start_server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = start_server()
    except PostgresUnavailable as exc:  # only when it is not installed and cannot be: a failed start is an error
        pytest.skip(f"no PostgreSQL server for the tests: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """A DSN of the test server's database (trust authentication on loopback: no password)."""
    return postgres_server.dsn()


def new_schema() -> str:
    """A schema name no other test uses (the store creates the schema on first connection)."""
    return f"t_{uuid.uuid4().hex[:16]}"
