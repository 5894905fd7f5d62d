"""`delivered_bills`: auto-linked and approved records e-mailed to the Melio inbox, each exactly once.

A run paused by the relay's quota succeeds and says what is left (`remaining`, `sent_today`, `quota_resets_at`);
the rest goes out in the next runs (incremental syncs pick up every pending day). A configuration error or an
unreachable relay fails the run with the setting to check.
"""

import dagster as dg

from well_pipeline.defs.matching.assets import scored_matches
from well_pipeline.defs.qonto.assets import INCREMENTAL, SYNC_TAG
from well_pipeline.defs.qonto.partitions import partition_days, qonto_daily_partitions
from well_pipeline.defs.resources import MelioDeliveryResource, WellStorageResource
from well_pipeline.services.delivery import days_to_deliver, deliver_days


@dg.asset(
    partitions_def=qonto_daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[scored_matches],
    pool="duckdb",
    group_name="delivery",
    kinds={"duckdb", "email"},
    owners=["team:finance-ops"],
    metadata={"table": "outbox", "partition_expr": "created_date"},
)
def delivered_bills(context: dg.AssetExecutionContext, melio_delivery: MelioDeliveryResource,
                    storage: WellStorageResource) -> dg.MaterializeResult:
    """Each auto_link or manual_link record e-mailed once to Melio; held ones wait with the reason."""
    to_address, from_address, warnings = melio_delivery.checked_addresses()
    for warning in warnings:
        context.log.warning(warning)
    store = storage.storage()
    # An incremental sync also picks up every earlier day still holding something to send (a quota pause).
    days = days_to_deliver(store.outbox, partition_days(context),
                           with_pending=context.run.tags.get(SYNC_TAG) == INCREMENTAL)
    report = deliver_days(store, days, melio_delivery.mailer, to_address=to_address, from_address=from_address,
                          allow_any_domain=melio_delivery.melio_inbox_allow_any_domain, quota=melio_delivery.quota(),
                          log=context.log.info)
    return dg.MaterializeResult(metadata={
        "released_records": dg.MetadataValue.int(report.candidates),
        "sent": report.sent,
        "re_sent_after_approval": report.resent,
        "already_delivered": report.already_delivered,
        "held": sum(report.held.values()),
        "held_by_reason": dg.MetadataValue.json(dict(report.held.most_common())),
        "smtp_outcomes": dg.MetadataValue.json(dict(report.outcomes)),
        "interrupted_runs_found": report.interrupted_found,
        "problems": dg.MetadataValue.md("\n".join(f"- {e}" for e in report.examples) or "none"),
        "melio_inbox": to_address,
        "seconds": round(report.seconds, 2),
        # Progress of a backlog larger than the relay's quota (a backfill spread over several days).
        "remaining": report.remaining,
        "sent_today": report.sent_today,
        "daily_quota": report.daily_quota,
        "quota_resets_at": report.quota_resets_at.strftime("%Y-%m-%d %H:%M UTC") if report.quota_resets_at else "",
        "paused": report.paused or "",
        "throttled_seconds": round(report.throttled_s, 1),
    })


@dg.asset_check(asset=delivered_bills, pool="duckdb", blocking=True,
                description="No Qonto record has two sent e-mails (apart from re-sends a person approved).")
def no_record_sent_twice(storage: WellStorageResource) -> dg.AssetCheckResult:
    audit = storage.storage().outbox.send_audit()
    return dg.AssetCheckResult(passed=not audit.sent_twice, metadata={
        "records_sent": audit.records_sent, "records_with_two_sends": len(audit.sent_twice),
        "examples": ", ".join(audit.sent_twice[:5]) or "none"})


delivery_checks = [no_record_sent_twice]
