"""`well delivery`: what was sent to Melio, what is held and why, and the decisions only a person makes.

- `confirm ID`: the message of an unconfirmed delivery *is* in Melio (you found its Message-ID there): record it
  as sent. Nothing is e-mailed.
- `resend ID`: approve sending the record's current version (again). The next delivery run sends it once.
- `dismiss ID --reason TEXT`: Qonto changed a delivered record and you made the change to the bill in Melio by
  hand: lift its `CHANGED_AFTER_DELIVERY` hold. Nothing is e-mailed; other holds are refused (see the service).

Every text shown comes through `printable()`: reasons quote supplier names, invoice numbers and server replies,
which may carry terminal control characters.
"""

from __future__ import annotations

import json
from typing import Any

import click

from well_pipeline.cli.common import author_option, open_storage, printable
from well_pipeline.services import delivery as service


@click.group()
def delivery() -> None:
    """Deliveries to the Melio inbox (the outbox)."""


@delivery.command()
def status() -> None:
    """Outbox counts by state, and holds by reason."""
    counts = service.status(open_storage(read_only=True))
    click.echo("outbox: " + (", ".join(f"{printable(s)} {n}" for s, n in counts.states) or "empty"))
    click.echo("held:   " + (", ".join(f"{printable(c)} {n}" for c, n in counts.holds) or "nothing"))


def _shown(value: Any) -> str:
    """A changed field's value: a quoted string, or other JSON values as JSON, escaped either way."""
    if isinstance(value, str):
        return f"'{printable(value)}'"
    return printable(json.dumps(value, ensure_ascii=False, default=str))


@delivery.command()
@click.option("--limit", default=50, show_default=True)
def held(limit: int) -> None:
    """Records delivery holds back for a person, with the reason."""
    records = service.held(open_storage(read_only=True), limit=limit)
    if not records:
        click.echo("nothing is held")
    for record in records:
        click.echo(f"{printable(record.qonto_id)}  {printable(record.code)}: {printable(record.reason)}"
                   + (f" (see {printable(record.related_qonto_id)})" if record.related_qonto_id else ""))
        for change in record.changes:
            click.echo(f"    {printable(change.name)}: {_shown(change.before)} -> {_shown(change.after)}")


@delivery.command()
@click.argument("qonto_id")
@author_option
def confirm(qonto_id: str, author: str) -> None:
    """The unconfirmed e-mail of QONTO_ID is in Melio: record it as sent (no e-mail is sent)."""
    try:
        service.confirm_delivered(open_storage(), qonto_id, author=author)
    except service.DeliveryAdminError as exc:
        raise click.ClickException(printable(str(exc))) from None
    click.echo(f"{printable(qonto_id)}: recorded as delivered, confirmed by {printable(author)}")


@delivery.command()
@click.argument("qonto_id")
@author_option
def resend(qonto_id: str, author: str) -> None:
    """Approve one (re-)send of QONTO_ID's current version; the next delivery run sends it."""
    try:
        version = service.approve_resend(open_storage(), qonto_id, author=author)
    except service.DeliveryAdminError as exc:
        raise click.ClickException(printable(str(exc))) from None
    click.echo(f"{printable(qonto_id)}: re-send of version {version} approved by {printable(author)}; it goes out "
               "on the next run")


@delivery.command()
@click.argument("qonto_id")
@click.option("--reason", required=True, help="What was done in Melio (kept in the delivery audit).")
@author_option
def dismiss(qonto_id: str, reason: str, author: str) -> None:
    """QONTO_ID changed after delivery and the bill in Melio was updated by hand: lift its hold (no e-mail)."""
    try:
        version = service.dismiss_change(open_storage(), qonto_id, reason=reason, author=author)
    except service.DeliveryAdminError as exc:
        raise click.ClickException(printable(str(exc))) from None
    click.echo(f"{printable(qonto_id)}: change to version {version} recorded as applied in Melio by "
               f"{printable(author)}; nothing was sent")
