"""Well's code location: everything under `well_pipeline/defs/`, loaded the dg way, plus the resources.

`load_from_defs_folder` imports every module below `defs/` and collects the assets, checks, jobs and sensors it
finds at module scope, so a new asset needs no wiring here. `defs` is a `@dg.definitions` function: importing this
module reads no setting; the resources are built from Well's settings when Dagster (or a test) loads the location.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

import dagster as dg

from well_pipeline.defs.resources import build_resources

# The dg project settings as they ship inside the package: a non-editable install (`pip install .`, an image) has
# no pyproject.toml above the code, and `load_from_defs_folder` reads `root_module` and the location name from the
# nearest dg.toml/pyproject.toml. A subfolder, so that `dg` run from inside the package still finds the checkout's
# pyproject.toml. `well_pipeline_tests/test_defs.py` keeps it equal to pyproject.toml's [tool.dg].
DG_PROJECT_DIR = Path(__file__).parent / "dg_project"

T = TypeVar("T")


def each_once(objects: Iterable[T] | None) -> list[T]:
    """`objects` without repeats, first seen first.

    The loader collects per module, and a module that imports another's asset (to depend on it or select it in a
    job) exposes that same object at its own module scope: keep one of each so every definition is registered once.
    Two *different* objects with one key are still Dagster's error, as they should be.
    """
    return list({id(item): item for item in objects or ()}.values())


@dg.definitions
def defs() -> dg.Definitions:
    """Every definition under `well_pipeline/defs/`, each once, with the resources built from the settings."""
    loaded = dg.load_from_defs_folder(path_within_project=DG_PROJECT_DIR)
    return dg.Definitions(
        assets=each_once(loaded.assets),
        asset_checks=each_once(loaded.asset_checks),
        jobs=each_once(loaded.jobs),
        schedules=each_once(loaded.schedules),
        sensors=each_once(loaded.sensors),
        resources={**(loaded.resources or {}), **build_resources()},
        executor=loaded.executor,
        loggers=loaded.loggers,
        metadata=loaded.metadata,
        component_tree=loaded.component_tree,
    )
