"""Deliver released records to the Melio inbox: the use case behind `delivered_bills`.

Order of work, chosen so that nothing is ever sent twice and nothing is lost:

0. the inbox address is re-checked (exactly `@invoicesmelio.com`, unless any domain is allowed for tests): a
   wrong one fails the run before the outbox or the mail server is touched;
1. rows a dead run left `sending` become `unconfirmed` (held for a person, never re-sent on their own);
2. every candidate is planned from the outbox (core/delivery/plan.py); a document that is not what its type
   says (an executable or an HTML page served as `application/pdf`: core/delivery/document_type.py) is held,
   never sent; holds are written with their reasons;
3. the SMTP connection is opened: a TLS or login problem fails the run here, before any row is claimed;
4. for each record to send, within the relay's quotas (core/delivery/quota.py): the outbox row is committed as
   `sending`, the e-mail is handed to the server, and the answer is committed (`sent`, `temporary_failure` to
   retry next run, `permanent_failure` or `unconfirmed` held for a person).

DuckDB is held only for short steps, never while SMTP talks: one connection to read the plan, one to write the
holds, then per e-mail one to claim and one to complete. `well` commands read and write between two e-mails.

When the batch stops early, what was not attempted stays pending for the next run:
- a quota answer from the relay, or the configured daily quota reached: the claimed row is given back
  (neither failed nor unconfirmed), the run succeeds and reports what is left and when the quota frees up;
- a configuration error (TLS, STARTTLS, login; `MailerError` naming the setting to fix): the claimed row is
  given back and the run fails;
- the relay unreachable, or not answering within `smtp_deadline_s` after the retries (`DeliveryStoppedError`):
  that record is a `temporary_failure` and the run fails, instead of every other message waiting the same way.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.message import EmailMessage

from well_pipeline.adapters.melio import (
    BillEmail,
    MailerError,
    MelioBill,
    MelioVendor,
    SendResult,
    SmtpMailer,
    build_bill_email,
)
from well_pipeline.adapters.storage import AttachmentStore, Database
from well_pipeline.adapters.storage.melio_repository import MelioRepository
from well_pipeline.adapters.storage.outbox_repository import Claim, DeliveryRow, OutboxRepository
from well_pipeline.core.delivery.changes import changed_fields
from well_pipeline.core.delivery.document_type import SNIFF_BYTES, content_mismatch
from well_pipeline.core.delivery.plan import (
    Action,
    DeliveryCandidate,
    HoldCode,
    OutboxEntry,
    OutboxState,
    Planned,
    dedup_key,
    plan_deliveries,
)
from well_pipeline.core.delivery.quota import DAY, SendQuota, SendWindow
from well_pipeline.core.matching.ledger_index import LedgerIndex
from well_pipeline.core.matching.vendor_index import VendorIndex
from well_pipeline.core.scoring.policy import ACCEPTED_DOCUMENT_TYPES, MELIO_MAX_DOCUMENT_BYTES
from well_pipeline.services.scoring_inputs import ledger_bills, vendor_profiles
from well_pipeline.settings import check_melio_inbox

Log = Callable[[str], None]
Clock = Callable[[], datetime]
UNLIMITED = SendQuota()

_STATE_OF_OUTCOME = {
    "sent": OutboxState.SENT,
    "temporary_failure": OutboxState.TEMPORARY_FAILURE,
    "permanent_failure": OutboxState.PERMANENT_FAILURE,
    "unknown": OutboxState.UNCONFIRMED,
}


class DeliveryStoppedError(RuntimeError):
    """The batch stopped: the relay is unreachable or does not answer within the deadline, so every further
    e-mail would wait and fail the same way. What was not sent waits for the next run."""


@dataclass
class DeliveryReport:
    """What one delivery run did. `remaining`: records to send that this run left for the next one (a quota,
    or a stop); `sent_today`: e-mails handed to the relay in the last 24 h (what a daily quota counts);
    `quota_resets_at`: when the daily quota lets the next one go (naive UTC), when it is used up; `paused`:
    why the batch paused early, None when it went through."""

    candidates: int = 0
    sent: int = 0
    resent: int = 0
    already_delivered: int = 0
    held: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    interrupted_found: int = 0
    examples: list[str] = field(default_factory=list)
    seconds: float = 0.0
    daily_quota: int = 0
    sent_today: int = 0
    remaining: int = 0
    quota_resets_at: datetime | None = None
    paused: str | None = None
    throttled_s: float = 0.0


def utc_clock() -> datetime:
    """Now as naive UTC, like the times stored in DuckDB (quota windows compare the two)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _document_problem(row: DeliveryRow, store: AttachmentStore) -> str | None:
    content_type = (row.content_type or "").split(";")[0].strip().lower()
    if row.sha256 is None:
        return "the document is not stored yet"
    if content_type not in ACCEPTED_DOCUMENT_TYPES:
        return f"document type {content_type or 'unknown'} is not one Melio accepts"
    if not row.size_bytes:
        return "the document is empty"
    if row.size_bytes > MELIO_MAX_DOCUMENT_BYTES:
        return f"document is {row.size_bytes / 1_048_576:.1f} MB, over Melio's 10 MB limit"
    try:
        with store.path_for(row.sha256).open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except FileNotFoundError:
        return f"document file {row.sha256[:12]}… is missing from the attachment store"
    except OSError as exc:
        return f"document file {row.sha256[:12]}… cannot be read ({exc.strerror or exc})"
    mismatch = content_mismatch(content_type, head)
    if mismatch is not None:
        return f"{mismatch}; Melio would make no bill from it (check the document in Qonto)"
    return None


def _ledger_keys(vendors: list[MelioVendor], bills: list[MelioBill]) -> dict[tuple[str, str], str]:
    index = VendorIndex.build(vendor_profiles(vendors))
    ledger = LedgerIndex.build(ledger_bills(bills), index)
    return {**ledger.by_name, **ledger.by_vendor}


def deliver_days(
    database: Database,
    store: AttachmentStore,
    days: Sequence[date],
    mailer_factory: Callable[[], AbstractContextManager[SmtpMailer]],
    *,
    to_address: str,
    from_address: str,
    allow_any_domain: bool = False,
    quota: SendQuota = UNLIMITED,
    clock: Clock = utc_clock,
    sleep: Callable[[float], None] = time.sleep,
    log: Log = lambda message: None,
) -> DeliveryReport:
    """Deliver the released records of `days` (see the module docstring). `quota` holds the relay's limits
    (settings `smtp_max_per_minute`, `smtp_max_per_day`); `clock` and `sleep` pace them."""
    # Pre-flight (issue 7), before the outbox or the server is touched: the user's relay accepts any recipient,
    # so a mistyped inbox would be recorded as sent and never become a bill. Raises SettingsError.
    check_melio_inbox(to_address, allow_any_domain=allow_any_domain)
    started = time.monotonic()
    report = DeliveryReport(daily_quota=quota.per_day)
    batch = _plan(database, store, days, report, log, since=clock() - DAY)
    window = SendWindow(quota, batch.handed_over)
    report.remaining = len(batch.to_send)
    try:
        if batch.to_send:
            _Sender(database, store, batch, window, report, log, to_address=to_address, from_address=from_address,
                    clock=clock, sleep=sleep).run(mailer_factory)
    finally:
        now = clock()
        report.sent_today = window.sent_last_day(now)
        report.quota_resets_at = window.day_resets_at(now)
        report.seconds = time.monotonic() - started
        log(f"Delivery done in {report.seconds:.1f} s: sent {report.sent} (re-sent {report.resent}), already "
            f"delivered {report.already_delivered}, held {sum(report.held.values())}, outcomes "
            f"{dict(report.outcomes)}; {report.remaining} left for the next run, {report.sent_today} e-mails "
            f"sent in the last 24 h" + (f" (daily quota {quota.per_day})" if quota.per_day else ""))
    return report


@dataclass
class _Batch:
    rows: dict[str, DeliveryRow]
    to_send: list[Planned]
    handed_over: list  # send times of the last 24 h (datetime), for the quota


def _plan(database: Database, store: AttachmentStore, days: Sequence[date], report: DeliveryReport, log: Log,
          *, since: datetime) -> _Batch:
    """Read, decide, write the holds: two short connections, the thinking (and document reads) in between."""
    repo, melio = OutboxRepository(), MelioRepository()
    with database.connect() as con:
        report.interrupted_found = repo.expire_interrupted(con)
        rows = repo.candidates(con, days)
        entries = repo.entries(con)
        delivered, approvals = repo.delivered_keys(con), repo.approved_resends(con)
        vendors, bills = melio.vendors(con), melio.bills(con)
        handed_over = repo.handed_over_since(con, since)
    if report.interrupted_found:
        log(f"{report.interrupted_found} deliveries were interrupted by an earlier crash: held as unconfirmed")
    report.candidates = len(rows)
    by_id = {r.qonto_id: r for r in rows}
    problems = {r.qonto_id: _document_problem(r, store) for r in rows}
    candidates = [DeliveryCandidate(r.qonto_id, r.record_version, r.vendor_id, r.supplier_name, r.invoice_number,
                                    problems[r.qonto_id] is None, problems[r.qonto_id]) for r in rows]
    plans = plan_deliveries(candidates, entries, delivered, _ledger_keys(vendors, bills), approvals)
    holds = [p for p in plans if p.action is Action.HOLD]
    with database.connect() as con:
        changes = _changes(con, repo, holds, by_id, entries)
        repo.replace_holds(con, [r.qonto_id for r in rows], holds, changes)
    report.already_delivered = sum(p.action is Action.ALREADY_DELIVERED for p in plans)
    report.held.update(str(p.code) for p in holds)
    to_send = [p for p in plans if p.action is Action.SEND]
    log(f"{len(rows)} released records: {len(to_send)} to send, {report.already_delivered} already delivered, "
        f"{len(holds)} held")
    return _Batch(by_id, to_send, handed_over)


def _changes(con, repo: OutboxRepository, holds: list[Planned], by_id: dict[str, DeliveryRow],
             entries: dict[str, OutboxEntry]) -> dict[str, dict]:
    changes = {}
    for hold in holds:
        if hold.code != HoldCode.CHANGED_AFTER_DELIVERY:
            continue
        delivered = entries[hold.qonto_id].record_version
        current = by_id[hold.qonto_id].record_version
        versions = repo.record_versions(con, hold.qonto_id, [delivered, current])
        if delivered in versions and current in versions:
            changes[hold.qonto_id] = {"delivered_version": delivered, "current_version": current,
                                      "fields": changed_fields(versions[delivered], versions[current])}
    return changes


class _Sender:
    """Step 4 of the module docstring: one e-mail at a time, DuckDB open only around each step."""

    def __init__(self, database: Database, store: AttachmentStore, batch: _Batch, window: SendWindow,
                 report: DeliveryReport, log: Log, *, to_address: str, from_address: str, clock: Clock,
                 sleep: Callable[[float], None]) -> None:
        self.database, self.store, self.batch, self.window = database, store, batch, window
        self.report, self.log = report, log
        self.to_address, self.from_address = to_address, from_address
        self.clock, self.sleep = clock, sleep
        self.repo = OutboxRepository()

    def run(self, mailer_factory: Callable[[], AbstractContextManager[SmtpMailer]]) -> None:
        to_send = self.batch.to_send
        step = max(len(to_send) // 10, 25)
        if self._day_used_up():
            return  # not even a connection: the relay would refuse, and the backlog waits for the quota anyway
        # Opening the connection first means TLS or authentication problems fail the run before any row is touched.
        with mailer_factory() as mailer:
            for done, plan in enumerate(to_send, start=1):
                if self._day_used_up():
                    return
                self._wait_for_minute_quota()
                if not self._deliver(mailer, plan):
                    return
                self.report.remaining -= 1
                if done % step == 0:
                    self.log(f"sent {done}/{len(to_send)} ({dict(self.report.outcomes)})")

    def _day_used_up(self) -> bool:
        """True (and the pause logged) when the daily quota allows no more e-mail now."""
        now = self.clock()
        if self.window.day_left(now) != 0:
            return False
        resets = self.window.day_resets_at(now)
        self.report.paused = (f"daily quota of {self.window.quota.per_day} e-mails reached "
                              f"({self.window.sent_last_day(now)} in the last 24 h)")
        self.log(f"Delivery paused: {self.report.paused}; {self.report.remaining} records wait for the next run"
                 + (f"; the quota frees up from {resets:%Y-%m-%d %H:%M} UTC" if resets else ""))
        return True

    def _wait_for_minute_quota(self) -> None:
        wait = self.window.minute_wait(self.clock())
        if wait > 0:
            if not self.report.throttled_s:
                self.log(f"per-minute quota of {self.window.quota.per_minute} e-mails reached: waiting {wait:.1f} s "
                         "(and again whenever needed)")
            self.report.throttled_s += wait
            self.sleep(wait)

    def _deliver(self, mailer: SmtpMailer, plan: Planned) -> bool:
        """Send one record and record the answer; False when the batch must pause (a quota answer)."""
        row = self.batch.rows[plan.qonto_id]
        message = self._message(row)
        if isinstance(message, Planned):
            self._hold(message)
            return True
        message_id = str(message["Message-ID"])
        with self.database.connect() as con:
            claim = self.repo.mark_sending(con, row, message_id=message_id, to_address=self.to_address,
                                           resend=plan.resend,
                                           dedup=dedup_key(row.vendor_id, row.supplier_name, row.invoice_number))
        try:
            result = mailer.send(message)
        except MailerError as exc:
            # Raised only before the message is handed over (connection, TLS, login): give the claim back, so
            # the next run sends this record as if nothing happened, and stop with the reason.
            self._release(row, claim, message_id, f"not sent, {type(exc).__name__}: {exc}")
            self.log(f"Delivery stopped: {exc}. Nothing was handed over for {row.qonto_id}; "
                     f"{self.report.remaining} records wait for the next run")
            raise
        if result.quota_exceeded:
            self._release(row, claim, message_id, f"not sent, the relay's quota answer: {result.code} {result.reply}")
            self.report.paused = f"the SMTP relay answered with a quota limit ({result.code} {result.reply})"
            self.log(f"Delivery paused: {self.report.paused}; {self.report.remaining} records wait for the next run")
            return False
        self._complete(row, plan, message_id, result)
        if result.outcome in ("sent", "unknown"):
            self.window.record(self.clock())
        if result.outcome == "temporary_failure" and (result.deadline_hit or result.stage == "CONNECT"):
            # Every further e-mail would wait the same way. This record is a temporary failure (still counted
            # in `remaining`): the next run retries it with the rest.
            raise DeliveryStoppedError(self._stop_reason(mailer, result))
        return True

    def _stop_reason(self, mailer: SmtpMailer, result: SendResult) -> str:
        where = f"{mailer.host}:{mailer.port}"
        waiting = f"{self.report.remaining} records wait for the next run (nothing was handed over)"
        if result.deadline_hit:
            return (f"delivery stopped: the SMTP relay {where} did not answer within the {mailer.deadline_s:g} s "
                    f"deadline (setting smtp_deadline_s) in {result.attempts} attempts, last at {result.stage}: "
                    f"{result.reply}. {waiting}")
        return (f"delivery stopped: could not connect to the SMTP relay {where} in {result.attempts} attempts "
                f"({result.reply}). Check the settings smtp_host, smtp_port and smtp_security, or the relay; "
                f"{waiting}")

    def _complete(self, row: DeliveryRow, plan: Planned, message_id: str, result: SendResult) -> None:
        state = _STATE_OF_OUTCOME[result.outcome]
        hold = None
        if state is OutboxState.UNCONFIRMED:
            hold = Planned(row.qonto_id, Action.HOLD, HoldCode.DELIVERY_UNCONFIRMED,
                           f"connection lost after {message_id} was handed over: it may be in Melio; "
                           "check, then `well delivery confirm` or `well delivery resend`")
        elif state is OutboxState.PERMANENT_FAILURE:
            hold = Planned(row.qonto_id, Action.HOLD, HoldCode.REFUSED_BY_SERVER,
                           f"the server refused it: {result.code} {result.reply}")
        with self.database.connect() as con:
            self.repo.complete(con, row, message_id=message_id, state=state, code=result.code, reply=result.reply,
                               attempts=result.attempts, resend=plan.resend)
            if hold is not None:
                self.repo.replace_holds(con, [row.qonto_id], [hold], {})
        self.report.outcomes[result.outcome] += 1
        if hold is not None:
            self.report.held[str(hold.code)] += 1
        if state is OutboxState.SENT:
            self.report.sent += 1
            self.report.resent += plan.resend
        elif len(self.report.examples) < 10:
            self.report.examples.append(f"{row.qonto_id}: {result.outcome} {result.code or ''} {result.reply[:120]}")

    def _release(self, row: DeliveryRow, claim: Claim, message_id: str, reason: str) -> None:
        with self.database.connect() as con:
            self.repo.release(con, row, claim, message_id=message_id, reason=reason)
        self.report.outcomes["deferred"] += 1

    def _hold(self, hold: Planned) -> None:
        with self.database.connect() as con:
            self.repo.replace_holds(con, [hold.qonto_id], [hold], {})
        self.report.held[str(hold.code)] += 1

    def _message(self, row: DeliveryRow) -> EmailMessage | Planned:
        """The e-mail for one record, or the hold when its document cannot be sent as it is."""
        try:
            document = self.store.read(row.sha256)
            if hashlib.sha256(document).hexdigest() != row.sha256:
                raise ValueError("the stored document no longer matches its recorded sha256")
            return build_bill_email(BillEmail(
                qonto_id=row.qonto_id, record_version=row.record_version, to_address=self.to_address,
                from_address=self.from_address, supplier_name=row.vendor_name or row.supplier_name,
                invoice_number=row.invoice_number, amount=row.amount, currency=row.currency, document=document,
                document_filename=row.file_name,
                content_type=(row.content_type or "").split(";")[0].strip().lower(),
            ))
        except (OSError, ValueError) as exc:
            return Planned(row.qonto_id, Action.HOLD, HoldCode.DOCUMENT_NOT_SENDABLE,
                           f"cannot build the e-mail: {exc}")
