"""`well secrets`: put credentials into the encrypted secret store, check and repair it (values are never printed).

Every store problem (lost or wrong key, damaged file or entry) reaches the terminal as one clear error with
its recovery steps and a non-zero exit code, never as a traceback: `SecretErrorsGroup` turns them into
`click.ClickException`s for every command of the group (the `well qonto` commands use it too).
"""

from __future__ import annotations

import os
from typing import Any

import click

from well_pipeline.adapters.secrets import KNOWN_SECRETS, SecretStore, SecretStoreError
from well_pipeline.settings import Settings, SettingsError
from well_pipeline.workspaces import secret_store_for

KNOWN = list(KNOWN_SECRETS)


class SecretErrorsGroup(click.Group):
    """A command group whose commands report secret-store and settings errors as plain CLI errors."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (SecretStoreError, SettingsError) as exc:
            raise click.ClickException(str(exc)) from None


def open_store(settings: Settings | None = None) -> SecretStore:
    """The current workspace's secret store (key file from `secret_key_file`), seeing only its `WELL_SECRET_*`
    variables (`WELL_SECRET_<WS>__<NAME>`; a bare `WELL_SECRET_<NAME>` only with a single workspace)."""
    from well_pipeline.cli.common import current_settings  # (cli.common imports the storage; secrets stay light)

    return secret_store_for(settings or current_settings())


@click.group(cls=SecretErrorsGroup)
def secrets() -> None:
    """Encrypted credentials (Fernet); WELL_SECRET_<NAME> variables override them."""


@secrets.command("set")
@click.argument("name", type=click.Choice(KNOWN))
@click.option("--value-from-env", metavar="VAR", help="Read the value from this environment variable.")
def set_secret(name: str, value_from_env: str | None) -> None:
    """Store NAME, read from a hidden prompt (or an environment variable).

    The first secret of a new store creates its key; a store whose key is missing is an error, never a new key.
    """
    if value_from_env:
        value = os.environ.get(value_from_env)
        if not value:
            raise click.ClickException(f"environment variable {value_from_env} is empty or not set")
    else:
        value = click.prompt(f"{name}", hide_input=True)
    open_store().set(name, value)
    click.echo(f"stored {name} (encrypted)")


@secrets.command("list")
def list_secrets() -> None:
    """Names of stored secrets and when each was last updated."""
    names = open_store().names()
    if not names:
        click.echo("no secrets stored")
    for name, updated in sorted(names.items()):
        click.echo(f"{name}\tupdated {updated}")


@secrets.command("delete")
@click.argument("name", type=click.Choice(KNOWN))
def delete_secret(name: str) -> None:
    """Remove NAME from the store."""
    click.echo(f"deleted {name}" if open_store().delete(name) else f"{name} was not stored")


@secrets.command("check")
def check_secrets() -> None:
    """Verify the key opens every stored secret: names and status only; exit code 1 on any problem."""
    report = open_store().check()
    click.echo(f"store: {report.store}")
    click.echo(f"key:   {report.key_source}" + (f" (key id {report.key_id})" if report.key_id else ""))
    if not report.secrets:
        click.echo("no secrets stored")
    width = max((len(s.name) for s in report.secrets), default=0)
    for status in report.secrets:
        line = f"  {status.name:<{width}}  {status.state}"
        if status.detail:
            line += f" ({status.detail})"
        if status.updated_at:
            line += f"  updated {status.updated_at}"
        click.echo(line)
    for note in report.notes:
        click.echo(f"note: {note}")
    if not report.ok:
        problems = "\n\n".join(report.problems)
        raise click.ClickException(f"{len(report.problems)} problem(s) with the secret store:\n{problems}")
    if any(status.state == "ok" for status in report.secrets):
        click.echo("all stored secrets open with this key")


@secrets.command("reset")
@click.argument("name", default="")
@click.option("--all", "reset_all", is_flag=True,
              help="Move the whole store aside (unreadable store, or key lost for good); nothing is deleted.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset_secret(name: str, reset_all: bool, yes: bool) -> None:
    """Remove NAME (readable or not) so it can be set again; no key needed.

    With --all, the store file is moved aside (kept, with a timestamped name) and the next `well secrets set`
    starts a new store.
    """
    if bool(name) == reset_all:
        raise click.UsageError("give one secret NAME, or --all")
    store = open_store()
    if reset_all:
        if not store.path.exists():
            click.echo("no secret store to reset")
            return
        if not yes:
            click.confirm(f"Move the secret store {store.path} aside? Every stored secret will have to be set "
                          "again and Qonto reconnected", abort=True)
        aside = store.reset_all()
        click.echo(f"moved the secret store aside to {aside}; set your secrets again with `well secrets set NAME` "
                   "and reconnect Qonto with `well qonto connect`")
        return
    stored = store.names()
    if name not in stored:
        listed = ", ".join(sorted(stored)) or "none"
        raise click.ClickException(f"{name} is not in the secret store (stored: {listed})")
    if not yes:
        click.confirm(f"Remove {name} from the secret store? Its value will be gone", abort=True)
    store.delete(name)
    again = "`well qonto connect`" if name == "qonto_refresh_token" else f"`well secrets set {name}`"
    click.echo(f"removed {name}; set it again with {again}")
