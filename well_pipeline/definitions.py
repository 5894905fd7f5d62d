"""Well's code location: one set of definitions per workspace, built by the factory, and the shared ones.

`defs` is a `@dg.definitions` function: importing this module reads no setting and builds nothing. Each time
Dagster (a code server, a run worker, `dg check defs`) or a test loads the location, it reads the settings and the
workspace files (`well_pipeline/workspaces.py`: none → the one workspace `main`) and merges
`shared_definitions` with `build_workspace(w).definitions` for every workspace (defs/workspace/factory.py), so a
workspace added as a file appears on the next load (a reload of the code location). Nothing below `defs/` is
defined at module scope, so nothing is collected once for all workspaces.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from well_pipeline.defs.workspace.factory import build_workspace, shared_definitions
from well_pipeline.settings import load_settings
from well_pipeline.workspaces import load_workspaces

# The dg project settings as they ship inside the package, for the `dg` CLI and for a non-editable install
# (`pip install .`, an image) that has no pyproject.toml above the code. A subfolder, so that `dg` run from inside
# the package still finds the checkout's pyproject.toml. `well_pipeline_tests/test_defs.py` keeps it equal to
# pyproject.toml's [tool.dg].
DG_PROJECT_DIR = Path(__file__).parent / "dg_project"


@dg.definitions
def defs() -> dg.Definitions:
    """Every workspace's definitions and the shared ones, from the settings and workspace files read now."""
    settings = load_settings()
    return dg.Definitions.merge(shared_definitions(settings),
                                *(build_workspace(ws).definitions for ws in load_workspaces(settings)))
