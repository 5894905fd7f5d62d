"""`well review`: settle the review queue from the command line (list, show, approve, pin, refuse).

The use cases and their rules live in `services/review.py`; these commands parse, call and render. Each
decision is stored with its author and time and applied to the scored row at once; scoring reads it back on
every later materialisation, so it survives re-runs, backfills and disconnects. An approved or pinned record
becomes a manual link and flows on to delivery; a pin also teaches Well the supplier name and IBAN for next
time. A decision made on an older version of a record (Qonto changed it since) no longer applies: the record
returns to the queue.

What it prints is meant for a finance person: possible payment frauds first, invoices Qonto already paid after
the other review records, refused ones apart; capped scores say so; money as `22.80 EUR`; empty fields empty.
Everything that came from Qonto or a person goes through `printable()`, so no supplier name can drive the
terminal. The formatting itself lives in `core/scoring/display.py`, shared with the `review_queue` asset.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from well_pipeline.cli.common import author_option, open_storage, printable
from well_pipeline.core.scoring.display import (
    WAITING_SECTIONS,
    QueueEntry,
    Section,
    day_text,
    percent_text,
    showing,
    time_text,
    vendor_label,
)
from well_pipeline.services import review as service
from well_pipeline.services.review import DecisionOutcome, ReviewError


@click.group()
def review() -> None:
    """The review queue: records waiting for a person, and refused ones."""


SECTION_TITLES = {
    Section.POSSIBLE_FRAUD: "Possible payment fraud (bank details changed: confirm with the supplier by phone)",
    Section.REVIEW: "Waiting for review",
    Section.PAID_IN_QONTO: "Already paid (or being paid) in Qonto: sending them to Melio risks a second payment",
    Section.REFUSED: "Refused (kept out of Melio; `well review pin` can still link one)",
}
DEFAULT_LIMIT = 50


def _clip(value: str, width: int) -> str:
    return value if len(value) <= width else value[:width - 1] + "…"


def _joined(*parts: str, sep: str = "  ") -> str:
    """The non-empty parts: an empty field prints as nothing, not as a label with nothing after it."""
    return sep.join(p for p in parts if p)


def _record_lines(entry: QueueEntry) -> list[str]:
    """Two lines per record: what it is, then why it waits and where it could go."""
    number = printable(entry.invoice_number)
    first = (f"{printable(entry.qonto_id)}  {entry.created_day:<10}  {printable(entry.amount):>14}  "
             f"{_clip(printable(entry.supplier_name), 30):<30}  {_clip('#' + number if number else '', 17):<17}  "
             f"{printable(entry.score_label)}")
    if entry.flag:
        first += f"  [{entry.flag}]"
    second = _joined(f"best: {printable(entry.best_vendor)}" if entry.best_vendor else "",
                     f"runner-up: {printable(entry.runner_up)}" if entry.runner_up else "",
                     f"why: {printable(entry.top_reason)}" if entry.top_reason else "")
    return [first.rstrip(), f"    {second}"] if second else [first.rstrip()]


@review.command("list")
@click.option("--all", "show_all", is_flag=True,
              help="Every record of every section, refused ones included, with no limit.")
@click.option("--refused", "refused_only", is_flag=True, help="Only the refused records.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help=f"Records shown per section (default {DEFAULT_LIMIT}; not with --all).")
def list_queue(show_all: bool, refused_only: bool, limit: int | None) -> None:
    """Records waiting for a decision: possible frauds first, paid-in-Qonto ones last, best scores first."""
    if show_all and (refused_only or limit is not None):
        raise click.UsageError("--all shows every record of every section; drop --refused and --limit")
    page = service.list_queue(open_storage(read_only=True), limit=None if show_all else (limit or DEFAULT_LIMIT),
                              refused_only=refused_only)
    sections = [Section.REFUSED] if refused_only else [*WAITING_SECTIONS] + ([Section.REFUSED] if show_all else [])
    printed = False
    truncated = False
    for section in sections:
        entries = page.section(section)
        total = page.total(section)
        if not total:
            continue
        truncated |= len(entries) < total
        if printed:
            click.echo("")
        click.echo(f"{SECTION_TITLES[section]}: {showing(len(entries), total)}")
        for entry in entries:
            for line in _record_lines(entry):
                click.echo(f"  {line}")
        printed = True
    if not printed:
        click.echo("no refused records" if refused_only else "the review queue is empty")
    refused = page.total(Section.REFUSED)
    if refused and Section.REFUSED not in sections:
        click.echo(f"\n{refused:,} refused record(s) not listed: `well review list --refused` (or `--all`)")
    if truncated:
        click.echo("more: `well review list --all` lists every record (or raise --limit)")


@review.command()
@click.argument("qonto_id")
def show(qonto_id: str) -> None:
    """One record: its score parts, reasons, ranked alternatives and the decisions made on it."""
    try:
        record = service.show(open_storage(read_only=True), qonto_id)
    except ReviewError as exc:
        raise click.ClickException(printable(str(exc))) from None
    details, entry = record.details, record.details.entry
    heading = f"{printable(qonto_id)}: {printable(entry.decision)} at {entry.score_label}"
    if entry.capped_by:
        heading += f" (before caps {percent_text(entry.raw_score, 1)})"
    click.echo(heading + (f"  [{entry.flag}]" if entry.flag else ""))
    click.echo(f"  created in Qonto: {time_text(entry.created_at)}")
    number, due, iban, status = entry.invoice_number, details.due_date, entry.iban, entry.status
    click.echo("  invoice: " + _joined(
        printable(entry.supplier_name), f"#{printable(number)}" if printable(number) else "",
        printable(entry.amount), f"due {day_text(due)}" if day_text(due) else "",
        f"IBAN {printable(iban)}" if printable(iban) else "",
        f"(Qonto status {printable(status)})" if printable(status) else "", sep=" "))
    click.echo(f"  parts: counterparty strength {percent_text(details.strength)} × field completeness "
               f"{percent_text(details.completeness)} × policy fit {percent_text(details.policy_fit)}")
    if entry.best_vendor:
        click.echo(f"  chosen vendor: {printable(entry.best_vendor)}")
    if entry.hard_rules:
        click.echo(f"  hard rules: {printable(', '.join(entry.hard_rules))}")
    if entry.top_reason:
        click.echo(f"  why it waits: {printable(entry.top_reason)}")
    click.echo("  reasons:")
    for reason in entry.reasons:
        click.echo(f"    [{printable(reason.code)}] {printable(reason.text)}")
    click.echo("  ranked alternatives:")
    for rank, candidate in enumerate(entry.candidates, start=1):
        similarity = (f"name {percent_text(candidate.name_similarity / 100, 0)}"
                      if candidate.name_similarity is not None else "")
        evidence = f"[{', '.join(candidate.evidence)}]" if candidate.evidence else ""
        click.echo(f"    {rank}. " + printable(_joined(
            vendor_label(candidate.company_name, candidate.vendor_id, candidate.probability), similarity, evidence,
            sep=" ")))
    for decided in record.history:
        click.echo("  decided: " + _joined(
            printable(decided.action), printable(decided.vendor_id), f"by {printable(decided.author)}",
            f"at {time_text(decided.decided_at)}" if time_text(decided.decided_at) else "", printable(decided.reason),
            sep=" "))


def _report(decide: Callable[[], DecisionOutcome], qonto_id: str, action: str, author: str) -> None:
    """Run one decision and print it, or print why it was refused (escaped: ids come from the user and Qonto)."""
    try:
        outcome = decide()
    except ReviewError as exc:
        raise click.ClickException(printable(str(exc))) from None
    vendor_id = outcome.override.vendor_id
    target = f" → {printable(vendor_id)}" if vendor_id and action != "refuse" else ""
    click.echo(f"{printable(qonto_id)}: {action}{target} recorded by {printable(author)} "
               f"(was {outcome.previous_decision})")


@review.command()
@click.argument("qonto_id")
@author_option
def approve(qonto_id: str, author: str) -> None:
    """Accept the best-ranked vendor: the record becomes a manual link and flows on to delivery."""
    _report(lambda: service.approve(open_storage(), qonto_id, author=author), qonto_id, "approve", author)


@review.command()
@click.argument("qonto_id")
@click.option("--vendor", "vendor_id", required=True, help="Melio vendor id to link the record to.")
@author_option
def pin(qonto_id: str, vendor_id: str, author: str) -> None:
    """Link the record to VENDOR by hand; Well learns the supplier name and IBAN for next time."""
    _report(lambda: service.pin(open_storage(), qonto_id, vendor_id, author=author), qonto_id, "pin", author)


@review.command()
@click.argument("qonto_id")
@click.option("--reason", required=True, help="Why it must not go to Melio.")
@author_option
def refuse(qonto_id: str, reason: str, author: str) -> None:
    """Keep the record out of Melio, with a reason."""
    _report(lambda: service.refuse(open_storage(), qonto_id, reason, author=author), qonto_id, "refuse", author)
