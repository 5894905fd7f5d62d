"""The PostgreSQL test server, shared by the contract tests and the PostgreSQL store's own tests; and the S3
test server (moto's, on loopback) of the `s3://` document store's tests.

One server per test process (xdist worker), started once (~1.5 s: `initdb` without fsync); each test takes a fresh
schema in its one database (`new_schema`), which costs a few milliseconds instead of a server.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from well_pipeline.adapters.storage import AttachmentStore
from well_pipeline.adapters.storage.attachment_url import open_attachment_store
from well_pipeline_tests.support import s3_server
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


@pytest.fixture(scope="session")
def s3_test_server() -> Iterator[s3_server.S3Server]:
    try:
        server = s3_server.start_server()
    except s3_server.S3Unavailable as exc:  # only when moto is not installed: a failed start is an error
        pytest.skip(f"no S3-compatible server for the tests: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_test_server: s3_server.S3Server) -> Any:
    return s3_test_server.client()


@pytest.fixture
def new_s3_store(s3_test_server: s3_server.S3Server, s3_client: Any,
                 monkeypatch: pytest.MonkeyPatch) -> Callable[..., AttachmentStore]:
    """Opens `s3://<bucket>/<prefix>` stores on the test server, through the same URL opener as production, with
    credentials from the AWS variables (the chain a deployment uses); a new bucket unless `bucket` is given."""
    for name, value in s3_server.TEST_CREDENTIALS.items():
        monkeypatch.setenv(name, value)

    def new(prefix: str = "attachments", bucket: str = "") -> AttachmentStore:
        if not bucket:
            bucket = f"well-{uuid.uuid4().hex[:12]}"
            s3_client.create_bucket(Bucket=bucket)
        return open_attachment_store(f"s3://{bucket}/{prefix}", s3_endpoint_url=s3_test_server.endpoint_url,
                                     s3_region=s3_server.REGION)

    return new
