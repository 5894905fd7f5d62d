"""`delivered_bills`: auto-linked and approved records e-mailed to the Melio inbox, each exactly once.

A run paused by the relay's quota succeeds and says what is left (`remaining`, `sent_today`, `quota_resets_at`);
the rest goes out in the next runs (incremental syncs pick up every pending day). A configuration error or an
unreachable relay fails the run with the setting to check.
"""

import dagster as dg

from well_pipeline.adapters.storage import Database
from well_pipeline.defs.matching.assets import scored_matches
from well_pipeline.defs.qonto.assets import INCREMENTAL, SYNC_TAG
from well_pipeline.defs.qonto.partitions import partition_days, qonto_daily_partitions
from well_pipeline.defs.resources import MelioDeliveryResource, WellStorageResource
from well_pipeline.services.delivery import deliver_days


def pending_days(database: Database) -> list:
    """Days holding a released record not delivered in its current version, failed temporarily, or approved
    for a re-send (records a quota pause carried over have no outbox row yet: they are included)."""
    with database.connect() as con:
        return [r[0] for r in con.execute(
            """
            SELECT DISTINCT s.created_date FROM scored_matches s
            JOIN qonto_supplier_invoices i ON i.id = s.qonto_id
            LEFT JOIN outbox o ON o.qonto_id = s.qonto_id
            WHERE s.decision IN ('auto_link', 'manual_link')
              AND (o.qonto_id IS NULL OR o.state = 'temporary_failure' OR o.record_version < i.version
                   OR EXISTS (SELECT 1 FROM resend_approvals r WHERE r.qonto_id = s.qonto_id
                              AND r.record_version = i.version AND r.used_at IS NULL))
            ORDER BY 1
            """).fetchall()]


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
    database = storage.database()
    days = partition_days(context)
    if context.run.tags.get(SYNC_TAG) == INCREMENTAL:
        days = sorted(set(days) | set(pending_days(database)))
    report = deliver_days(database, storage.attachment_store(), days, melio_delivery.mailer,
                          to_address=to_address, from_address=from_address,
                          allow_any_domain=melio_delivery.allow_any_domain, quota=melio_delivery.quota(),
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
    with storage.database().connect() as con:
        rows = con.execute(
            """
            SELECT qonto_id, count(*) FROM delivery_attempts
            WHERE outcome IN ('sent', 'unconfirmed') AND NOT resend
            GROUP BY qonto_id HAVING count(*) > 1
            """).fetchall()
        sent = con.execute("SELECT count(*) FROM outbox WHERE state = 'sent'").fetchone()[0]
    return dg.AssetCheckResult(passed=not rows, metadata={
        "records_sent": sent, "records_with_two_sends": len(rows),
        "examples": ", ".join(q for q, _ in rows[:5]) or "none"})


delivery_checks = [no_record_sent_twice]
