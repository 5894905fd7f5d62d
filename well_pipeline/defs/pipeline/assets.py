"""`invoice_pipeline__<ws>`: a workspace's three partitioned assets (`qonto_supplier_invoices` → `scored_matches` →
`delivered_bills`) and their checks as one multi-asset step, one partition per UTC creation day.

What the UI materialises: a partition, or a range in a single run (Materialize → partitions → launch); each
asset can be chosen alone (`can_subset`). A range lists Qonto by creation date over its days, scores and delivers
those days. The step yields no output: it reports one materialisation per day holding rows, with that day's own
counts (why: defs/pipeline/stages.py), so empty days stay missing. A range covering every partition sets the sync
marker when it succeeds; a partial range does not (a record created before its first day may have changed since
the marker, and the range never listed it).
"""


from collections.abc import Iterator
from datetime import timedelta

import dagster as dg

from well_pipeline.defs.delivery.assets import delivered_bills_spec
from well_pipeline.defs.matching.assets import scored_matches_spec
from well_pipeline.defs.pipeline.stages import Collaborators, PipelineStep, Selection
from well_pipeline.defs.qonto.assets import qonto_supplier_invoices_spec
from well_pipeline.defs.workspace.names import WorkspaceNames
from well_pipeline.defs.workspace.resources import WorkspaceResources
from well_pipeline.services.pipeline import RunScope


def build_invoice_pipeline(names: WorkspaceNames, partitions: dg.DailyPartitionsDefinition,
                           res: WorkspaceResources) -> dg.AssetsDefinition:
    """The workspace's pipeline step over its own partitions, with its resources (scoped keys)."""
    store = res.storage.storage_backend  # the assets' kind: what the UI shows is where the rows are

    @dg.multi_asset(
        name=names.pipeline,
        specs=[qonto_supplier_invoices_spec(names, store), scored_matches_spec(names, store),
               delivered_bills_spec(names, store)],
        # No `check_specs` here: the checks are declared by `pipeline_checks__<ws>` (defs/pipeline/checks.py) and
        # this step logs their evaluations. Declared on a partitioned multi-asset, a range run plans one check row
        # per partition per check (7 × 1,097 rows, about 17 MB, for a 3-year backfill) that nothing settles.
        partitions_def=partitions,
        # One run (one DuckDB writer, one Qonto listing) for a whole range.
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=True,
        pool=names.pool,
        resource_defs=res.scoped(names, "qonto", "storage", "scoring", "melio_delivery"),
        description="Ingest from Qonto, score against Melio and deliver to the Melio inbox the chosen days, with the "
                    "checks of each stage, in one step.",
    )
    def invoice_pipeline(context: dg.AssetExecutionContext) -> Iterator[dg.Output]:
        window = context.partition_time_window
        first, end = window.start.date(), window.end.date()
        days = [first + timedelta(days=n) for n in range((end - first).days)]
        keys = context.partition_keys
        whole = (keys[0] == partitions.get_first_partition_key()
                 and keys[-1] == partitions.get_last_partition_key())
        selected = context.selected_asset_keys
        selection = Selection(ingest=names.invoices in selected, score=names.scored in selected,
                              deliver=names.delivered in selected)
        step = PipelineStep(context, RunScope.partition_range(days, whole_history=whole), selection,
                            Collaborators.of(context, names), partitions=partitions, names=names)
        step.run()
        yield from ()  # no output: each day the step wrote was reported as its own materialisation

    return invoice_pipeline
