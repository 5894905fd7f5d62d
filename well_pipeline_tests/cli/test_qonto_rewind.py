"""`well qonto rewind` and `well qonto status` on a real data directory: the marker moves back, never forward."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from well_pipeline.adapters.storage import DuckDBStorage
from well_pipeline.cli.main import cli
from well_pipeline.services.sync_marker import advance_after_sync, last_sync

SYNCED = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


def test_rewind_moves_the_marker_back_and_status_shows_it(tmp_path: Path) -> None:
    env = {"WELL_DATA_DIR": str(tmp_path)}
    runner = CliRunner()
    assert "no data yet" in runner.invoke(cli, ["qonto", "status"], env=env).output
    nothing = runner.invoke(cli, ["qonto", "rewind", "2026-03-01"], env=env)
    assert nothing.exit_code != 0 and "no Well database" in nothing.output

    storage = DuckDBStorage(tmp_path / "well.duckdb", tmp_path / "attachments")
    advance_after_sync(storage.invoices, sync_started=SYNCED, server_offset_s=None, listing_complete=True)
    status = runner.invoke(cli, ["qonto", "status"], env=env).output
    assert "last successful sync: 2026-03-14T09:00:00+00:00" in status and "invoices stored: 0" in status

    moved = runner.invoke(cli, ["qonto", "rewind", "2026-03-01"], env=env)
    assert moved.exit_code == 0, moved.output
    assert "from 2026-03-14T09:00:00+00:00 to 2026-03-01T00:00:00+00:00" in moved.output
    assert last_sync(storage.invoices) == datetime(2026, 3, 1, tzinfo=UTC)
    assert "last successful sync: 2026-03-01T00:00:00+00:00" in runner.invoke(cli, ["qonto", "status"], env=env).output

    forward = runner.invoke(cli, ["qonto", "rewind", "2026-03-10T00:00:00Z"], env=env)
    assert forward.exit_code == 1 and "after the current marker" in forward.output and "Traceback" not in forward.output
    naive = runner.invoke(cli, ["qonto", "rewind", "2026-02-10T08:00:00"], env=env)
    assert naive.exit_code == 1 and "has no timezone" in naive.output
    garbage = runner.invoke(cli, ["qonto", "rewind", "last tuesday"], env=env)
    assert garbage.exit_code == 2 and "is not a date" in garbage.output
    assert last_sync(storage.invoices) == datetime(2026, 3, 1, tzinfo=UTC)  # refused rewinds changed nothing
