"""Steps 3 and 4 of a delivery run: one SMTP connection, then one e-mail at a time within the relay's quotas.

Per e-mail: the outbox row is claimed (`sending`, committed), the e-mail is handed to the server, and the answer
is recorded (`complete`), or the claim is given back (`release`) when nothing was handed over. Storage is never
held while SMTP talks. The claim names the outbox row the run planned from: when another delivery process claimed,
completed or released the record since (several processes on PostgreSQL), the claim conflicts and the record is
skipped, never sent, and counted as claimed by another run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from email.message import EmailMessage

from well_pipeline.adapters.melio import BillEmail, MailerError, SendResult, SmtpMailer, build_bill_email
from well_pipeline.adapters.storage import AttachmentStore, OutboxStore
from well_pipeline.adapters.storage.records import DEFERRED, Claim, ClaimConflictError, DeliveryRow
from well_pipeline.core.delivery.plan import Action, HoldCode, OutboxState, Planned, dedup_key
from well_pipeline.core.delivery.quota import SendWindow
from well_pipeline.services.delivery.planning import Batch
from well_pipeline.services.delivery.report import (
    Clock,
    DeliveryReport,
    DeliveryStoppedError,
    DocumentStoreUnavailableError,
    Log,
)
from well_pipeline.services.progress import DEFAULT_PACE, Pace

MailerFactory = Callable[[], AbstractContextManager[SmtpMailer]]

_STATE_OF_OUTCOME = {
    "sent": OutboxState.SENT,
    "temporary_failure": OutboxState.TEMPORARY_FAILURE,
    "permanent_failure": OutboxState.PERMANENT_FAILURE,
    "unknown": OutboxState.UNCONFIRMED,
}


@dataclass(frozen=True)
class DeliveryContext:
    """The collaborators and fixed inputs of one delivery run, passed as one value instead of ten arguments."""

    outbox: OutboxStore
    documents: AttachmentStore
    to_address: str
    from_address: str
    clock: Clock
    sleep: Callable[[float], None]
    log: Log
    pace: Pace = DEFAULT_PACE


class Sender:
    """Send `batch` one e-mail at a time (see the module docstring), counting into `report`."""

    def __init__(self, context: DeliveryContext, batch: Batch, window: SendWindow, report: DeliveryReport) -> None:
        self.context, self.batch, self.window, self.report = context, batch, window, report

    def run(self, mailer_factory: MailerFactory) -> None:
        to_send = self.batch.to_send
        if self._day_used_up():
            return  # not even a connection: the relay would refuse, and the backlog waits for the quota anyway
        outcomes = self.report.outcomes
        # Opening the connection first means TLS or authentication problems fail the run before any row is touched.
        with self.context.pace.track("delivery", "e-mails", len(to_send), self.context.log,
                                     detail=lambda: ", ".join(f"{k} {v:,}" for k, v in sorted(outcomes.items()))
                                     ) as progress, mailer_factory() as mailer:
            for plan in to_send:
                if self._day_used_up():
                    return
                self._wait_for_minute_quota()
                if not self._deliver(mailer, plan):
                    return
                self.report.remaining -= 1
                progress.advance()

    def _day_used_up(self) -> bool:
        """True (and the pause logged) when the daily quota allows no more e-mail now."""
        now = self.context.clock()
        if self.window.day_left(now) != 0:
            return False
        resets = self.window.day_resets_at(now)
        self.report.paused = (f"daily quota of {self.window.quota.per_day} e-mails reached "
                              f"({self.window.sent_last_day(now)} in the last 24 h)")
        self.context.log(f"Delivery paused: {self.report.paused}; {self.report.remaining} records wait for the next "
                         "run" + (f"; the quota frees up from {resets:%Y-%m-%d %H:%M} UTC" if resets else ""))
        return True

    def _wait_for_minute_quota(self) -> None:
        wait = self.window.minute_wait(self.context.clock())
        if wait > 0:
            if not self.report.throttled_s:
                self.context.log(f"per-minute quota of {self.window.quota.per_minute} e-mails reached: waiting "
                                 f"{wait:.1f} s (and again whenever needed)")
            self.report.throttled_s += wait
            self.context.sleep(wait)

    def _deliver(self, mailer: SmtpMailer, plan: Planned) -> bool:
        """Send one record and record the answer (or skip it: another run claimed it since the plan); False when
        the batch must pause (a quota answer)."""
        row = self.batch.rows[plan.qonto_id]
        message = self._message(row)
        if isinstance(message, Planned):
            self._hold(message)
            return True
        message_id = str(message["Message-ID"])
        try:
            claim = self.context.outbox.mark_sending(
                row, message_id=message_id, to_address=self.context.to_address, resend=plan.resend,
                dedup=dedup_key(row.vendor_id, row.supplier_name, row.invoice_number),
                expected=self.batch.entries.get(row.qonto_id))
        except ClaimConflictError:
            # Nothing changed: the other run sends it (or has), and the next plan sees what it recorded.
            self.report.claimed_elsewhere += 1
            self.context.log(f"{row.qonto_id}: claimed by another delivery run since this one planned it; skipped")
            return True
        try:
            result = mailer.send(message)
        except MailerError as exc:
            # Raised only before the message is handed over (connection, TLS, login): give the claim back, so
            # the next run sends this record as if nothing happened, and stop with the reason.
            self._release(row, claim, message_id, f"not sent, {type(exc).__name__}: {exc}")
            self.context.log(f"Delivery stopped: {exc}. Nothing was handed over for {row.qonto_id}; "
                             f"{self.report.remaining} records wait for the next run")
            raise
        if result.quota_exceeded:
            self._release(row, claim, message_id, f"not sent, the relay's quota answer: {result.code} {result.reply}")
            self.report.paused = f"the SMTP relay answered with a quota limit ({result.code} {result.reply})"
            self.context.log(f"Delivery paused: {self.report.paused}; {self.report.remaining} records wait for the "
                             "next run")
            return False
        self._complete(row, plan, message_id, result)
        if result.outcome in ("sent", "unknown"):
            self.window.record(self.context.clock())
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
                           f"the server refused it: {result.code} {result.reply} (fix what it says, then "
                           "`well delivery resend`)")
        self.context.outbox.complete(row, message_id=message_id, state=state, code=result.code, reply=result.reply,
                                     attempts=result.attempts, resend=plan.resend, hold=hold)
        self.report.outcomes[result.outcome] += 1
        if hold is not None:
            self.report.held[str(hold.code)] += 1
        if state is OutboxState.SENT:
            self.report.sent += 1
            self.report.resent += plan.resend
        elif len(self.report.examples) < 10:
            self.report.examples.append(f"{row.qonto_id}: {result.outcome} {result.code or ''} {result.reply[:120]}")

    def _release(self, row: DeliveryRow, claim: Claim, message_id: str, reason: str) -> None:
        self.context.outbox.release(row, claim, message_id=message_id, reason=reason)
        self.report.outcomes[DEFERRED] += 1

    def _hold(self, hold: Planned) -> None:
        self.context.outbox.replace_holds([hold.qonto_id], [hold])
        self.report.held[str(hold.code)] += 1

    def _message(self, row: DeliveryRow) -> EmailMessage | Planned:
        """The e-mail for one record, or the hold when its document cannot be sent as it is."""
        try:
            document = self.context.documents.read(row.sha256)
        except FileNotFoundError as exc:  # (AttachmentMissingError) gone since planning: this record only
            return Planned(row.qonto_id, Action.HOLD, HoldCode.DOCUMENT_NOT_SENDABLE,
                           f"cannot build the e-mail: {exc}")
        except OSError as exc:  # the store itself is unreadable: stop before claiming, hold nothing
            raise DocumentStoreUnavailableError(self.context.documents.location, exc,
                                                self.report.remaining) from None
        try:
            if hashlib.sha256(document).hexdigest() != row.sha256:
                raise ValueError("the stored document no longer matches its recorded sha256")
            return build_bill_email(BillEmail(
                qonto_id=row.qonto_id, record_version=row.record_version, to_address=self.context.to_address,
                from_address=self.context.from_address, supplier_name=row.vendor_name or row.supplier_name,
                invoice_number=row.invoice_number, amount=row.amount, currency=row.currency, document=document,
                document_filename=row.file_name,
                content_type=(row.content_type or "").split(";")[0].strip().lower(),
            ))
        except (OSError, ValueError) as exc:
            return Planned(row.qonto_id, Action.HOLD, HoldCode.DOCUMENT_NOT_SENDABLE,
                           f"cannot build the e-mail: {exc}")
