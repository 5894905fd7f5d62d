"""Pieces shared by the `well` commands that read or write Well's DuckDB file."""

from __future__ import annotations

import getpass
import os

import click

from well_pipeline.adapters.storage import Database
from well_pipeline.settings import load_settings


def existing_database() -> Database:
    """The configured DuckDB file, or a clear error when nothing was materialised yet."""
    settings = load_settings()
    if not settings.duckdb_path.exists():
        raise click.ClickException(f"no Well database at {settings.duckdb_path}; materialise the assets first")
    return Database(settings.duckdb_path)


def default_author() -> str:
    return os.environ.get("WELL_REVIEWER") or getpass.getuser()


author_option = click.option("--author", default=default_author, show_default="$WELL_REVIEWER or your user name",
                             help="Who decides (kept with the decision).")
