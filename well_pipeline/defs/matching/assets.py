"""`scored_matches` (which Melio vendor each invoice belongs to, and whether it is safe to send) and
`review_queue` (what people must settle), both in DuckDB."""

import dagster as dg

from well_pipeline.adapters.storage.match_repository import MatchRepository
from well_pipeline.defs.melio.assets import melio_ledger, melio_vendor_directory
from well_pipeline.defs.qonto.assets import INCREMENTAL, SYNC_TAG, qonto_supplier_invoices
from well_pipeline.defs.qonto.partitions import partition_days, qonto_daily_partitions
from well_pipeline.defs.resources import ScoringResource, WellStorageResource
from well_pipeline.services.scoring import score_dates, stale_dates

QUEUE_PREVIEW = 25


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
    database = storage.database()
    days = partition_days(context)
    if context.run.tags.get(SYNC_TAG) == INCREMENTAL:
        # A sync also updates invoices created on other days: rescore every day holding a new or changed one.
        days = sorted(set(days) | set(stale_dates(database)))
    report = score_dates(database, days, policy, log=context.log.info)
    queued = [m for m in report.matches if m.decision.value in ("review", "refused")]
    table = "\n".join(
        f"| {m.qonto_id} | {m.decision.value} | {m.score_percent} | {m.vendor_name or '—'} | "
        f"{', '.join(map(str, m.hard_rules)) or '—'} |"
        for m in sorted(queued, key=lambda m: -m.score)[:QUEUE_PREVIEW]
    )
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
    if table:
        metadata["queue_preview"] = dg.MetadataValue.md(
            "| Qonto id | decision | score | best vendor | hard rules |\n|---|---|---|---|---|\n" + table)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(deps=[scored_matches], pool="duckdb", group_name="matching", kinds={"duckdb"},
          owners=["team:finance-ops"], metadata={"table": "scored_matches (review, refused)"})
def review_queue(storage: WellStorageResource) -> dg.MaterializeResult:
    """Invoices waiting for a person (review) or refused, with ranked alternatives: settle them with `well review`."""
    with storage.database().connect() as con:
        queue = MatchRepository().queue(con)
    counts = queue["decision"].value_counts().to_dict() if len(queue) else {}
    preview = queue.head(50).astype(str)
    return dg.MaterializeResult(metadata={
        "waiting_for_review": int(counts.get("review", 0)),
        "refused": int(counts.get("refused", 0)),
        "how_to_settle": "well review list | show ID | approve ID | pin ID --vendor VENDOR | refuse ID --reason TEXT",
        "queue": dg.MetadataValue.md(preview.to_markdown(index=False) if len(preview) else "empty"),
    })
