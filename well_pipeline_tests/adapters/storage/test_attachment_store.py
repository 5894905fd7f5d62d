"""The document files: content-addressed, stored once, refused when the bytes do not match the digest."""

from pathlib import Path

import pytest

from well_pipeline.adapters.storage import AttachmentStore


def test_attachment_store_is_content_addressed(tmp_path: Path) -> None:
    store = AttachmentStore(tmp_path)
    first = store.put(b"same bytes")
    second = store.put(b"same bytes")
    assert first == second
    assert store.read(first) == b"same bytes"
    assert len(list(tmp_path.rglob("*"))) == 4  # sha256/ab/cd/<digest>: three folders and one file
    with pytest.raises(ValueError, match="digest mismatch"):
        store.put(b"other", expected_sha256=first)
