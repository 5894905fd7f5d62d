"""`scored_matches` (which Melio vendor each invoice belongs to, and whether it is safe to send) and
`review_queue` (what people must settle), both in DuckDB."""

from datetime import UTC, datetime

import dagster as dg

from well_pipeline.core.scoring.display import WAITING_SECTIONS, Section, showing
from well_pipeline.defs.matching.queue_table import queue_table
from well_pipeline.defs.melio.assets import melio_ledger, melio_vendor_directory
from well_pipeline.defs.qonto.assets import INCREMENTAL, SYNC_TAG, qonto_supplier_invoices
from well_pipeline.defs.qonto.partitions import partition_days, qonto_daily_partitions
from well_pipeline.defs.resources import ScoringResource, WellStorageResource
from well_pipeline.services.scoring import score_dates, stale_dates

QUEUE_PREVIEW = 25      # rows of the queue shown on each scored_matches materialisation
QUEUE_TABLE_ROWS = 200  # rows per table on review_queue (the counts cover the whole queue)


@dg.asset(
    partitions_def=qonto_daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[qonto_supplier_invoices, melio_vendor_directory, melio_ledger],
    pool="duckdb",
    group_name="matching",
    kinds={"duckdb", "python"},
    owners=["team:finance-ops"],
    metadata={"table": "scored_matches", "partition_expr": "created_date"},
)
def scored_matches(context: dg.AssetExecutionContext, scoring: ScoringResource,
                   storage: WellStorageResource) -> dg.MaterializeResult:
    """One decision per Qonto invoice: auto_link, review, refused, already_in_melio or manual_link, with reasons."""
    policy = scoring.policy()
    store = storage.storage()
    days = partition_days(context)
    if context.run.tags.get(SYNC_TAG) == INCREMENTAL:
        # A sync also updates invoices created on other days: rescore every day holding a new or changed one.
        days = sorted(set(days) | set(stale_dates(store)))
    report = score_dates(store, days, policy, log=context.log.info)
    metadata = {
        "invoices": dg.MetadataValue.int(report.invoices),
        **{f"decision_{name}": report.decisions.get(name, 0)
           for name in ("auto_link", "review", "refused", "already_in_melio", "manual_link")},
        "people_decisions_applied": report.overrides_applied,
        "hard_rules": dg.MetadataValue.json(dict(report.hard_rules.most_common())),
        "auto_link_threshold": policy.auto_link_threshold,
        "review_threshold": policy.review_threshold,
        "melio_vendors": report.vendors,
        "melio_ledger_bills": report.ledger_bills,
        "seconds": round(report.seconds, 2),
        "days_scored": len(days),
    }
    # The scored days' share of the queue, read back and shown exactly like `review_queue` (frauds first).
    preview = store.matches.queue(limit=QUEUE_PREVIEW, days=days)
    if preview.entries:
        shown = preview.entries[:QUEUE_PREVIEW]
        metadata["queue_preview"] = queue_table(shown)
        metadata["queue_preview_showing"] = (
            f"{showing(len(shown), preview.total(*Section))} queued records of the scored days "
            f"({preview.total(Section.POSSIBLE_FRAUD)} possible payment fraud); all of them: `well review list --all`")
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(deps=[scored_matches], pool="duckdb", group_name="matching", kinds={"duckdb"},
          owners=["team:finance-ops"], metadata={"table": "scored_matches (review, refused)"})
def review_queue(storage: WellStorageResource) -> dg.MaterializeResult:
    """Invoices waiting for a person (possible payment frauds first) and refused ones: settle them with
    `well review`. The tables show the first rows of each; the counts are the whole queue."""
    computed_at = datetime.now(UTC)
    page = storage.storage().matches.queue(limit=QUEUE_TABLE_ROWS)
    waiting = [e for e in page.entries if e.section in WAITING_SECTIONS][:QUEUE_TABLE_ROWS]
    refused = page.section(Section.REFUSED)
    summary = (
        f"Computed {computed_at:%Y-%m-%d %H:%M:%S} UTC.\n\n"
        f"**Waiting for review**: {showing(len(waiting), page.waiting)}: "
        f"{page.total(Section.POSSIBLE_FRAUD):,} possible payment fraud (listed first), "
        f"{page.total(Section.REVIEW):,} to review, "
        f"{page.total(Section.PAID_IN_QONTO):,} already paid or being paid in Qonto (listed last).\n\n"
        f"**Refused**: {showing(len(refused), page.total(Section.REFUSED))}.\n\n"
        "Settle with `well review list [--all] | show ID | approve ID | pin ID --vendor VENDOR | "
        "refuse ID --reason TEXT`."
    )
    return dg.MaterializeResult(metadata={
        "waiting_for_review": page.waiting,
        "possible_fraud": page.total(Section.POSSIBLE_FRAUD),
        "already_paid_in_qonto": page.total(Section.PAID_IN_QONTO),
        "refused": page.total(Section.REFUSED),
        "computed_at": dg.MetadataValue.timestamp(computed_at),
        "summary": dg.MetadataValue.md(summary),
        "queue": queue_table(waiting),
        "refused_queue": queue_table(refused),
        "how_to_settle": "well review list | show ID | approve ID | pin ID --vendor VENDOR | refuse ID --reason TEXT",
    })
