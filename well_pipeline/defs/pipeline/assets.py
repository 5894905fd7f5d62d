"""`invoice_pipeline`: the three partitioned assets (`qonto_supplier_invoices` → `scored_matches` →
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
from well_pipeline.defs.qonto.assets import QONTO_SUPPLIER_INVOICES, qonto_supplier_invoices_spec
from well_pipeline.defs.qonto.partitions import qonto_daily_partitions
from well_pipeline.defs.resources import MelioDeliveryResource, QontoResource, ScoringResource, WellStorageResource
from well_pipeline.services.pipeline import RunScope

_DELIVERED = delivered_bills_spec().key
_SCORED = scored_matches_spec().key


@dg.multi_asset(
    name="invoice_pipeline",
    specs=[qonto_supplier_invoices_spec(), scored_matches_spec(), delivered_bills_spec()],
    # No `check_specs` here: the checks are declared by `pipeline_checks` (defs/pipeline/checks.py) and this step
    # logs their evaluations. Declared on a partitioned multi-asset, a range run plans one check row per partition
    # per check (7 × 1,097 rows, about 17 MB, for a 3-year backfill) that no evaluation ever settles.
    partitions_def=qonto_daily_partitions,
    # One run (one DuckDB writer, one Qonto listing) for a whole range.
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=True,
    pool="duckdb",
    description="Ingest from Qonto, score against Melio and deliver to the Melio inbox the chosen days, with the "
                "checks of each stage, in one step.",
)
def invoice_pipeline(context: dg.AssetExecutionContext, qonto: QontoResource, storage: WellStorageResource,
                     scoring: ScoringResource, melio_delivery: MelioDeliveryResource) -> Iterator[dg.Output]:
    window = context.partition_time_window
    first, end = window.start.date(), window.end.date()
    days = [first + timedelta(days=n) for n in range((end - first).days)]
    keys = context.partition_keys
    whole = (keys[0] == qonto_daily_partitions.get_first_partition_key()
             and keys[-1] == qonto_daily_partitions.get_last_partition_key())
    selected = context.selected_asset_keys
    selection = Selection(ingest=QONTO_SUPPLIER_INVOICES in selected, score=_SCORED in selected,
                          deliver=_DELIVERED in selected)
    step = PipelineStep(context, RunScope.partition_range(days, whole_history=whole), selection,
                        Collaborators(qonto, storage, scoring, melio_delivery), partitions=qonto_daily_partitions)
    step.run()
    yield from ()  # no output: each day the step wrote was reported as its own materialisation
