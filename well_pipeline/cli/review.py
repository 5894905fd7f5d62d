"""`well review`: settle the review queue from the command line (list, show, approve, pin, refuse).

Each decision is stored with its author and time in `review_decisions` and applied to the scored row at once;
scoring reads it back on every later materialisation, so it survives re-runs, backfills and disconnects. An
approved or pinned record becomes a manual link and flows on to delivery; a pin also teaches Well the supplier
name and IBAN for next time. A decision made on an older version of a record (Qonto changed it since) no
longer applies: the record returns to the queue.
"""

from __future__ import annotations

import json

import click

from well_pipeline.adapters.storage.match_repository import MatchRepository, StaleRecordError
from well_pipeline.cli.common import author_option, existing_database


@click.group()
def review() -> None:
    """The review queue: records waiting for a person, and refused ones."""


@review.command("list")
@click.option("--all", "include_refused", is_flag=True, help="Include refused records (default: review only).")
@click.option("--limit", default=50, show_default=True)
def list_queue(include_refused: bool, limit: int) -> None:
    """Records waiting for a decision, best scores first."""
    decisions = ("review", "refused") if include_refused else ("review",)
    with existing_database().connect(read_only=True) as con:
        queue = MatchRepository().queue(con, limit=limit, decisions=decisions)
    if queue.empty:
        click.echo("the review queue is empty")
        return
    for row in queue.itertuples(index=False):
        rules = ",".join(row.hard_rules) if len(row.hard_rules) else "-"
        amount = f"{row.total_amount} {row.currency}" if row.total_amount is not None else "no amount"
        click.echo(f"{row.qonto_id}  {row.decision:<7} {row.score_pct:>5}%  {str(row.supplier_name)[:32]:<32}  "
                   f"{str(row.invoice_number)[:16]:<16} {amount:>16}  best: {row.best_vendor or '-'}  [{rules}]")


@review.command()
@click.argument("qonto_id")
def show(qonto_id: str) -> None:
    """One record: its score parts, reasons and ranked alternatives."""
    with existing_database().connect(read_only=True) as con:
        row = con.execute(
            "SELECT s.decision, s.score, s.completeness, s.strength, s.policy_fit, s.vendor_id, s.vendor_name, "
            "s.hard_rules, s.reasons, s.candidates, i.supplier_name, i.invoice_number, i.total_amount, i.currency, "
            "i.due_date, i.iban, i.status FROM scored_matches s JOIN qonto_supplier_invoices i ON i.id = s.qonto_id "
            "WHERE s.qonto_id = ?", [qonto_id]).fetchone()
        history = con.execute("SELECT action, vendor_id, reason, author, decided_at FROM review_decisions "
                              "WHERE qonto_id = ? ORDER BY decision_id", [qonto_id]).fetchall()
    if row is None:
        raise click.ClickException(f"no scored record {qonto_id}")
    (decision, score, completeness, strength, fit, vendor_id, vendor_name, hard_rules, reasons, candidates,
     supplier, number, amount, currency, due, iban, status) = row
    click.echo(f"{qonto_id}: {decision} at {score:.1%}")
    click.echo(f"  invoice: {supplier!r} #{number} {amount} {currency} due {due} IBAN {iban} (Qonto status {status})")
    click.echo(f"  parts: counterparty strength {strength:.1%} × field completeness {completeness:.1%} "
               f"× policy fit {fit:.1%}")
    click.echo(f"  chosen vendor: {vendor_name or '-'} ({vendor_id or '-'})")
    click.echo(f"  hard rules: {', '.join(hard_rules) or 'none'}")
    click.echo("  reasons:")
    for reason in json.loads(reasons):
        click.echo(f"    [{reason['code']}] {reason['text']}")
    click.echo("  ranked alternatives:")
    for rank, candidate in enumerate(json.loads(candidates), start=1):
        click.echo(f"    {rank}. {candidate['company_name']} ({candidate['vendor_id']}): "
                   f"{candidate['probability']:.1%}, name {candidate['name_similarity']:.0f}% "
                   f"[{', '.join(candidate['evidence'])}]")
    for action, vid, reason, author, at in history:
        click.echo(f"  decided: {action} {vid or ''} by {author} at {at:%Y-%m-%d %H:%M} {reason or ''}".rstrip())


def _decide(qonto_id: str, action: str, author: str, vendor_id: str | None = None, reason: str | None = None) -> None:
    database = existing_database()
    repo = MatchRepository()
    with database.connect() as con:
        scored = con.execute("SELECT decision, vendor_id FROM scored_matches WHERE qonto_id = ?", [qonto_id]).fetchone()
        if scored is None:
            raise click.ClickException(f"no scored record {qonto_id}: materialise scored_matches for its day first")
        if action == "approve" and scored[1] is None:
            raise click.ClickException(f"{qonto_id} has no candidate vendor to approve; use `well review pin "
                                       f"{qonto_id} --vendor VENDOR_ID`")
        if vendor_id is not None and con.execute("SELECT 1 FROM melio_vendors WHERE vendor_id = ?",
                                                  [vendor_id]).fetchone() is None:
            raise click.ClickException(f"unknown Melio vendor {vendor_id!r} (see melio_vendors)")
        try:
            override = repo.record_decision(con, qonto_id=qonto_id, action=action, author=author,
                                            vendor_id=vendor_id, reason=reason)
        except StaleRecordError as exc:
            raise click.ClickException(str(exc)) from None
    target = f" → {override.vendor_id}" if override.vendor_id and action != "refuse" else ""
    click.echo(f"{qonto_id}: {action}{target} recorded by {author} (was {scored[0]})")


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
