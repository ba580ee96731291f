"""The Typer application: command registration and the one place errors become exit codes.

Exit codes: 0 success; 2 a problem with the input or the environment (one sentence on
stderr); 3 a named object does not exist; 1 an unexpected error (a bug: please report it).
"""

from __future__ import annotations

import sys

import typer

from kubecap.cli import admin, usage
from kubecap.cli.common import err
from kubecap.errors import KubecapError

app = typer.Typer(
    help="kubecap: Kubernetes capacity control from real usage.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Inspect the settings.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the database.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")

app.command("collect")(usage.collect_command)
app.command("report")(usage.report_command)
app.command("demo")(usage.demo_command)
app.command("version")(admin.version_command)
config_app.command("check")(admin.config_check_command)
db_app.command("upgrade")(admin.db_upgrade_command)


def main() -> None:
    """Entry point: user errors become one sentence and an exit code, never a traceback."""
    try:
        app()
    except KubecapError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted: windows already written are kept; run the command again to resume")
        sys.exit(130)
