"""`well settings`: show every setting, its current value and where to change it."""

from __future__ import annotations

import click

from well_pipeline.settings import ENV_PREFIX, Settings, SettingsError, load_settings


@click.command()
def settings() -> None:
    """Print every setting with its current value and its WELL_<NAME> override."""
    try:
        current = load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    for name, default, doc in Settings.describe():
        click.echo(f"{name} = {getattr(current, name)}    [{ENV_PREFIX}{name.upper()}; default {default}]")
        click.echo(f"    {doc}")
