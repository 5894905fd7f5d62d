"""`well qonto rewind`: the live marker is the sync sensor's cursor in the Dagster instance, moved through Dagster's
own `dagster sensor cursor`; DuckDB's copy follows. Only backwards, and a re-import duplicates nothing."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
from click.testing import CliRunner

from well_pipeline.adapters.storage import DuckDBStorage
from well_pipeline.cli.main import cli
from well_pipeline.sandbox.melio import MelioInbox
from well_pipeline.services.sync_cursor import rewind_cursor
from well_pipeline.services.sync_marker import advance_after_sync, last_sync
from well_pipeline_tests.defs.conftest import (  # noqa: F401 (fixtures used by the real-instance test)
    DAY0,
    WellEnv,
    clean_invoices,
    delivery_env,
    inbox,
    load_melio,
    well_env,
)
from well_pipeline_tests.support.sync_sensor import (
    ROOT,
    daemon_tick,
    declare_sensor,
    launch,
    marker_of,
    only_request,
    skip_text,
    stored_cursor,
    window,
)

SYNCED = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
COMMAND = "dagster sensor cursor qonto_sync_sensor__main --set '{\"marker\":\"2026-03-01T00:00:00+00:00\"}'"


def dagster_home(tmp_path: Path) -> Path:
    """An empty Dagster instance with the project's dagster.yaml (what scripts/dev.py sets up)."""
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


def test_rewind_checks_since_and_without_an_instance_prints_the_command_changing_nothing(tmp_path: Path) -> None:
    env = {"WELL_DATA_DIR": str(tmp_path), "DAGSTER_HOME": None}
    runner = CliRunner()
    nothing = runner.invoke(cli, ["qonto", "rewind", "2026-03-01"], env=env)
    assert nothing.exit_code != 0 and "no Well database" in nothing.output

    storage = DuckDBStorage(tmp_path / "well.duckdb", tmp_path / "attachments")
    advance_after_sync(storage.invoices, sync_started=SYNCED, server_offset_s=None, listing_complete=True)
    unset = runner.invoke(cli, ["qonto", "rewind", "2026-03-01"], env=env)
    assert unset.exit_code == 1, unset.output
    assert "Nothing changed (DAGSTER_HOME is not set" in unset.output
    assert f"DAGSTER_HOME=<Dagster's instance directory> {COMMAND}" in unset.output
    assert "from 2026-03-14T09:00:00+00:00 to 2026-03-01T00:00:00+00:00" in unset.output
    printed = runner.invoke(cli, ["qonto", "rewind", "2026-03-01", "--print-only"],
                            env={**env, "DAGSTER_HOME": str(tmp_path / "dagster")})
    assert printed.exit_code == 0, printed.output
    assert f"DAGSTER_HOME={tmp_path / 'dagster'} {COMMAND}" in printed.output and "Nothing changed" in printed.output
    assert last_sync(storage.invoices) == SYNCED  # neither moved DuckDB's copy

    forward = runner.invoke(cli, ["qonto", "rewind", "2026-03-20T00:00:00Z"], env=env)
    assert forward.exit_code == 1 and "after the current marker" in forward.output and "Traceback" not in forward.output
    naive = runner.invoke(cli, ["qonto", "rewind", "2026-02-10T08:00:00"], env=env)
    assert naive.exit_code == 1 and "has no timezone" in naive.output
    garbage = runner.invoke(cli, ["qonto", "rewind", "last tuesday"], env=env)
    assert garbage.exit_code == 2 and "is not a date" in garbage.output
    assert last_sync(storage.invoices) == SYNCED
    assert "last successful sync: 2026-03-14T09:00:00+00:00" in runner.invoke(cli, ["qonto", "status"], env=env).output


def test_rewind_refuses_an_instance_where_the_sensor_never_ran(tmp_path: Path) -> None:
    """Dagster's `--set` would create a stopped sensor there (silently ending syncs): refused, nothing changed."""
    home = dagster_home(tmp_path)
    storage = DuckDBStorage(tmp_path / "well.duckdb", tmp_path / "attachments")
    advance_after_sync(storage.invoices, sync_started=SYNCED, server_offset_s=None, listing_complete=True)
    refused = CliRunner().invoke(cli, ["qonto", "rewind", "2026-03-01"],
                                 env={"WELL_DATA_DIR": str(tmp_path), "DAGSTER_HOME": str(home)})
    assert refused.exit_code == 1, refused.output
    assert "has no state in the Dagster instance" in refused.output and "Nothing was changed" in refused.output
    assert last_sync(storage.invoices) == SYNCED
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert not instance.all_instigator_state()  # no stopped sensor was created


def test_rewind_moves_the_sensors_marker_and_the_re_import_duplicates_nothing(
        delivery_env: WellEnv, inbox: MelioInbox, tmp_path: Path) -> None:  # noqa: F811 (the fixtures imported above)
    env = delivery_env
    home = dagster_home(tmp_path)
    cli_env = {"WELL_DATA_DIR": str(env.settings.data_dir), "DAGSTER_HOME": str(home)}
    env.write(clean_invoices(3))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        declare_sensor(instance)  # the daemon's first evaluation
        load_melio(env, instance)
        assert launch(env.ws, instance, only_request(daemon_tick(env.ws, instance))).success
        assert "No change since" in skip_text(daemon_tick(env.ws, instance))
        marker = marker_of(stored_cursor(instance))
        assert marker is not None and len(inbox.messages()) == 3

        since = (DAY0 - timedelta(days=1)).date().isoformat()
        moved = CliRunner().invoke(cli, ["qonto", "rewind", since], env=cli_env)
        assert moved.exit_code == 0, moved.output
        to = datetime.fromisoformat(f"{since}T00:00:00+00:00")
        assert f"moved back from {marker.isoformat()} to {to.isoformat()}" in moved.output
        assert stored_cursor(instance) == rewind_cursor(to)  # the live marker, in the instance
        storage = DuckDBStorage(env.settings.duckdb_path, env.settings.attachments_dir)
        assert last_sync(storage.invoices) == to  # and DuckDB's copy

        # The next tick asks for a sync of everything Qonto updated since the rewound marker minus the overlap.
        request = only_request(daemon_tick(env.ws, instance))
        overlap = timedelta(minutes=env.resources["qonto"].sync_overlap_minutes)
        assert window(request)["updated_from"] == (to - overlap).isoformat()
        assert request.run_key.startswith(f"qonto-sync:{to.isoformat()}:")
        assert launch(env.ws, instance, request).success
        assert "No change since" in skip_text(daemon_tick(env.ws, instance))
        after = marker_of(stored_cursor(instance))
        assert after is not None and after > marker

    assert len(inbox.messages()) == 3  # nothing e-mailed twice
    with duckdb.connect(str(env.settings.duckdb_path), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT id) FROM qonto_supplier_invoices").fetchone() == (3, 3)
        assert con.execute("SELECT count(*), count(DISTINCT qonto_id) FROM outbox").fetchone() == (3, 3)
