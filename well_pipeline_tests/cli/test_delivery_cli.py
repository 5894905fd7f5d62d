"""`well delivery dismiss` on a real DuckDB file: lifts a change applied in Melio by hand, refuses the rest."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from well_pipeline.adapters.storage import DuckDBStorage
from well_pipeline.cli.main import cli
from well_pipeline.core.delivery.plan import Action, HoldCode, OutboxState, Planned
from well_pipeline_tests.support.delivery_records import change_record, release_records


def well(data_dir: Path, *args: str) -> Result:
    env = {"WELL_DATA_DIR": str(data_dir), "WELL_SETTINGS_FILE": str(data_dir / "absent.toml")}
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_dismiss_lifts_a_change_made_in_melio_and_refuses_other_holds(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    storage = DuckDBStorage(data_dir / "well.duckdb", data_dir / "attachments")
    rows = release_records(storage, ("q-1", "auto_link", 0), ("q-lost", "auto_link", 30))
    for qonto_id, state in (("q-1", OutboxState.SENT), ("q-lost", OutboxState.UNCONFIRMED)):
        storage.outbox.mark_sending(rows[qonto_id], message_id=f"<{qonto_id}@x>", to_address="bills@invoicesmelio.com",
                                    dedup=None, resend=False)
        storage.outbox.complete(rows[qonto_id], message_id=f"<{qonto_id}@x>", state=state, code=250, reply="OK",
                                attempts=1, resend=False)
    change_record(storage, "q-1", 0, 2, due_date="2026-05-01")
    storage.outbox.replace_holds(["q-1", "q-lost"], [
        Planned("q-1", Action.HOLD, HoldCode.CHANGED_AFTER_DELIVERY, "changed"),
        Planned("q-lost", Action.HOLD, HoldCode.DELIVERY_UNCONFIRMED, "may be in Melio")],
        {"q-1": {"delivered_version": 1, "current_version": 2, "fields": {}}})

    missing = well(data_dir, "delivery", "dismiss", "q-1")
    assert missing.exit_code == 2 and "Missing option '--reason'" in missing.output
    refused = well(data_dir, "delivery", "dismiss", "q-lost", "--reason", "x")
    assert refused.exit_code == 1
    assert "q-lost is held DELIVERY_UNCONFIRMED, which dismiss cannot lift" in " ".join(refused.output.split())

    done = well(data_dir, "delivery", "dismiss", "q-1", "--reason", "due date moved in Melio", "--author", "ops")
    assert done.exit_code == 0, done.output
    assert done.output == "q-1: change to version 2 recorded as applied in Melio by ops; nothing was sent\n"
    held = well(data_dir, "delivery", "held").output
    assert "q-1" not in held and "q-lost  DELIVERY_UNCONFIRMED" in held
    again = well(data_dir, "delivery", "dismiss", "q-1", "--reason", "x")
    assert again.exit_code == 1 and "q-1 has no change held to dismiss (see `well delivery held`)" in again.output
