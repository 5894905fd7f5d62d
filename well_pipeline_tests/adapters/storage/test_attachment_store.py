"""The document store contract, for every store a storage URL can name: `file://` and `s3://` (a real
S3-compatible server on loopback: moto's, see `support/s3_server.py`).

Content-addressed, stored once, refused when the bytes do not match the digest, a missing document a clear error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from well_pipeline.adapters.storage import AttachmentMissingError, AttachmentStore, FileAttachmentStore
from well_pipeline.adapters.storage.attachment_url import open_attachment_store, parse_attachments_url

STORES = ["file", "s3"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> AttachmentStore:
    if request.param == "file":
        return open_attachment_store(tmp_path.joinpath("documents").as_uri())
    new_s3_store: Callable[[], AttachmentStore] = request.getfixturevalue("new_s3_store")
    return new_s3_store()


def test_put_then_read_returns_the_bytes_under_their_sha256(store: AttachmentStore) -> None:
    content = b"%PDF-1.7 an invoice"
    digest = store.put(content)
    assert digest == hashlib.sha256(content).hexdigest()
    assert store.read(digest) == content
    assert store.read_head(digest, 4) == b"%PDF"
    assert store.exists(digest)
    assert store.size(digest) == len(content)
    assert str(store.relative_path(digest)) == f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"


def test_put_is_idempotent_and_checks_the_expected_digest(store: AttachmentStore) -> None:
    first = store.put(b"same bytes")
    assert store.put(b"same bytes", expected_sha256=first) == first
    assert store.read(first) == b"same bytes"
    with pytest.raises(ValueError, match="digest mismatch"):
        store.put(b"other", expected_sha256=first)
    assert store.read(first) == b"same bytes"
    assert not store.exists(hashlib.sha256(b"other").hexdigest())  # the refused bytes were not stored


def test_a_missing_document_is_a_clear_error(store: AttachmentStore) -> None:
    absent = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(absent)
    assert store.size(absent) is None
    with pytest.raises(AttachmentMissingError, match=f"document {absent[:12]}… is missing from {store.location}"):
        store.read(absent)
    with pytest.raises(FileNotFoundError):  # what the delivery and the audit catch
        store.read_head(absent, 8)


def test_file_store_is_content_addressed_on_disk(tmp_path: Path) -> None:
    store = FileAttachmentStore(tmp_path)
    store.put(b"same bytes")
    store.put(b"same bytes")
    assert len(list(tmp_path.rglob("*"))) == 4  # sha256/ab/cd/<digest>: three folders and one file


def test_s3_store_keeps_documents_under_its_prefix(new_s3_store: Callable[..., AttachmentStore],
                                                   s3_client: object) -> None:
    store = new_s3_store(prefix="workspace-a/docs")
    digest = store.put(b"shared")
    bucket = store.location.removeprefix("s3://").split("/")[0]
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]]  # type: ignore[attr-defined]
    assert keys == [f"workspace-a/docs/sha256/{digest[:2]}/{digest[2:4]}/{digest}"]
    # A second store over the same bucket and prefix (another machine) reads it.
    other = new_s3_store(prefix="workspace-a/docs", bucket=bucket)
    assert other.read(digest) == b"shared"


@pytest.mark.parametrize(("url", "problem"), [
    ("ftp://host/x", "scheme 'ftp'"),
    ("s3://AKIAEXAMPLE:SeCrEt@bucket/prefix", "must not carry credentials"),
    ("s3://bucket/prefix?aws_secret_access_key=SeCrEt", "must not carry credentials"),
    ("s3:///prefix", "needs a bucket"),
    ("file://relative/path", "three slashes"),
])
def test_a_bad_storage_url_is_refused_without_repeating_a_secret(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        parse_attachments_url(url)
    assert "SeCrEt" not in str(caught.value)


def test_storage_urls_parse() -> None:
    assert parse_attachments_url("file:///srv/well/attachments").path == Path("/srv/well/attachments")
    parsed = parse_attachments_url("s3://well-docs/eu/acme/")
    assert (parsed.scheme, parsed.bucket, parsed.prefix) == ("s3", "well-docs", "eu/acme")


def test_the_attachments_url_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from well_pipeline.settings import Settings, SettingsError, load_settings

    default = Settings(data_dir=tmp_path)  # empty: today's folder inside data_dir, nothing moves
    assert default.attachments_location == (tmp_path / "attachments").as_uri()
    assert default.attachments_dir == tmp_path / "attachments"
    assert Settings(attachments_url="file:///srv/docs").attachments_dir == Path("/srv/docs")
    monkeypatch.setenv("WELL_ATTACHMENTS_URL", "s3://AKIAEXAMPLE:SeCrEt@bucket/x")
    with pytest.raises(SettingsError, match=r"attachments_url \(\$WELL_ATTACHMENTS_URL\): .*credentials") as caught:
        load_settings(tmp_path / "absent.toml")
    assert "SeCrEt" not in str(caught.value)
