"""Deliver released records to the Melio inbox: the use case behind `delivered_bills`.

Order of work, chosen so that nothing is ever sent twice and nothing is lost:

1. rows a dead run left `sending` become `unconfirmed` (held for a person, never re-sent on their own);
2. every candidate is planned from the outbox (core/delivery/plan.py); holds are written with their reasons;
3. for each record to send: the outbox row is committed as `sending`, the e-mail is handed to the server over
   one reused SMTP connection, and the answer is committed (`sent`, `temporary_failure` to retry next run,
   `permanent_failure` or `unconfirmed` held for a person). No transaction is open while SMTP talks.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date

from well_pipeline.adapters.melio import BillEmail, MailerError, SmtpMailer, build_bill_email
from well_pipeline.adapters.storage import AttachmentStore, Database
from well_pipeline.adapters.storage.melio_repository import MelioRepository
from well_pipeline.adapters.storage.outbox_repository import DeliveryRow, OutboxRepository
from well_pipeline.core.delivery.changes import changed_fields
from well_pipeline.core.delivery.plan import (
    Action,
    DeliveryCandidate,
    HoldCode,
    OutboxState,
    Planned,
    dedup_key,
    plan_deliveries,
)
from well_pipeline.core.matching.ledger_index import LedgerIndex
from well_pipeline.core.matching.vendor_index import VendorIndex
from well_pipeline.core.scoring.policy import ACCEPTED_DOCUMENT_TYPES, MELIO_MAX_DOCUMENT_BYTES
from well_pipeline.services.scoring_inputs import ledger_bills, vendor_profiles

Log = Callable[[str], None]

_STATE_OF_OUTCOME = {
    "sent": OutboxState.SENT,
    "temporary_failure": OutboxState.TEMPORARY_FAILURE,
    "permanent_failure": OutboxState.PERMANENT_FAILURE,
    "unknown": OutboxState.UNCONFIRMED,
}


@dataclass
class DeliveryReport:
    candidates: int = 0
    sent: int = 0
    resent: int = 0
    already_delivered: int = 0
    held: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    interrupted_found: int = 0
    examples: list[str] = field(default_factory=list)
    seconds: float = 0.0


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
    if not store.exists(row.sha256):
        return f"document file {row.sha256[:12]}… is missing from the attachment store"
    return None


def _ledger_keys(con, melio: MelioRepository) -> dict[tuple[str, str], str]:
    index = VendorIndex.build(vendor_profiles(melio.vendors(con)))
    ledger = LedgerIndex.build(ledger_bills(melio.bills(con)), index)
    return {**ledger.by_name, **ledger.by_vendor}


def deliver_days(
    database: Database,
    store: AttachmentStore,
    days: Sequence[date],
    mailer_factory: Callable[[], AbstractContextManager[SmtpMailer]],
    *,
    to_address: str,
    from_address: str,
    log: Log = lambda message: None,
) -> DeliveryReport:
    started = time.monotonic()
    report = DeliveryReport()
    repo, melio = OutboxRepository(), MelioRepository()
    with database.connect() as con:
        report.interrupted_found = repo.expire_interrupted(con)
        if report.interrupted_found:
            log(f"{report.interrupted_found} deliveries were interrupted by an earlier crash: held as unconfirmed")
        rows = repo.candidates(con, days)
        report.candidates = len(rows)
        by_id = {r.qonto_id: r for r in rows}
        problems = {r.qonto_id: _document_problem(r, store) for r in rows}
        candidates = [DeliveryCandidate(r.qonto_id, r.record_version, r.vendor_id, r.supplier_name, r.invoice_number,
                                        problems[r.qonto_id] is None, problems[r.qonto_id]) for r in rows]
        plans = plan_deliveries(candidates, repo.entries(con), repo.delivered_keys(con), _ledger_keys(con, melio),
                                repo.approved_resends(con))
        holds = [p for p in plans if p.action is Action.HOLD]
        changes = _changes(con, repo, holds, by_id)
        repo.replace_holds(con, [r.qonto_id for r in rows], holds, changes)
        report.already_delivered = sum(p.action is Action.ALREADY_DELIVERED for p in plans)
        report.held.update(str(p.code) for p in holds)
        to_send = [p for p in plans if p.action is Action.SEND]
        log(f"{len(rows)} released records: {len(to_send)} to send, {report.already_delivered} already delivered, "
            f"{len(holds)} held")
        if to_send:
            late_holds: list[Planned] = []
            try:
                _send_all(con, repo, store, to_send, by_id, mailer_factory, to_address, from_address, report,
                          late_holds, log)
            finally:
                # Written even when the batch stops early (a mail-server configuration error), so every
                # record held during this run shows up in `well delivery held`.
                if late_holds:
                    repo.replace_holds(con, [h.qonto_id for h in late_holds], late_holds, {})
                    report.held.update(str(h.code) for h in late_holds)
    report.seconds = time.monotonic() - started
    log(f"Delivery done in {report.seconds:.1f} s: sent {report.sent} (re-sent {report.resent}), already delivered "
        f"{report.already_delivered}, held {sum(report.held.values())}, outcomes {dict(report.outcomes)}")
    return report


def _changes(con, repo: OutboxRepository, holds: list[Planned], by_id: dict[str, DeliveryRow]) -> dict[str, dict]:
    changes = {}
    entries = repo.entries(con)
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


def _send_all(con, repo: OutboxRepository, store: AttachmentStore, to_send: list[Planned],
              by_id: dict[str, DeliveryRow], mailer_factory, to_address: str, from_address: str,
              report: DeliveryReport, late_holds: list[Planned], log: Log) -> None:
    step = max(len(to_send) // 10, 25)
    # Opening the connection first means TLS or authentication problems fail the run before any row is touched.
    with mailer_factory() as mailer:
        for done, plan in enumerate(to_send, start=1):
            row = by_id[plan.qonto_id]
            message = _build_message(row, store, to_address, from_address, late_holds)
            if message is None:
                continue
            message_id = str(message["Message-ID"])
            repo.mark_sending(con, row, message_id=message_id, to_address=to_address, resend=plan.resend,
                              dedup=dedup_key(row.vendor_id, row.supplier_name, row.invoice_number))
            try:
                result = mailer.send(message)
            except MailerError as exc:
                # Raised only before the message is handed over (connection, TLS, login): nothing left. Record
                # it as a temporary failure so the next run retries, then stop the batch with the reason.
                repo.complete(con, row, message_id=message_id, state=OutboxState.TEMPORARY_FAILURE, code=None,
                              reply=f"{type(exc).__name__}: {exc}", attempts=1, resend=plan.resend)
                report.outcomes["temporary_failure"] += 1
                raise
            state = _STATE_OF_OUTCOME[result.outcome]
            repo.complete(con, row, message_id=message_id, state=state, code=result.code, reply=result.reply,
                          attempts=result.attempts, resend=plan.resend)
            report.outcomes[result.outcome] += 1
            if state is OutboxState.SENT:
                report.sent += 1
                report.resent += plan.resend
            elif state is OutboxState.UNCONFIRMED:
                late_holds.append(Planned(row.qonto_id, Action.HOLD, HoldCode.DELIVERY_UNCONFIRMED,
                                          f"connection lost after {message_id} was handed over: it may be in Melio; "
                                          "check, then `well delivery confirm` or `well delivery resend`"))
            elif state is OutboxState.PERMANENT_FAILURE:
                late_holds.append(Planned(row.qonto_id, Action.HOLD, HoldCode.REFUSED_BY_SERVER,
                                          f"the server refused it: {result.code} {result.reply}"))
            if len(report.examples) < 10 and state is not OutboxState.SENT:
                report.examples.append(f"{row.qonto_id}: {result.outcome} {result.code or ''} {result.reply[:120]}")
            if done % step == 0:
                log(f"sent {done}/{len(to_send)} ({dict(report.outcomes)})")


def _build_message(row: DeliveryRow, store: AttachmentStore, to_address: str, from_address: str,
                   late_holds: list[Planned]):
    """The e-mail for one record, or None (and a hold) when its document cannot be sent as it is."""
    try:
        document = store.read(row.sha256)
        if hashlib.sha256(document).hexdigest() != row.sha256:
            raise ValueError("the stored document no longer matches its recorded sha256")
        return build_bill_email(BillEmail(
            qonto_id=row.qonto_id, record_version=row.record_version, to_address=to_address,
            from_address=from_address, supplier_name=row.vendor_name or row.supplier_name,
            invoice_number=row.invoice_number, amount=row.amount, currency=row.currency, document=document,
            document_filename=row.file_name, content_type=(row.content_type or "").split(";")[0].strip().lower(),
        ))
    except (OSError, ValueError) as exc:
        late_holds.append(Planned(row.qonto_id, Action.HOLD, HoldCode.DOCUMENT_NOT_SENDABLE,
                                  f"cannot build the e-mail: {exc}"))
        return None
