"""The S3 test server (moto's, on loopback) of the `s3://` document store's tests. The PostgreSQL test server's
fixtures (`postgres_server`, `postgres_dsn`) are suite-wide, in well_pipeline_tests/conftest.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from well_pipeline.adapters.storage import AttachmentStore
from well_pipeline.adapters.storage.attachment_url import open_attachment_store
from well_pipeline_tests.support import s3_server
from well_pipeline_tests.support.postgres_server import new_schema  # noqa: F401 (imported from here by tests)


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
