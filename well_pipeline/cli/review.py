"""`well review`: settle the review queue from the command line (list, show, approve, pin, refuse).

Each decision is stored with its author and time in `review_decisions` and applied to the scored row at once;
scoring reads it back on every later materialisation, so it survives re-runs, backfills and disconnects. An
approved or pinned record becomes a manual link and flows on to delivery; a pin also teaches Well the supplier
name and IBAN for next time. A decision made on an older version of a record (Qonto changed it since) no
longer applies: the record returns to the queue.

What it prints is meant for a finance person: possible payment frauds first, invoices Qonto already paid after
the other review records, refused ones apart; capped scores say so; money as `22.80 EUR`; empty fields empty.
Everything that came from Qonto or a person goes through `printable()`, so no supplier name can drive the
terminal. The formatting itself lives in `core/scoring/display.py`, shared with the `review_queue` asset.
"""

from __future__ import annotations

import click

from well_pipeline.adapters.storage.match_repository import MatchRepository, StaleRecordError
from well_pipeline.cli.common import author_option, existing_database, printable
from well_pipeline.core.scoring.display import (
    WAITING_SECTIONS,
    QueueEntry,
    Section,
    day_text,
    parse_candidates,
    parse_reasons,
    percent_text,
    showing,
    time_text,
    vendor_label,
)


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
    decisions = ("refused",) if refused_only else ("review", "refused")
    with existing_database().connect(read_only=True) as con:
        page = MatchRepository().queue(con, limit=None if show_all else (limit or DEFAULT_LIMIT),
                                       decisions=decisions)
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
    with existing_database().connect(read_only=True) as con:
        row = con.execute(
            "SELECT s.decision, s.score, s.raw_score, s.completeness, s.strength, s.policy_fit, s.vendor_id, "
            "s.vendor_name, s.hard_rules, s.reasons, s.candidates, i.created_at, i.supplier_name, i.invoice_number, "
            "i.total_amount, i.currency, i.due_date, i.iban, i.status FROM scored_matches s "
            "JOIN qonto_supplier_invoices i ON i.id = s.qonto_id WHERE s.qonto_id = ?", [qonto_id]).fetchone()
        history = con.execute("SELECT action, vendor_id, reason, author, decided_at FROM review_decisions "
                              "WHERE qonto_id = ? ORDER BY decision_id", [qonto_id]).fetchall()
    if row is None:
        raise click.ClickException(f"no scored record {printable(qonto_id)}")
    (decision, score, raw_score, completeness, strength, fit, vendor_id, vendor_name, hard_rules, reasons,
     candidates, created_at, supplier, number, amount, currency, due, iban, status) = row
    entry = QueueEntry(qonto_id=qonto_id, decision=decision, score=score, raw_score=raw_score,
                       hard_rules=tuple(hard_rules or ()), reasons=parse_reasons(reasons),
                       candidates=parse_candidates(candidates), vendor_id=vendor_id, vendor_name=vendor_name,
                       created_at=created_at, supplier_name=supplier, invoice_number=number, total_amount=amount,
                       currency=currency, status=status, iban=iban)
    heading = f"{printable(qonto_id)}: {printable(decision)} at {entry.score_label}"
    if entry.capped_by:
        heading += f" (before caps {percent_text(raw_score, 1)})"
    click.echo(heading + (f"  [{entry.flag}]" if entry.flag else ""))
    click.echo(f"  created in Qonto: {time_text(created_at)}")
    click.echo("  invoice: " + _joined(
        printable(supplier), f"#{printable(number)}" if printable(number) else "", printable(entry.amount),
        f"due {day_text(due)}" if day_text(due) else "", f"IBAN {printable(iban)}" if printable(iban) else "",
        f"(Qonto status {printable(status)})" if printable(status) else "", sep=" "))
    click.echo(f"  parts: counterparty strength {percent_text(strength)} × field completeness "
               f"{percent_text(completeness)} × policy fit {percent_text(fit)}")
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
    for action, vid, reason, author, at in history:
        click.echo("  decided: " + _joined(printable(action), printable(vid), f"by {printable(author)}",
                                           f"at {time_text(at)}" if time_text(at) else "", printable(reason),
                                           sep=" "))


def _decide(qonto_id: str, action: str, author: str, vendor_id: str | None = None, reason: str | None = None) -> None:
    database = existing_database()
    repo = MatchRepository()
    with database.connect() as con:
        scored = con.execute("SELECT decision, vendor_id FROM scored_matches WHERE qonto_id = ?", [qonto_id]).fetchone()
        if scored is None:
            raise click.ClickException(f"no scored record {printable(qonto_id)}: materialise scored_matches "
                                       "for its day first")
        if action == "approve" and scored[1] is None:
            raise click.ClickException(f"{printable(qonto_id)} has no candidate vendor to approve; use "
                                       f"`well review pin {printable(qonto_id)} --vendor VENDOR_ID`")
        if vendor_id is not None and con.execute("SELECT 1 FROM melio_vendors WHERE vendor_id = ?",
                                                  [vendor_id]).fetchone() is None:
            raise click.ClickException(f"unknown Melio vendor '{printable(vendor_id)}' (see melio_vendors)")
        try:
            override = repo.record_decision(con, qonto_id=qonto_id, action=action, author=author,
                                            vendor_id=vendor_id, reason=reason)
        except StaleRecordError as exc:
            raise click.ClickException(printable(str(exc))) from None
    target = f" → {printable(override.vendor_id)}" if override.vendor_id and action != "refuse" else ""
    click.echo(f"{printable(qonto_id)}: {action}{target} recorded by {printable(author)} (was {scored[0]})")


@review.command()
@click.argument("qonto_id")
@author_option
def approve(qonto_id: str, author: str) -> None:
    """Accept the best-ranked vendor: the record becomes a manual link and flows on to delivery."""
    _decide(qonto_id, "approve", author)


@review.command()
@click.argument("qonto_id")
@click.option("--vendor", "vendor_id", required=True, help="Melio vendor id to link the record to.")
@author_option
def pin(qonto_id: str, vendor_id: str, author: str) -> None:
    """Link the record to VENDOR by hand; Well learns the supplier name and IBAN for next time."""
    _decide(qonto_id, "pin", author, vendor_id=vendor_id)


@review.command()
@click.argument("qonto_id")
@click.option("--reason", required=True, help="Why it must not go to Melio.")
@author_option
def refuse(qonto_id: str, reason: str, author: str) -> None:
    """Keep the record out of Melio, with a reason."""
    _decide(qonto_id, "refuse", author, reason=reason)
