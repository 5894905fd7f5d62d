"""After a real ingest run (sandbox over sockets, real DuckDB file, real Dagster instance) nothing in the data
directory is open to other users, including what an older install had left world-readable."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from well_pipeline.adapters.secrets import QONTO_CLIENT_SECRET, QONTO_REFRESH_TOKEN, SecretStore
from well_pipeline_tests.defs.conftest import WellEnv, day_key
from well_pipeline_tests.defs.pipeline_runs import materialize_range
from well_pipeline_tests.support.permissions import make_open, open_to_others, permissive_umask
from well_pipeline_tests.support.workspace_defs import QONTO_SUPPLIER_INVOICES


@pytest.mark.fault(scenario="World-readable data directory (an older install under umask 022)",
                   expected="the next ingest run leaves the folder and every folder in it 0700 and every file "
                            "0600 (DuckDB file, secret store, key, attachments), old ones tightened")
def test_ingest_run_leaves_every_file_private(well_env: WellEnv, instance: dg.DagsterInstance,
                                              fault_outcome) -> None:
    data = well_env.settings.data_path
    with permissive_umask():
        # What an older Well left: a DuckDB file and a stored document made under umask 022, all world-readable.
        duckdb.connect(str(well_env.settings.duckdb_path)).close()
        old_document = b"%PDF-1.4 a document stored by an older Well"
        digest = hashlib.sha256(old_document).hexdigest()
        folder = well_env.settings.attachments_dir / "sha256" / digest[:2] / digest[2:4]
        folder.mkdir(parents=True)
        (folder / digest).write_bytes(old_document)
        opened = make_open(data)
        assert len(open_to_others(data)) == opened

        result = materialize_range(well_env, instance, day_key(0), day_key(2), assets=[QONTO_SUPPLIER_INVOICES])

    assert result.success
    files = [os.path.join(d, f) for d, _, names in os.walk(data) for f in names]
    assert any(name.endswith(".duckdb") for name in files) and any(name.endswith("secret.key") for name in files)
    stored = list(well_env.settings.attachments_dir.rglob("*"))
    assert sum(path.is_file() for path in stored) >= 15  # 14 fetched by the run + the old one
    still_open = open_to_others(data)
    assert still_open == []
    store = SecretStore(well_env.settings.secrets_path, environ={})
    values = [store.get(name).reveal().encode() for name in (QONTO_CLIENT_SECRET, QONTO_REFRESH_TOKEN)]
    plain = sum(value in Path(path).read_bytes() for path in files for value in values)
    assert plain == 0
    fault_outcome.record(observed=f"{opened} entries opened 0755/0644 before the run; after it, "
                                  f"{len(still_open)} of {len(files)} files and their folders open to others; "
                                  "no secret in plain text in any file",
                         leaked=plain)
