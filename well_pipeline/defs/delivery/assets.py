"""`delivered_bills`: auto-linked and approved records e-mailed to the Melio inbox, each exactly once.

Materialised by the pipeline step (`defs/pipeline/`): a partition or range from the UI delivers those days, a sync
delivers the days it scored plus every day with something left to send, "deliver approved now" delivers every
record waiting for delivery whatever its day. A day's partition holds the records delivery wrote something for
(an outbox row or a hold) and shows that day's own counts. A run paused by the relay's quota succeeds and says
what is left (`remaining`, `sent_today`, `quota_resets_at`); the next runs send the rest. A configuration error or
an unreachable relay fails the run with the setting to check.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import dagster as dg

from well_pipeline.adapters.storage import Storage
from well_pipeline.defs.pipeline.step_check import StepCheck, step_check
from well_pipeline.defs.workspace.names import DELIVERED, WorkspaceNames
from well_pipeline.services.delivery import DeliveryReport


def delivered_bills_spec(names: WorkspaceNames, store: str = "duckdb") -> dg.AssetSpec:
    """The workspace's asset as its pipeline multi-asset declares it."""
    return dg.AssetSpec(
        names.delivered,
        description="Each auto_link or manual_link record e-mailed once to Melio; held ones wait with the reason. "
                    "One partition per UTC creation day.",
        deps=[names.scored],
        group_name=names.group,
        tags=names.stage_tags("delivery"),
        kinds={store, "email"},
        owners=["team:finance-ops"],
        metadata={"table": "outbox", "partition_expr": "created_date"},
        skippable=True,
    )


# A partition range's day without delivery rows (see PipelineStep._complete_range): `delivery_day_metadata`'s keys.
EMPTY_DELIVERY_DAY: dict[str, dg.RawMetadataValue] = {
    "released_records": 0, "records": 0, "sent": 0, "held": 0, "waiting": 0,
    "outbox_states": dg.MetadataValue.json({}), "held_by_reason": dg.MetadataValue.json({})}


def delivery_day_metadata(store: Storage, days: Sequence[date]) -> dict[date, dict[str, dg.RawMetadataValue]]:
    """What each of `days` shows on its partition, for the days holding delivery rows (an outbox row or a hold):
    that day's released records, outbox states, holds and what still waits."""
    return {day: {"released_records": d.released, "records": d.recorded, "sent": d.states.get("sent", 0),
                  "held": sum(d.holds.values()), "waiting": d.waiting,
                  "outbox_states": dg.MetadataValue.json(d.states), "held_by_reason": dg.MetadataValue.json(d.holds)}
            for day, d in store.outbox.day_deliveries(days).items() if d.recorded}


def delivery_summary(report: DeliveryReport, to_address: str, *, days: int,
                     days_materialized: int) -> dict[str, dg.RawMetadataValue]:
    """The delivery run's own figures, with the progress of a backlog larger than the relay's quota."""
    return {
        "released_records": dg.MetadataValue.int(report.candidates),
        "sent": report.sent,
        "re_sent_after_approval": report.resent,
        "already_delivered": report.already_delivered,
        "held": sum(report.held.values()),
        "held_by_reason": dg.MetadataValue.json(dict(report.held.most_common())),
        "smtp_outcomes": dg.MetadataValue.json(dict(report.outcomes)),
        "interrupted_runs_found": report.interrupted_found,
        "holds_lifted": report.holds_lifted,
        "claimed_by_another_run": report.claimed_elsewhere,
        "problems": dg.MetadataValue.md("\n".join(f"- {e}" for e in report.examples) or "none"),
        "melio_inbox": to_address,
        "seconds": round(report.seconds, 2),
        "days_processed": days,
        "partitions_materialized": days_materialized,
        "remaining": report.remaining,
        "sent_today": report.sent_today,
        "daily_quota": report.daily_quota,
        "quota_resets_at": report.quota_resets_at.strftime("%Y-%m-%d %H:%M UTC") if report.quota_resets_at else "",
        "paused": report.paused or "",
        "throttled_seconds": round(report.throttled_s, 1),
    }


@step_check(DELIVERED, blocking=True,
            description="No Qonto record has two sent e-mails (apart from re-sends a person approved).")
def no_record_sent_twice(store: Storage) -> dg.AssetCheckResult:
    audit = store.outbox.send_audit()
    return dg.AssetCheckResult(passed=not audit.sent_twice, metadata={
        "records_sent": audit.records_sent, "records_with_two_sends": len(audit.sent_twice),
        "examples": ", ".join(audit.sent_twice[:5]) or "none"})


DELIVERY_CHECKS: tuple[StepCheck, ...] = (no_record_sent_twice,)
