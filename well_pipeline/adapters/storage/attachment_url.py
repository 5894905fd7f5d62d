"""Which document store a storage URL names: `file:///abs/path` or `s3://bucket/prefix`.

Why one parser: the settings validate `attachments_url` with it (a bad URL is refused when settings load, not at
the first download), and the store is opened from the same parse. Credentials are refused in the URL (without
repeating them): they would reach the run config, the UI and `well settings`; boto3 reads them from the standard
AWS chain instead. Pure: boto3 is imported only when an `s3://` store is opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from well_pipeline.adapters.storage.attachment_store import AttachmentStore, FileAttachmentStore

SCHEMES = ("file", "s3")


@dataclass(frozen=True)
class AttachmentURL:
    """A parsed storage URL: `scheme` file (with `path`) or s3 (with `bucket`, `prefix`)."""

    scheme: str
    path: Path | None = None
    bucket: str = ""
    prefix: str = ""


def parse_attachments_url(url: str) -> AttachmentURL:
    """The URL's parts; ValueError with the rule broken (never echoing a credential)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(f"must be a file:///absolute/path or s3://bucket/prefix URL, got scheme {scheme!r}")
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise ValueError("must not carry credentials, a query or a fragment: S3 credentials come from the AWS "
                         "credential chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, a role)")
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file URL names host {parts.netloc!r}: write file:///absolute/path (three slashes)")
        path = Path(unquote(parts.path))
        if not path.is_absolute():
            raise ValueError("file URL needs an absolute path: file:///absolute/path")
        return AttachmentURL("file", path=path)
    if not parts.netloc:
        raise ValueError("s3 URL needs a bucket: s3://bucket/prefix")
    return AttachmentURL("s3", bucket=parts.netloc, prefix=unquote(parts.path).strip("/"))


def open_attachment_store(url: str, *, s3_endpoint_url: str = "", s3_region: str = "") -> AttachmentStore:
    """The store `url` names. `s3_endpoint_url` / `s3_region`: an S3-compatible store that is not AWS's default."""
    parsed = parse_attachments_url(url)
    if parsed.scheme == "file":
        assert parsed.path is not None
        return FileAttachmentStore(parsed.path)
    from well_pipeline.adapters.storage.attachment_s3 import S3AttachmentStore

    return S3AttachmentStore(parsed.bucket, parsed.prefix, endpoint_url=s3_endpoint_url, region=s3_region)
