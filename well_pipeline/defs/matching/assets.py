"""`scored_matches` (which Melio vendor each invoice belongs to, and whether it is safe to send) and
`review_queue` (what people must settle), both in DuckDB.

`scored_matches` is materialised by the pipeline step (`defs/pipeline/`), one partition per creation day; this
module holds its spec, what each day's partition shows and the run's summary. `review_queue` is an asset of its
own, refreshed by the sync and "deliver approved now" jobs after every run (so it reflects decisions made since),
and materialisable on its own; it says when it was computed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, date, datetime

import dagster as dg

from well_pipeline.adapters.storage import Storage
from well_pipeline.core.scoring.display import WAITING_SECTIONS, Section, showing
from well_pipeline.core.scoring.policy import ScoringPolicy
from well_pipeline.defs.matching.queue_table import queue_table
from well_pipeline.defs.workspace.names import WorkspaceNames
from well_pipeline.defs.workspace.resources import WorkspaceResources
from well_pipeline.services.scoring import ScoringReport

DECISIONS = ("auto_link", "review", "refused", "already_in_melio", "manual_link")
QUEUE_PREVIEW = 25      # rows of the queue shown in each scoring run's summary
QUEUE_TABLE_ROWS = 200  # rows per table on review_queue (the counts cover the whole queue)
QUEUE_DIGEST = "queue_digest"


def scored_matches_spec(names: WorkspaceNames, store: str = "duckdb") -> dg.AssetSpec:
    """The workspace's asset as its pipeline multi-asset declares it."""
    return dg.AssetSpec(
        names.scored,
        description="One decision per Qonto invoice: auto_link, review, refused, already_in_melio or manual_link, "
                    "with reasons; one partition per UTC creation day.",
        deps=[names.invoices, names.vendors, names.ledger],
        group_name=names.group,
        tags=names.stage_tags("matching"),
        kinds={store, "python"},
        owners=["team:finance-ops"],
        metadata={"table": "scored_matches", "partition_expr": "created_date"},
        skippable=True,
    )


# A partition range's day without scored rows (see PipelineStep._complete_range): `scoring_day_metadata`'s keys.
EMPTY_SCORING_DAY: dict[str, int] = {"invoices": 0, **{f"decision_{name}": 0 for name in DECISIONS},
                                     "capped_by_a_hard_rule": 0}


def scoring_day_metadata(store: Storage, days: Sequence[date]) -> dict[date, dict[str, int]]:
    """What each of `days` holding scored rows shows on its partition: that day's decisions."""
    return {day: {"invoices": scored.rows, **{f"decision_{name}": scored.decisions.get(name, 0) for name in DECISIONS},
                  "capped_by_a_hard_rule": scored.capped}
            for day, scored in store.matches.day_decisions(days).items()}


def scoring_summary(store: Storage, report: ScoringReport, policy: ScoringPolicy, days: Sequence[date], *,
                    days_materialized: int) -> dict[str, dg.RawMetadataValue]:
    """The scoring run's own figures, with the scored days' share of the queue (frauds first)."""
    metadata: dict[str, dg.RawMetadataValue] = {
        "invoices": dg.MetadataValue.int(report.invoices),
        **{f"decision_{name}": report.decisions.get(name, 0) for name in DECISIONS},
        "people_decisions_applied": report.overrides_applied,
        "hard_rules": dg.MetadataValue.json(dict(report.hard_rules.most_common())),
        "auto_link_threshold": policy.auto_link_threshold,
        "review_threshold": policy.review_threshold,
        "melio_vendors": report.vendors,
        "melio_ledger_bills": report.ledger_bills,
        "seconds": round(report.seconds, 2),
        "days_scored": len(days),
        "partitions_materialized": days_materialized,
    }
    preview = store.matches.queue(limit=QUEUE_PREVIEW, days=days)
    if preview.entries:
        shown = preview.entries[:QUEUE_PREVIEW]
        metadata["queue_preview"] = queue_table(shown)
        metadata["queue_preview_showing"] = (
            f"{showing(len(shown), preview.total(*Section))} queued records of the scored days "
            f"({preview.total(Section.POSSIBLE_FRAUD)} possible payment fraud); all of them: `well review list --all`")
    return metadata


def review_queue_metadata(store: Storage) -> dict[str, dg.RawMetadataValue]:
    """The whole queue as `review_queue` shows it, and when it was computed (decisions after that are not in it)."""
    computed_at = datetime.now(UTC)
    page = store.matches.queue(limit=QUEUE_TABLE_ROWS)
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
    metadata: dict[str, dg.RawMetadataValue] = {
        "waiting_for_review": page.waiting,
        "possible_fraud": page.total(Section.POSSIBLE_FRAUD),
        "already_paid_in_qonto": page.total(Section.PAID_IN_QONTO),
        "refused": page.total(Section.REFUSED),
        "computed_at": dg.MetadataValue.timestamp(computed_at),
        "summary": dg.MetadataValue.md(summary),
        "queue": queue_table(waiting),
        "refused_queue": queue_table(refused),
        "how_to_settle": "well review list | show ID | approve ID | pin ID --vendor VENDOR | refuse ID --reason TEXT",
    }
    metadata[QUEUE_DIGEST] = queue_digest(metadata)
    return metadata


def queue_digest(metadata: dict[str, dg.RawMetadataValue]) -> str:
    """A digest of what the queue shows, without when it was computed: equal digests, same queue."""
    shown = {key: repr(value) for key, value in sorted(metadata.items())
             if key not in {"computed_at", "summary", QUEUE_DIGEST}}
    return hashlib.sha256(repr(shown).encode("utf-8")).hexdigest()[:16]


def refreshed_review_queue(store: Storage, previous: dg.AssetMaterialization | None, key: dg.AssetKey
                           ) -> dg.AssetMaterialization | None:
    """The workspace's `review_queue` (`key`) computed again, or None when it shows exactly what `previous` (its
    latest materialisation) shows. Why: the table is the largest event a run writes (about 0.2 MB); writing it on
    every 15-minute run when nothing changed would set Dagster's storage growth. Its `computed_at` then stays the
    time it was last found different, which is still what it shows."""
    metadata = review_queue_metadata(store)
    before = previous.metadata.get(QUEUE_DIGEST) if previous is not None else None
    if before is not None and before.value == metadata[QUEUE_DIGEST]:
        return None
    return dg.AssetMaterialization(key, metadata=metadata)


def build_review_queue(names: WorkspaceNames, res: WorkspaceResources) -> dg.AssetsDefinition:
    """The workspace's `review_queue` asset, reading its store."""
    storage_key = names.resource("storage")

    @dg.asset(key=names.review_queue, deps=[names.scored], pool=names.pool, group_name=names.group,
              tags=names.stage_tags("matching"), kinds={res.storage.storage_backend}, owners=["team:finance-ops"],
              metadata={"table": "scored_matches (review, refused)"},
              resource_defs=res.scoped(names, "storage"))
    def review_queue(context) -> dg.MaterializeResult:  # noqa: ANN001 - Dagster refuses a string annotation
        """Invoices waiting for a person (possible payment frauds first) and refused ones: settle them with
        `well review`. The tables show the first rows of each; the counts are the whole queue."""
        storage = getattr(context.resources, storage_key)
        return dg.MaterializeResult(metadata=review_queue_metadata(storage.storage()))

    return review_queue
