"""Private folders (0700) and files (0600) under the data directory, and tightening what an old install left open."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from well_pipeline.adapters.filesystem import private_dir, tighten, tighten_tree, write_private
from well_pipeline_tests.support.permissions import make_open, mode, open_to_others, permissive_umask


@pytest.fixture(autouse=True)
def _umask_022():
    with permissive_umask():
        yield


def test_private_dir_creates_every_missing_level_0700_and_leaves_existing_parents(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    leaf = private_dir(tmp_path / "data" / "attachments" / "sha256")
    assert leaf.is_dir()
    for folder in (tmp_path / "data", tmp_path / "data" / "attachments", leaf):
        assert mode(folder) == 0o700, folder
    assert mode(tmp_path) == 0o755  # not Well's folder: untouched


def test_private_dir_tightens_an_existing_folder_with_a_log_line(tmp_path: Path, caplog) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    with caplog.at_level(logging.WARNING, logger="well_pipeline.adapters.filesystem"):
        private_dir(folder)
    assert mode(folder) == 0o700
    assert f"tightened permissions of {folder} from 0755 to 0700" in caplog.text


def test_write_private_is_0600_and_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "doc.pdf"
    target.write_bytes(b"old")
    os.chmod(target, 0o644)
    write_private(target, b"new content")
    assert target.read_bytes() == b"new content" and mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["doc.pdf"]  # no temporary file left behind


def test_write_private_exclusive_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "secret.key"
    write_private(target, b"first", exclusive=True)
    with pytest.raises(FileExistsError):
        write_private(target, b"second", exclusive=True)
    assert target.read_bytes() == b"first" and mode(target) == 0o600


def test_tighten_removes_only_group_and_other_bits(tmp_path: Path) -> None:
    readonly = tmp_path / "r"
    readonly.write_bytes(b"x")
    os.chmod(readonly, 0o444)
    assert tighten(readonly) is True and mode(readonly) == 0o400  # never adds a permission
    assert tighten(readonly) is False
    assert tighten(tmp_path / "absent") is False


def test_tighten_tree_fixes_everything_but_follows_no_link(tmp_path: Path, caplog) -> None:
    root = tmp_path / "attachments"
    (root / "sha256" / "ab" / "cd").mkdir(parents=True)
    (root / "sha256" / "ab" / "cd" / "abcd1").write_bytes(b"pdf")
    (root / "sha256" / "ab" / "cd" / "abcd2").write_bytes(b"png")
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not Well's")
    os.chmod(outside, 0o644)
    (root / "link").symlink_to(outside)
    make_open(root)
    with caplog.at_level(logging.WARNING, logger="well_pipeline.adapters.filesystem"):
        assert tighten_tree(root) == (4, 2)  # root, sha256, ab, cd; two documents
    assert [entry for entry in open_to_others(root) if entry[0] != "link"] == []
    assert mode(outside) == 0o644
    assert "4 folder(s) to 0700, 2 file(s) to 0600" in caplog.text
    assert tighten_tree(root) == (0, 0)
