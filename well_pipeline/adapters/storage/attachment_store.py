"""Content-addressed documents: each distinct document is stored once, named by its sha256.

Why content addressing: a re-import, a second Qonto record pointing at the same scan, or a re-run of a backfill
never writes a second copy, and the digest recorded in the tables proves the bytes later e-mailed to Melio are
the bytes Qonto served.

Where the documents live is a storage URL (`attachments_url`, opened by `attachment_url.py`): `file://` (this
module's `FileAttachmentStore`, the default, under the data directory) or `s3://` (`attachment_s3.py`, shared by
several machines). Callers hold an `AttachmentStore` and use only its methods (bytes in, bytes out), never a path,
so both behave the same; missing documents and unreachable stores are `OSError`s, which the delivery and the
document audit already turn into holds and findings.

Files are private (folders 0700, files 0600, see `adapters/filesystem.py`); a store written before that rule is
tightened the first time a process opens it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath
from typing import Protocol

from well_pipeline.adapters.filesystem import private_dir, tighten_tree_once, write_private


class AttachmentStoreError(OSError):
    """The store could not be read or written (unreachable, refused); the message names the store, never a secret."""


class AttachmentMissingError(FileNotFoundError):
    """No document with this digest in the store."""


def relative_path(sha256: str) -> PurePosixPath:
    """`sha256/ab/cd/<digest>`: a document's place inside any store (recorded as `blob_path` in the tables)."""
    return PurePosixPath("sha256") / sha256[:2] / sha256[2:4] / sha256


def checked_digest(content: bytes, expected_sha256: str | None) -> str:
    """The content's sha256, refused (ValueError) when it is not the one the caller expected."""
    digest = hashlib.sha256(content).hexdigest()
    if expected_sha256 is not None and expected_sha256 != digest:
        raise ValueError(f"attachment digest mismatch: expected {expected_sha256}, got {digest}")
    return digest


class AttachmentStore(Protocol):
    """Where documents are kept, by digest. Every implementation passes `test_attachment_store_contract.py`."""

    @property
    def location(self) -> str:
        """The store's URL, for logs and messages (never a credential)."""
        ...

    def relative_path(self, sha256: str) -> PurePosixPath:
        """The document's place inside the store (the same in every store)."""
        ...

    def put(self, content: bytes, expected_sha256: str | None = None) -> str:
        """Store `content` unless already present; returns its sha256 (ValueError if not `expected_sha256`)."""
        ...

    def read(self, sha256: str) -> bytes:
        """The document's bytes; `AttachmentMissingError` when absent, `AttachmentStoreError` when unreadable."""
        ...

    def read_head(self, sha256: str, size: int) -> bytes:
        """The document's first `size` bytes (to sniff its type without reading it all); errors as `read`."""
        ...

    def exists(self, sha256: str) -> bool:
        ...

    def size(self, sha256: str) -> int | None:
        """The stored document's size in bytes, None when absent."""
        ...


class FileAttachmentStore:
    """`file://` documents: files under `root/sha256/ab/cd/<digest>`; writes are atomic (temp + rename), private."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        tighten_tree_once(self._root)

    @property
    def root(self) -> Path:
        return self._root

    @property
    def location(self) -> str:
        return self._root.absolute().as_uri()

    def relative_path(self, sha256: str) -> PurePosixPath:
        return relative_path(sha256)

    def path_for(self, sha256: str) -> Path:
        return self._root / relative_path(sha256)

    def put(self, content: bytes, expected_sha256: str | None = None) -> str:
        digest = checked_digest(content, expected_sha256)
        target = self.path_for(digest)
        if target.exists() and target.stat().st_size == len(content):
            return digest
        private_dir(target.parent)
        write_private(target, content)
        return digest

    def read(self, sha256: str) -> bytes:
        return self.read_head(sha256, -1)

    def read_head(self, sha256: str, size: int) -> bytes:
        try:
            with self.path_for(sha256).open("rb") as fh:
                return fh.read(size)
        except FileNotFoundError:
            raise AttachmentMissingError(f"document {sha256[:12]}… is missing from {self.location}") from None

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).exists()

    def size(self, sha256: str) -> int | None:
        try:
            return self.path_for(sha256).stat().st_size
        except FileNotFoundError:
            return None
