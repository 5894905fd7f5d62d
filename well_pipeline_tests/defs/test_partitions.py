"""The partition set starts on a stored day: it holds across a month change, widens only through the setting,
and the code location reads it without the database (absent, or locked by another process).

The loading tests start a fresh interpreter each: the code location reads its settings and the start once per
process, as Dagster's code servers do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from well_pipeline.adapters.workspace_state import WorkspaceState, pin, workspace_file
from well_pipeline.defs.qonto.partitions import daily_partitions
from well_pipeline.services.history_window import pin_history_start, resolve_history_start
from well_pipeline_tests.support.duckdb_lock import lock_held

STORED = date(2021, 5, 1)
LOAD = """
import json
from datetime import UTC, datetime
from well_pipeline import definitions
from well_pipeline.defs.qonto.partitions import workspace_history_start
from well_pipeline.settings import load_settings
loaded = definitions.defs()
partitions = set()
for key in ("main/qonto_supplier_invoices", "main/scored_matches", "main/delivered_bills"):
    asset = next(a for a in loaded.assets if key in {k.to_user_string() for k in a.keys})
    partitions.add(id(asset.partitions_def))
    keys = asset.partitions_def.get_partition_keys()
assert len(partitions) == 1, partitions  # the workspace's one partition set
history_start = workspace_history_start(load_settings())
print(json.dumps({"first": keys[0], "last": keys[-1], "count": len(keys), "source": history_start.source,
                  "today": datetime.now(UTC).strftime("%Y-%m-%d")}))
"""


def load_code_location(data_dir: Path, **env: str) -> dict:
    """Load Well's definitions in a new process with `data_dir`; what the partition set looks like there."""
    result = subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "WELL_DATA_DIR": str(data_dir), **env})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def stored_workspace(tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    pin(workspace_file(data_dir), WorkspaceState(STORED, datetime(2024, 5, 20, 8, 0, tzinfo=UTC)))
    return data_dir


def test_partitions_hold_across_a_month_change_once_the_start_is_stored(tmp_path: Path) -> None:
    state_file = workspace_file(tmp_path)
    pin_history_start(state_file, now=datetime(2026, 3, 31, 22, 0, tzinfo=UTC))
    on_the_31st = daily_partitions(resolve_history_start(None, state_file, today=date(2026, 3, 31)).day)
    on_the_1st = daily_partitions(resolve_history_start(None, state_file, today=date(2026, 4, 1)).day)
    seen_on_the_31st = datetime(2026, 3, 31, 23, 0, tzinfo=UTC)
    assert on_the_1st.get_partition_keys(current_time=seen_on_the_31st) == \
        on_the_31st.get_partition_keys(current_time=seen_on_the_31st)
    assert on_the_1st.get_first_partition_key() == "2023-03-01"
    # April's set adds April's days and drops none of March's.
    april = on_the_1st.get_partition_keys(current_time=datetime(2026, 4, 1, 1, 0, tzinfo=UTC))
    assert april[-1] == "2026-04-01" and april[:-1] == on_the_31st.get_partition_keys(current_time=seen_on_the_31st)


def test_definitions_load_the_stored_start_without_a_database(tmp_path: Path) -> None:
    data_dir = stored_workspace(tmp_path)
    loaded = load_code_location(data_dir)
    assert (loaded["first"], loaded["source"]) == (STORED.isoformat(), "stored")
    assert loaded["last"] == loaded["today"]  # through today's open partition
    assert not (data_dir / "well.duckdb").exists()  # loading created no database


def test_definitions_load_while_another_process_holds_the_database(tmp_path: Path) -> None:
    data_dir = stored_workspace(tmp_path)
    database = data_dir / "well.duckdb"
    with lock_held(database, "create table held (x int)") as holder:
        with pytest.raises(duckdb.IOException, match="lock"):  # the file really is locked for anyone else
            duckdb.connect(str(database), read_only=True)
        loaded = load_code_location(data_dir)
        assert (loaded["first"], loaded["source"]) == (STORED.isoformat(), "stored")
        assert holder.poll() is None  # the holder kept its lock throughout


def test_the_setting_widens_the_window_and_keeps_every_stored_partition(tmp_path: Path) -> None:
    data_dir = stored_workspace(tmp_path)
    stored = load_code_location(data_dir)
    widened = load_code_location(data_dir, WELL_HISTORY_START="2020-01-01")
    assert (widened["first"], widened["source"]) == ("2020-01-01", "setting")
    added = (STORED - date(2020, 1, 1)).days
    assert widened["count"] - stored["count"] == added  # the earlier days only; every stored day is still there
    assert (workspace_file(data_dir)).read_text().count(STORED.isoformat()) == 1  # the stored day is untouched


def test_before_any_connect_the_fallback_is_three_years_back_and_nothing_is_written(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    loaded = load_code_location(data_dir)
    today = datetime.now(UTC).date()
    assert loaded["source"] == "fallback"
    assert date.fromisoformat(loaded["first"]).day == 1 and 3 * 365 <= (today - date.fromisoformat(
        loaded["first"])).days <= 3 * 366 + 31
    assert not workspace_file(data_dir).exists()


def test_the_partitions_definition_is_daily_utc_with_today_open() -> None:
    partitions = daily_partitions(date(2026, 1, 1))
    assert isinstance(partitions, dg.DailyPartitionsDefinition)
    assert partitions.timezone == "UTC" and partitions.end_offset == 1
    assert partitions.get_partition_keys(current_time=datetime(2026, 1, 3, 5, 0, tzinfo=UTC)) == [
        "2026-01-01", "2026-01-02", "2026-01-03"]
