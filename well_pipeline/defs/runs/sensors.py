"""`run_health_sensor`: every `dead_run_check_seconds`, fail started runs whose processes are all gone.

A sensor because it then runs wherever Well runs (`dagster dev` starts the daemon that evaluates sensors) and
its ticks show what it found. It launches nothing and touches neither Qonto nor DuckDB: it reads run records
and the event log, and writes to them only for a dead run (see `health.py` for what Dagster covers without it).
"""

import dagster as dg

from well_pipeline.defs.runs.health import sweep_started_runs


def build_run_health_sensor(interval_s: int) -> dg.SensorDefinition:
    """The one instance-wide sweep (not per workspace: it reads every run), every `interval_s` seconds (the
    deployment's `dead_run_check_seconds`)."""

    @dg.sensor(
        name="run_health_sensor",
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Fails started runs whose worker processes are all gone (kill -9, OOM, reboot) and frees their "
        "pool slot, so syncing is never blocked by a dead run. Live runs, however slow, are left alone.",
    )
    def run_health_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        report = sweep_started_runs(context.instance)
        for dead in report.failed:
            context.log.warning(dead.describe())
        return dg.SkipReason(report.describe())

    return run_health_sensor
