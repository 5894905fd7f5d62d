"""`well secrets`: put credentials into the encrypted secret store (values are never printed)."""

from __future__ import annotations

import click

from well_pipeline.adapters.secrets import SecretStore
from well_pipeline.settings import load_settings

KNOWN = ["qonto_client_secret", "qonto_api_secret", "qonto_staging_token", "qonto_refresh_token", "smtp_password"]


def _store() -> SecretStore:
    return SecretStore(load_settings().secrets_path)


@click.group()
def secrets() -> None:
    """Encrypted credentials (Fernet) in the data directory; WELL_SECRET_<NAME> variables override them."""


@secrets.command("set")
@click.argument("name", type=click.Choice(KNOWN))
@click.option("--value-from-env", metavar="VAR", help="Read the value from this environment variable.")
def set_secret(name: str, value_from_env: str | None) -> None:
    """Store NAME, read from a hidden prompt (or an environment variable)."""
    import os

    if value_from_env:
        value = os.environ.get(value_from_env)
        if not value:
            raise click.ClickException(f"environment variable {value_from_env} is empty or not set")
    else:
        value = click.prompt(f"{name}", hide_input=True)
    _store().set(name, value)
    click.echo(f"stored {name} (encrypted)")


@secrets.command("list")
def list_secrets() -> None:
    """Names of stored secrets and when each was last updated."""
    names = _store().names()
    if not names:
        click.echo("no secrets stored")
    for name, updated in sorted(names.items()):
        click.echo(f"{name}\tupdated {updated}")


@secrets.command("delete")
@click.argument("name", type=click.Choice(KNOWN))
def delete_secret(name: str) -> None:
    """Remove NAME from the store."""
    click.echo(f"deleted {name}" if _store().delete(name) else f"{name} was not stored")
