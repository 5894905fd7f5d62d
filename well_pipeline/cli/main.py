"""The `well` command line: everything that is not Dagster itself (sandboxes, secrets, Qonto connection)."""

from __future__ import annotations

import logging
from typing import Any

import click

from well_pipeline.cli.common import WORKSPACE_ENV, WORKSPACE_META, WellGroup
from well_pipeline.cli.delivery import delivery
from well_pipeline.cli.qonto import qonto
from well_pipeline.cli.review import review
from well_pipeline.cli.sandbox import sandbox
from well_pipeline.cli.secrets import secrets
from well_pipeline.cli.settings import settings
from well_pipeline.cli.workspace import workspace

# The modules of the `sandbox` extra's packages (pyproject.toml; a test keeps the two equal): production never
# imports them, an import-linter contract sees to it.
SANDBOX_ONLY_MODULES = frozenset({"aiosmtpd", "PIL"})
SANDBOX_EXTRA_HINT = "install the sandbox extra: pip install 'well-pipeline[sandbox]'"


class WellCli(WellGroup):
    """`well`: a command that needs the sandbox extra says how to install it instead of printing an ImportError.

    `pip install well-pipeline` leaves out what only the sandboxes use (aiosmtpd, Pillow); the `well sandbox`
    commands import them when they run, so the group stays listed and explains itself.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as exc:
            package = (exc.name or "").partition(".")[0]
            if package not in SANDBOX_ONLY_MODULES:
                raise
            raise click.ClickException(f"this command needs {package}, which only the sandboxes use: "
                                       f"{SANDBOX_EXTRA_HINT}") from None


@click.group(cls=WellCli, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.option("--workspace", "-w", "workspace_id", envvar=WORKSPACE_ENV, metavar="ID",
              help=f"The workspace (company) to work on (${WORKSPACE_ENV}); default: the only one. "
                   "`well workspace list` shows them.")
@click.pass_context
def cli(ctx: click.Context, log_level: str, workspace_id: str | None) -> None:
    """Well: Qonto supplier invoices into Melio, safely and without duplicates."""
    ctx.meta[WORKSPACE_META] = workspace_id or None
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


cli.add_command(sandbox)
cli.add_command(secrets)
cli.add_command(settings)
cli.add_command(qonto)
cli.add_command(delivery)
cli.add_command(review)
cli.add_command(workspace)

if __name__ == "__main__":  # pragma: no cover
    cli()
