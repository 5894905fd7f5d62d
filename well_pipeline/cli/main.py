"""The `well` command line: everything that is not Dagster itself (sandboxes, secrets, Qonto connection)."""

from __future__ import annotations

import logging

import click

from well_pipeline.cli.common import WellGroup
from well_pipeline.cli.delivery import delivery
from well_pipeline.cli.qonto import qonto
from well_pipeline.cli.review import review
from well_pipeline.cli.sandbox import sandbox
from well_pipeline.cli.secrets import secrets
from well_pipeline.cli.settings import settings


@click.group(cls=WellGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def cli(log_level: str) -> None:
    """Well: Qonto supplier invoices into Melio, safely and without duplicates."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


cli.add_command(sandbox)
cli.add_command(secrets)
cli.add_command(settings)
cli.add_command(qonto)
cli.add_command(delivery)
cli.add_command(review)

if __name__ == "__main__":  # pragma: no cover
    cli()
