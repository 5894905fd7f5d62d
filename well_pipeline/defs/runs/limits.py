"""The outer time bound on Well's automated runs, as Dagster's own `dagster/max_runtime` tag.

Run monitoring (dagster.yaml) fails a run carrying the tag once it has run that long, alive or not; the
failed run's slots are then freed after `free_slots_after_run_end_seconds`. It is the backstop for what the
run health sweep cannot judge (a run that never reported a pid, a pid reused by another process) and for a
hung worker; it is generous because it also ends live runs.
"""

from __future__ import annotations

from well_pipeline.settings import Settings

# Read by Dagster's run monitoring daemon (`dagster._core.storage.tags.MAX_RUNTIME_SECONDS_TAG`), in seconds.
MAX_RUNTIME_TAG = "dagster/max_runtime"


def max_runtime_tags(settings: Settings) -> dict[str, str]:
    """Tags for a job Well launches on its own: the `max_run_minutes` bound, or none when it is 0."""
    minutes = settings.max_run_minutes
    return {MAX_RUNTIME_TAG: str(minutes * 60)} if minutes else {}
