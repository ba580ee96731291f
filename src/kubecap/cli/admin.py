"""Commands about kubecap itself: version, settings, database."""

from __future__ import annotations

from typing import Annotated

import typer

from kubecap import __version__, wiring
from kubecap.cli.common import ConfigOption, DatabaseOption, err, run
from kubecap.config import load_settings
from kubecap.errors import ConfigError


def version_command() -> None:
    """Print the kubecap version."""
    typer.echo(__version__)


def config_check_command(
    config: ConfigOption = None,
    connect: Annotated[bool, typer.Option(help="Also query each Prometheus and open the database.")] = False,
) -> None:
    """Validate the settings and print every problem as a sentence."""
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(f"problem: {problem}", highlight=False)
        raise typer.Exit(2) from None
    problems = wiring.check_files(settings)
    if connect:
        problems += run(wiring.check_connections(settings))
    for problem in problems:
        err.print(f"problem: {problem}", highlight=False)
    if problems:
        raise typer.Exit(2)
    names = ", ".join(c.name for c in settings.clusters) or "none"
    typer.echo(f"settings are valid; clusters: {names}; database: {wiring.masked_url(settings.database_url)}")


def db_upgrade_command(config: ConfigOption = None, database_url: DatabaseOption = None) -> None:
    """Apply the database migrations (SQLite files are upgraded automatically)."""
    settings = load_settings(config, database_url=database_url)
    revision = wiring.upgrade_database(settings.database_url)
    typer.echo(f"database {wiring.masked_url(settings.database_url)} is at revision {revision}")
