"""`pipeline_checks__<ws>`: the seven asset checks of a workspace's three pipeline assets, declared once,
runnable on their own.

The pipeline step (defs/pipeline/stages.py) evaluates each check right after the stage it checks and logs the
evaluation, so a failing blocking check stops what follows in that step. This definition is where Dagster learns
the checks exist (the asset's Checks tab, their history) and lets a person run them again from the UI at any time,
against the data as it is. Why not `check_specs` on the multi-asset: see defs/pipeline/assets.py.
"""

from collections.abc import Iterator

import dagster as dg

from well_pipeline.defs.pipeline.stages import PIPELINE_CHECKS
from well_pipeline.defs.workspace.names import WorkspaceNames
from well_pipeline.defs.workspace.resources import WorkspaceResources, resource_of


def build_pipeline_checks(names: WorkspaceNames, res: WorkspaceResources) -> dg.AssetChecksDefinition:
    """The workspace's checks, declared on its assets, evaluated against its store."""

    @dg.multi_asset_check(
        name=names.checks,
        specs=[check.spec(names) for check in PIPELINE_CHECKS],
        can_subset=True,
        pool=names.pool,
        resource_defs=res.scoped(names, "storage"),
        description="The checks of qonto_supplier_invoices, scored_matches and delivered_bills on the stored data.",
    )
    def pipeline_checks(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        store = resource_of(context, names, "storage").storage()
        for check in PIPELINE_CHECKS:
            if check.key(names) in context.selected_asset_check_keys:
                yield check.result(store, names)

    return pipeline_checks
