"""`s3://bucket/prefix` documents: the same content-addressed layout in an S3-compatible object store.

Why: several machines (a multi-node deployment, docs/storage-postgres.md) must read the documents one of them
downloaded; a shared object store does that without a shared file system. Any S3-compatible store works (AWS S3,
MinIO, Ceph, Garage...): `attachments_s3_endpoint_url` points at a non-AWS one.

Credentials never go through Well: boto3 reads them by the standard AWS chain (`AWS_ACCESS_KEY_ID` /
`AWS_SECRET_ACCESS_KEY` variables, `~/.aws/credentials`, `AWS_PROFILE`, an instance or pod role), so they are not
in the URL, the settings, the run config or a log line. Errors are re-raised as `AttachmentStoreError` naming the
store and the S3 error code only.

boto3 is the optional extra `s3`: this module imports it when constructed, which happens only for an `s3://` URL
(an import-linter contract keeps every other layer from importing it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from well_pipeline.adapters.storage.attachment_store import (
    AttachmentMissingError,
    AttachmentStoreError,
    checked_digest,
    relative_path,
)

if TYPE_CHECKING:
    from pathlib import PurePosixPath

_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}


class S3AttachmentStore:
    """Objects `<prefix>/sha256/ab/cd/<digest>` in `bucket`; the bucket must exist (Well never creates buckets)."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str = "", region: str = "",
                 timeout_s: float = 30.0) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise AttachmentStoreError("attachments_url is an s3:// URL but boto3 is not installed: "
                                       "pip install 'well-pipeline[s3]'") from None
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        config = Config(connect_timeout=timeout_s, read_timeout=timeout_s,
                        retries={"max_attempts": 5, "mode": "standard"})
        # A session of its own: boto3's default session is shared module state, not safe across threads.
        self._client: Any = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or None, config=config)

    @property
    def location(self) -> str:
        return f"s3://{self._bucket}/{self._prefix}".rstrip("/")

    def relative_path(self, sha256: str) -> PurePosixPath:
        return relative_path(sha256)

    def _key(self, sha256: str) -> str:
        path = str(relative_path(sha256))
        return f"{self._prefix}/{path}" if self._prefix else path

    def put(self, content: bytes, expected_sha256: str | None = None) -> str:
        digest = checked_digest(content, expected_sha256)
        if self.size(digest) == len(content):
            return digest
        # S3 writes are atomic per object: a reader sees the whole document or none of it.
        self._call("store", digest, self._client.put_object, Bucket=self._bucket, Key=self._key(digest),
                   Body=content, ContentType="application/octet-stream")
        return digest

    def read(self, sha256: str) -> bytes:
        response = self._call("read", sha256, self._client.get_object, Bucket=self._bucket, Key=self._key(sha256))
        return response["Body"].read()

    def read_head(self, sha256: str, size: int) -> bytes:
        if size <= 0:
            return b"" if size == 0 else self.read(sha256)
        response = self._call("read", sha256, self._client.get_object, Bucket=self._bucket, Key=self._key(sha256),
                              Range=f"bytes=0-{size - 1}")
        return response["Body"].read()

    def exists(self, sha256: str) -> bool:
        return self.size(sha256) is not None

    def size(self, sha256: str) -> int | None:
        try:
            head = self._call("look up", sha256, self._client.head_object, Bucket=self._bucket,
                              Key=self._key(sha256))
        except AttachmentMissingError:
            return None
        return int(head["ContentLength"])

    def _call(self, action: str, sha256: str, method: Any, **kwargs: Any) -> Any:
        """One S3 call; its errors as this module's, naming the store and the S3 code, never a credential."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?"))
            if code in _MISSING_CODES:
                raise AttachmentMissingError(f"document {sha256[:12]}… is missing from {self.location}") from None
            raise AttachmentStoreError(f"cannot {action} document {sha256[:12]}… in {self.location}: S3 error "
                                       f"{code} ({error.get('Message') or 'no message'})") from None
        except BotoCoreError as exc:  # no credentials, endpoint unreachable, timeouts after retries
            raise AttachmentStoreError(f"cannot {action} document {sha256[:12]}… in {self.location}: "
                                       f"{type(exc).__name__}: {exc}") from None
