"""Move the sync sensor's cursor (the live sync marker) through Dagster's own CLI: `dagster sensor cursor --set`.

Why Dagster's CLI: the cursor belongs to the Dagster instance ($DAGSTER_HOME), next to the sensor's ticks, and
Dagster's command is the supported way to set it outside the UI's "Edit cursor". The `well` CLI itself never
imports Well's Dagster definitions: the command runs with this Python (`python -m dagster`) in its own process.

Dagster keeps a sensor's state per code location *name*. So the instance is read first (Dagster's instance API, no
code loaded): the sensor's stored states say under which location name the daemon runs it, and the command loads
Well's definitions under exactly that name (a one-entry workspace file), whatever the current directory. That read
is also a guard Dagster's command lacks: where the sensor has no state yet (the daemon never evaluated it, or
DAGSTER_HOME points at another instance), `--set` would create a *stopped* sensor, silently ending syncs; such a
rewind is refused. Afterwards the instance is read again: the sensor's state must hold the new cursor.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from well_pipeline.services.sync_cursor import sensor_name

DEFINITIONS_MODULE = "well_pipeline.definitions"  # what workspace.yaml and pyproject's [tool.dg] load
DAGSTER_TIMEOUT_S = 300  # loading the code location in a fresh process takes seconds; a hung one is cut


class SensorCursorError(RuntimeError):
    """The sensor's cursor could not be set; the message says why and what to do. Nothing was changed."""


@dataclass(frozen=True)
class SensorState:
    """The sensor's stored state under one code location name."""

    location: str
    selector_id: str
    cursor: str | None


def dagster_home() -> Path | None:
    """The Dagster instance the command writes to ($DAGSTER_HOME), None when unset."""
    value = os.environ.get("DAGSTER_HOME", "").strip()
    return Path(value) if value else None


def set_args(cursor: str, workspace: str) -> list[str]:
    """`dagster` arguments that set workspace `workspace`'s sync sensor's cursor to `cursor`."""
    return ["sensor", "cursor", sensor_name(workspace), "--set", cursor]


def shell_command(cursor: str, home: Path | None, workspace: str) -> str:
    """The command a person runs from the project directory to set the cursor, quoted for a POSIX shell."""
    prefix = f"DAGSTER_HOME={shlex.quote(str(home))} " if home else "DAGSTER_HOME=<Dagster's instance directory> "
    return prefix + shlex.join(["dagster", *set_args(cursor, workspace)])


def sensor_states(home: Path, workspace: str) -> list[SensorState]:
    """Workspace `workspace`'s sync sensor's stored states in the instance at `home` (none when the daemon never
    evaluated it there)."""
    from dagster import DagsterInstance  # the CLI's only Dagster import: lazy, for this command

    with DagsterInstance.from_config(str(home)) as instance:
        return [SensorState(state.selector.location_name, state.selector_id,
                            getattr(state.instigator_data, "cursor", None))
                for state in instance.all_instigator_state()
                if state.instigator_name == sensor_name(workspace) and state.instigator_type.value == "SENSOR"]


def set_cursor(cursor: str, home: Path, *, cwd: Path, workspace: str) -> list[str]:
    """Set the sensor's cursor to `cursor` in the instance at `home`; returns the code location names it was set
    under. Raises `SensorCursorError` when the sensor has no state there, Dagster's command fails (its last lines
    are quoted) or the state does not hold the cursor afterwards."""
    before = sensor_states(home, workspace)
    if not before:
        raise SensorCursorError(
            f"the sensor {sensor_name(workspace)} has no state in the Dagster instance at {home} (DAGSTER_HOME): the "
            "daemon never evaluated it there. Check that DAGSTER_HOME is the instance Well's daemon uses, or let the "
            "daemon run once; setting the cursor now would create a stopped sensor. Nothing was changed.")
    locations = sorted({state.location for state in before})
    for location in locations:
        _run_dagster(cursor, home, location, cwd, workspace)
    after = {state.selector_id: state.cursor for state in sensor_states(home, workspace)}
    if any(after.get(state.selector_id) != cursor for state in before):
        raise SensorCursorError(f"`dagster sensor cursor` ended without error, but the sensor's state in {home} does "
                                "not hold the new cursor; check it on the sensor's page")
    return locations


def _run_dagster(cursor: str, home: Path, location: str, cwd: Path, workspace_id: str) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    with tempfile.TemporaryDirectory(prefix="well-rewind-") as folder:
        workspace = Path(folder) / "workspace.yaml"
        # JSON is YAML: one code location, Well's definitions under the name the daemon runs them.
        workspace.write_text(json.dumps({"load_from": [{"python_module": {
            "module_name": DEFINITIONS_MODULE, "location_name": location, "working_directory": str(cwd)}}]}))
        try:
            done = subprocess.run([sys.executable, "-m", "dagster", *set_args(cursor, workspace_id), "-w",
                                   str(workspace)],
                                  cwd=cwd, env=env, capture_output=True, text=True, timeout=DAGSTER_TIMEOUT_S,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise SensorCursorError(f"`dagster sensor cursor` (code location {location!r}) did not finish within "
                                    f"{DAGSTER_TIMEOUT_S} s; the cursor was not set") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise SensorCursorError(f"`dagster sensor cursor` (code location {location!r}) failed with exit "
                                f"{done.returncode}; the cursor was not set. Dagster said:\n{tail}")
