"""Drive a workspace's sync sensor the way Dagster's daemon does, for tests of the sync sensor, the rewind and the
FAQ. Each helper takes the workspace's definitions (`WorkspaceBundle`, support/workspace_defs.py).

- `tick`: one evaluation with a given cursor (`build_sensor_context` with the instance; the sensor holds its
  workspace's resources itself);
- `launch`: what the daemon does with a request: a run of its job with the request's run config, tags and run key;
- `declare_sensor` / `daemon_tick`: the sensor's state kept in the instance, as the daemon keeps it (its first
  evaluation stores a "declared in code" state; each tick reads the cursor from it and stores the new one), so
  Dagster's own `dagster sensor cursor` (what `well qonto rewind` runs) meets the state the daemon would have.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.remote_origin import (
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteInstigatorOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    SensorInstigatorData,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from well_pipeline.defs.workspace.factory import WorkspaceBundle
from well_pipeline.services.sync_cursor import SyncCursor, sensor_name
from well_pipeline_tests.support.qonto_records import make_invoice
from well_pipeline_tests.support.workspace_defs import MAIN, QONTO_SUPPLIER_INVOICES

ROOT = Path(__file__).resolve().parents[2]
SENSOR_NAME = MAIN.sync_sensor  # the default workspace's
RUN_KEY_TAG = "dagster/run_key"
LOCATION = "well_pipeline"  # pyproject.toml's [tool.dg] code_location_name, workspace.yaml's location_name


# -- one evaluation, one run -----------------------------------------------------------------------------------
def tick(bundle: WorkspaceBundle, instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    """One evaluation; a bare SkipReason (the sensor leaves the cursor as it was) comes back as a SensorResult."""
    result = bundle.sync_sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
    if isinstance(result, dg.SkipReason):
        return dg.SensorResult(skip_reason=result, cursor=cursor)
    assert isinstance(result, dg.SensorResult)
    return result


def launch(bundle: WorkspaceBundle, instance: dg.DagsterInstance, request: dg.RunRequest
           ) -> dg.ExecuteInProcessResult:
    """A run of the request's job with its run config, its tags and its run key (as the daemon tags it)."""
    jobs = {job.name: job for job in (bundle.sync_job, bundle.deliver_job)}
    return jobs[request.job_name].execute_in_process(
        run_config=request.run_config, instance=instance,
        tags={**request.tags, RUN_KEY_TAG: request.run_key}, raise_on_error=False)


def skip_text(result: dg.SensorResult) -> str:
    """The skip reason of a tick that requested nothing."""
    assert not result.run_requests, result.run_requests
    assert result.skip_reason is not None and result.skip_reason.skip_message
    return result.skip_reason.skip_message


def only_request(result: dg.SensorResult) -> dg.RunRequest:
    """The one run request of a tick, which has a run key."""
    assert result.skip_reason is None and len(result.run_requests) == 1, result
    (request,) = result.run_requests
    assert request.run_key
    return request


def window(request: dg.RunRequest) -> dict[str, Any]:
    """The Qonto window of a sync job request: {"updated_from": ..., "updated_to": ...} (its one op's config)."""
    (op,) = request.run_config["ops"].values()  # type: ignore[union-attr]
    return op["config"]


def marker_of(cursor: str | None) -> datetime | None:
    return SyncCursor.parse(cursor).marker


def reported_markers(instance: dg.DagsterInstance, run_id: str, key: dg.AssetKey = QONTO_SUPPLIER_INVOICES
                     ) -> list[datetime]:
    """The markers a run reported (its `sync_marker` observations of `key`, default main's invoices)."""
    records = instance.fetch_observations(key, limit=1000).records
    return [datetime.fromisoformat(str(r.asset_observation.metadata["sync_marker"].value))
            for r in records if r.run_id == run_id and "sync_marker" in r.asset_observation.metadata]


def fresh_invoice(invoice_id: str, *, supplier_name: str = "Papeterie Dupont SARL", iban: str | None = None) -> dict:
    """A record Qonto received a minute ago (created and updated after any marker set before the call)."""
    now = datetime.now(UTC).replace(microsecond=0)
    return make_invoice(invoice_id=invoice_id, attachment_id=f"att-{invoice_id}", created_at=now - timedelta(minutes=2),
                        updated_at=now - timedelta(minutes=1), invoice_number=f"N-{invoice_id}",
                        status="awaiting_payment", supplier_name=supplier_name, iban=iban)


# -- the sensor's state in the instance, as the daemon keeps it ---------------------------------------------------
def declare_sensor(instance: dg.DagsterInstance, name: str = SENSOR_NAME) -> None:
    """The state the daemon stores at its first evaluation of a sensor declared running in code (default: the
    default workspace's sync sensor), under the code location name a bare `dagster dev` / `dg dev` uses in the
    project directory."""
    origin = RemoteInstigatorOrigin(
        RemoteRepositoryOrigin(ManagedGrpcPythonEnvCodeLocationOrigin(
            LoadableTargetOrigin(module_name="well_pipeline.definitions", working_directory=str(ROOT)),
            location_name=LOCATION), "__repository__"),
        name)
    instance.add_instigator_state(InstigatorState(origin, InstigatorType.SENSOR, InstigatorStatus.DECLARED_IN_CODE,
                                                  SensorInstigatorData(min_interval=900)))


def sensor_state(instance: dg.DagsterInstance, name: str = SENSOR_NAME) -> InstigatorState:
    (state,) = [s for s in instance.all_instigator_state() if s.instigator_name == name]
    return state


def stored_cursor(instance: dg.DagsterInstance, name: str = SENSOR_NAME) -> str | None:
    return sensor_state(instance, name).instigator_data.cursor  # type: ignore[union-attr]


def daemon_tick(bundle: WorkspaceBundle, instance: dg.DagsterInstance) -> dg.SensorResult:
    """A tick with the cursor stored in the instance; the cursor it returns is stored back (as the daemon does)."""
    state = sensor_state(instance, sensor_name(bundle.names.ws))
    data = state.instigator_data
    assert isinstance(data, SensorInstigatorData)
    result = tick(bundle, instance, data.cursor)
    if result.cursor is not None and result.cursor != data.cursor:
        instance.update_instigator_state(state.with_data(SensorInstigatorData(
            last_tick_timestamp=data.last_tick_timestamp, min_interval=data.min_interval, cursor=result.cursor,
            sensor_type=data.sensor_type)))
    return result
