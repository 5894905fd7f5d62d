"""`well delivery`: what was sent to Melio, what is held and why, and the two decisions only a person makes.

- `confirm ID`: the message of an unconfirmed delivery *is* in Melio (you found its Message-ID there): record it
  as sent. Nothing is e-mailed.
- `resend ID`: approve sending the record's current version (again). The next delivery run sends it once.

Every text shown comes through `printable()`: reasons quote supplier names, invoice numbers and server replies,
which may carry terminal control characters.
"""

from __future__ import annotations

import json
from typing import Any

import click

from well_pipeline.adapters.storage.outbox_repository import OutboxRepository
from well_pipeline.cli.common import author_option, existing_database, printable


@click.group()
def delivery() -> None:
    """Deliveries to the Melio inbox (the outbox)."""


@delivery.command()
def status() -> None:
    """Outbox counts by state, and holds by reason."""
    with existing_database().connect(read_only=True) as con:
        states = con.execute("SELECT state, count(*) FROM outbox GROUP BY 1 ORDER BY 1").fetchall()
        holds = con.execute("SELECT code, count(*) FROM delivery_holds GROUP BY 1 ORDER BY 2 DESC").fetchall()
    click.echo("outbox: " + (", ".join(f"{printable(s)} {n}" for s, n in states) or "empty"))
    click.echo("held:   " + (", ".join(f"{printable(c)} {n}" for c, n in holds) or "nothing"))


def _shown(value: Any) -> str:
    """A changed field's value: a quoted string, or other JSON values as JSON, escaped either way."""
    if isinstance(value, str):
        return f"'{printable(value)}'"
    return printable(json.dumps(value, ensure_ascii=False, default=str))


@delivery.command()
@click.option("--limit", default=50, show_default=True)
def held(limit: int) -> None:
    """Records delivery holds back for a person, with the reason."""
    with existing_database().connect(read_only=True) as con:
        rows = con.execute("SELECT qonto_id, code, reason, related_qonto_id, changed_fields FROM delivery_holds "
                           "ORDER BY updated_at DESC, qonto_id LIMIT ?", [limit]).fetchall()
    if not rows:
        click.echo("nothing is held")
    for qonto_id, code, reason, related, changed in rows:
        click.echo(f"{printable(qonto_id)}  {printable(code)}: {printable(reason)}"
                   + (f" (see {printable(related)})" if related else ""))
        if changed:
            for name, values in json.loads(changed).get("fields", {}).items():
                click.echo(f"    {printable(name)}: {_shown(values['before'])} -> {_shown(values['after'])}")


@delivery.command()
@click.argument("qonto_id")
@author_option
def confirm(qonto_id: str, author: str) -> None:
    """The unconfirmed e-mail of QONTO_ID is in Melio: record it as sent (no e-mail is sent)."""
    with existing_database().connect() as con:
        done = OutboxRepository().confirm_delivered(con, qonto_id, author)
    if not done:
        raise click.ClickException(f"{printable(qonto_id)} has no unconfirmed delivery to confirm")
    click.echo(f"{printable(qonto_id)}: recorded as delivered, confirmed by {printable(author)}")


@delivery.command()
@click.argument("qonto_id")
@author_option
def resend(qonto_id: str, author: str) -> None:
    """Approve one (re-)send of QONTO_ID's current version; the next delivery run sends it."""
    with existing_database().connect() as con:
        try:
            version = OutboxRepository().approve_resend(con, qonto_id, author)
        except KeyError:
            raise click.ClickException(f"no Qonto record {printable(qonto_id)}") from None
    click.echo(f"{printable(qonto_id)}: re-send of version {version} approved by {printable(author)}; it goes out "
               "on the next run")
