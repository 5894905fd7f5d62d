"""The DuckDB file (and its WAL) and the attachment store are private: 0600 files in 0700 folders, old ones fixed."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from well_pipeline.adapters.storage import Database, FileAttachmentStore
from well_pipeline_tests.support.permissions import make_open, mode, open_to_others, permissive_umask


@pytest.fixture(autouse=True)
def _umask_022():
    with permissive_umask():
        yield


def test_new_database_is_private_in_a_private_folder(tmp_path: Path) -> None:
    database = Database(tmp_path / "data" / "well.duckdb")
    with database.connect() as con:
        # DuckDB made the file under umask 022; Well tightened it before handing out the connection.
        assert mode(database.path) == 0o600 and mode(tmp_path / "data") == 0o700
        con.execute("CREATE TABLE scratch (a INTEGER)")
    assert open_to_others(tmp_path / "data") == []


def test_a_wal_left_by_a_crashed_process_is_tightened_on_open(tmp_path: Path) -> None:
    path = tmp_path / "data" / "well.duckdb"
    with Database(path).connect() as con:
        con.execute("CREATE TABLE scratch (a INTEGER)")
    # A real writer process dies mid-session (no checkpoint): its WAL stays behind, made under umask 022.
    crash = (f"import duckdb, os; con = duckdb.connect({str(path)!r}); "
             "con.execute('INSERT INTO scratch VALUES (1)'); os._exit(0)")
    subprocess.run([sys.executable, "-c", crash], check=True, env={**os.environ, "PYTHONPATH": ""})
    wal = path.with_name("well.duckdb.wal")
    assert wal.exists() and mode(wal) == 0o644
    with Database(path).connect() as con:
        assert wal.exists() and mode(wal) == 0o600  # replayed but not yet checkpointed: still there
        assert con.execute("SELECT count(*) FROM scratch").fetchone() == (1,)


def test_existing_open_database_is_tightened_on_a_read_only_open_with_a_log_line(tmp_path: Path, caplog) -> None:
    data = tmp_path / "data"
    data.mkdir()
    con = duckdb.connect(str(data / "well.duckdb"))  # as an older Well made it: 0644 in a 0755 folder
    con.execute("CREATE TABLE t (a INTEGER)")
    con.close()
    make_open(data)
    assert mode(data / "well.duckdb") == 0o644
    with caplog.at_level(logging.WARNING, logger="well_pipeline.adapters.filesystem"):
        with Database(data / "well.duckdb").connect(read_only=True) as ro:
            assert ro.execute("SELECT count(*) FROM t").fetchone() == (0,)
    assert open_to_others(data) == []
    assert "from 0644 to 0600" in caplog.text and "from 0755 to 0700" in caplog.text


def test_attachment_store_writes_private_documents_and_folders(tmp_path: Path) -> None:
    store = FileAttachmentStore(tmp_path / "data" / "attachments")
    digest = store.put(b"%PDF-1.7 invoice")
    assert store.read(digest) == b"%PDF-1.7 invoice"
    assert open_to_others(tmp_path / "data") == []
    assert mode(store.path_for(digest)) == 0o600


def test_attachment_store_opened_over_an_old_open_tree_tightens_it_once_with_one_line(
    tmp_path: Path, caplog
) -> None:
    root = tmp_path / "data" / "attachments"
    documents = [b"first scan", b"second scan", b"third scan"]
    for content in documents:  # as an older Well stored them: mkdir -p and plain files under umask 022
        digest = hashlib.sha256(content).hexdigest()
        folder = root / "sha256" / digest[:2] / digest[2:4]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / digest).write_bytes(content)
    make_open(root)
    assert open_to_others(root)
    with caplog.at_level(logging.WARNING, logger="well_pipeline.adapters.filesystem"):
        store = FileAttachmentStore(root)
    assert open_to_others(root) == []
    lines = [r for r in caplog.records if "tightened permissions under" in r.getMessage()]
    assert len(lines) == 1 and "3 file(s) to 0600" in lines[0].getMessage()
    assert [store.read(hashlib.sha256(c).hexdigest()) for c in documents] == documents
