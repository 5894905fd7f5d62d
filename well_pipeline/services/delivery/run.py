"""One delivery run (`deliver_days`) and the days it covers (`days_to_deliver`); the order of work is in the
package docstring (`services/delivery/__init__.py`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import date

from well_pipeline.adapters.storage import OutboxStore, Storage
from well_pipeline.core.delivery.quota import DAY, SendQuota, SendWindow
from well_pipeline.services.delivery.planning import plan_batch
from well_pipeline.services.delivery.report import Clock, DeliveryReport, Log, utc_clock
from well_pipeline.services.delivery.sending import DeliveryContext, MailerFactory, Sender
from well_pipeline.services.progress import DEFAULT_PACE, Pace
from well_pipeline.settings_rules import check_melio_inbox

UNLIMITED = SendQuota()


def days_to_deliver(outbox: OutboxStore, days: Sequence[date], *, with_pending: bool) -> list[date]:
    """`days`, plus (`with_pending`: an incremental sync) every earlier day still holding something to send, so
    a quota pause or a temporary failure is picked up by the next sync whatever day it concerns."""
    if not with_pending:
        return list(days)
    return sorted(set(days) | set(outbox.pending_days()))


def deliver_days(
    storage: Storage,
    days: Sequence[date],
    mailer_factory: MailerFactory,
    *,
    to_address: str,
    from_address: str,
    allow_any_domain: bool = False,
    quota: SendQuota = UNLIMITED,
    clock: Clock = utc_clock,
    sleep: Callable[[float], None] = time.sleep,
    log: Log = lambda message: None,
    pace: Pace = DEFAULT_PACE,
) -> DeliveryReport:
    """Deliver the released records of `days` (see the package docstring). `quota` holds the relay's limits
    (settings `smtp_max_per_minute`, `smtp_max_per_day`); `clock` and `sleep` pace them. Progress lines of the
    e-mails (done/planned, outcomes, time left: services/progress.py) go to `log` at `pace`."""
    # Pre-flight (issue 7), before the outbox or the server is touched: the user's relay accepts any recipient,
    # so a mistyped inbox would be recorded as sent and never become a bill. Raises SettingsError.
    check_melio_inbox(to_address, allow_any_domain=allow_any_domain)
    started = time.monotonic()
    report = DeliveryReport(daily_quota=quota.per_day)
    batch = plan_batch(storage.outbox, storage.melio, storage.documents, days, report, log, since=clock() - DAY)
    window = SendWindow(quota, batch.handed_over)
    report.remaining = len(batch.to_send)
    context = DeliveryContext(storage.outbox, storage.documents, to_address=to_address, from_address=from_address,
                              clock=clock, sleep=sleep, log=log, pace=pace)
    try:
        if batch.to_send:
            Sender(context, batch, window, report).run(mailer_factory)
    finally:
        now = clock()
        report.sent_today = window.sent_last_day(now)
        report.quota_resets_at = window.day_resets_at(now)
        report.seconds = time.monotonic() - started
        log(f"Delivery done in {report.seconds:.1f} s: sent {report.sent} (re-sent {report.resent}), already "
            f"delivered {report.already_delivered}, held {sum(report.held.values())}, outcomes "
            f"{dict(report.outcomes)}"
            + (f", {report.claimed_elsewhere} claimed by another run" if report.claimed_elsewhere else "")
            + f"; {report.remaining} left for the next run, {report.sent_today} e-mails "
            f"sent in the last 24 h" + (f" (daily quota {quota.per_day})" if quota.per_day else ""))
    return report
