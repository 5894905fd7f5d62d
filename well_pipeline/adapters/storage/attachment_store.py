"""Content-addressed attachment files: each distinct document is stored once, named by its sha256.

Why content addressing: a re-import, a second Qonto record pointing at the same scan, or a re-run of a backfill
never writes a second copy, and the digest recorded in DuckDB proves the bytes later e-mailed to Melio are
the bytes Qonto served.

Documents are private (folders 0700, files 0600, see `adapters/filesystem.py`); a store written before that
rule is tightened the first time a process opens it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from well_pipeline.adapters.filesystem import private_dir, tighten_tree_once, write_private


class AttachmentStore:
    """Files under `root/sha256/ab/cd/<digest>`; writes are atomic (temp file + rename) and private."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        tighten_tree_once(self._root)

    @property
    def root(self) -> Path:
        return self._root

    def relative_path(self, sha256: str) -> Path:
        return Path("sha256") / sha256[:2] / sha256[2:4] / sha256

    def path_for(self, sha256: str) -> Path:
        return self._root / self.relative_path(sha256)

    def put(self, content: bytes, expected_sha256: str | None = None) -> str:
        """Store `content` unless already present; returns its sha256 (checked against `expected_sha256`)."""
        digest = hashlib.sha256(content).hexdigest()
        if expected_sha256 is not None and expected_sha256 != digest:
            raise ValueError(f"attachment digest mismatch: expected {expected_sha256}, got {digest}")
        target = self.path_for(digest)
        if target.exists() and target.stat().st_size == len(content):
            return digest
        private_dir(target.parent)
        write_private(target, content)
        return digest

    def read(self, sha256: str) -> bytes:
        return self.path_for(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).exists()
