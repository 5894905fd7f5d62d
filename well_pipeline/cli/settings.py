"""`well settings`: show every setting, its current value and where to change it."""

from __future__ import annotations

import click

from well_pipeline.cli.common import current_settings
from well_pipeline.settings import SettingsError
from well_pipeline.settings_doc import cli_text


@click.command()
def settings() -> None:
    """Print every setting (of the chosen workspace) with its current value and its WELL_<NAME> override."""
    try:
        current = current_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(cli_text(current))
