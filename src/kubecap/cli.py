"""The kubecap command line: thin commands that load settings, wire adapters, call a capability.

Exit codes: 0 success; 2 a problem with the input or the environment (one sentence on
stderr); 3 a named object does not exist; 1 an unexpected error (a bug: please report it).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Coroutine
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kubecap import __version__, wiring
from kubecap.config import ClusterSettings, Settings, load_settings
from kubecap.domain.window import DailyWindow, parse_timezone
from kubecap.errors import ConfigError, KubecapError
from kubecap.metrics.collector import CollectionReport, Outcome, collect, plan_windows
from kubecap.report.formatters import FORMATTERS
from kubecap.report.usage import default_window, usage_report

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

err = Console(stderr=True)
T = TypeVar("T")

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML settings file (or KUBECAP_CONFIG).", show_default=False)
]
DatabaseOption = Annotated[
    str | None,
    typer.Option("--database-url", help="sqlite:///path or postgresql://... (or KUBECAP_DATABASE_URL).",
                 show_default=False),
]
ClusterOption = Annotated[str | None, typer.Option("--cluster", help="Only this cluster (default: all).")]


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _settings(config: Path | None, **overrides: Any) -> Settings:
    return load_settings(config, **overrides)


@app.command()
def version() -> None:
    """Print the kubecap version."""
    typer.echo(__version__)


@app.command("collect")
def collect_command(
    days: Annotated[int, typer.Option(min=1, max=400, help="How many local days, today included.")] = 14,
    cluster: ClusterOption = None,
    prometheus_url: Annotated[
        str | None, typer.Option(help="Read one cluster named 'default' from this Prometheus URL.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Collect again windows that are already complete.")] = False,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Collect daily peak-window and whole-day usage from Prometheus into the store."""
    settings = _settings(config, database_url=database_url, prometheus_url=prometheus_url)
    clusters = settings.cluster(cluster)
    if not clusters:
        raise ConfigError(
            "no cluster is configured: pass --prometheus-url, set KUBECAP_PROMETHEUS_URL, or list clusters in --config"
        )
    reports = _run(_collect_all(settings, clusters, days, force))
    for report in reports:
        _print_collection(report)


async def _collect_all(
    settings: Settings, clusters: list[ClusterSettings], days: int, force: bool
) -> list[CollectionReport]:
    now = datetime.now(UTC)
    reports = []
    async with wiring.store(settings) as store:
        for cluster in clusters:
            windows = plan_windows(days, cluster.peaks(), parse_timezone(cluster.timezone), now)
            async with wiring.usage_source(cluster) as source:
                reports.append(await _collect_with_progress(source, store, windows, now, force))
    return reports


async def _collect_with_progress(
    source: Any, store: Any, windows: list[DailyWindow], now: datetime, force: bool
) -> CollectionReport:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task(f"collecting {source.cluster}", total=len(windows))

        def advance(window: DailyWindow, outcome: Outcome) -> None:
            bar.update(task, advance=1, description=f"{source.cluster} {window.day} {window.name}: {outcome}")

        return await collect(source, store, windows, now=now, force=force, progress=advance)


def _print_collection(report: CollectionReport) -> None:
    parts = [f"{report.count(o)} {o.value}" for o in Outcome if report.count(o)]
    err.print(f"{report.cluster}: {', '.join(parts)}; {report.rows} rows from {report.queries} queries")
    for warning in report.warnings:
        err.print(f"  warning: {warning}")


@app.command()
def report(
    cluster: ClusterOption = None,
    window: Annotated[
        str | None, typer.Option(help="Window to report: a peak window like 10:00-11:30, or 'day'.")
    ] = None,
    namespace: Annotated[str | None, typer.Option(help="Only this namespace.")] = None,
    output: Annotated[ReportFormat, typer.Option("--format", "-f", help="Output format.")] = ReportFormat.table,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Usage against requests per workload container, from the stored history."""
    settings = _settings(config, database_url=database_url)
    _print_report(settings, cluster=cluster, window=window, namespace=namespace, output=output)


def _print_report(
    settings: Settings, *, cluster: str | None, window: str | None, namespace: str | None, output: ReportFormat
) -> None:
    async def load() -> list[Any]:
        async with wiring.store(settings) as store:
            return list(await store.usage(cluster=cluster, namespace=namespace))

    profiles = _run(load())
    chosen = window or default_window(profiles)
    if chosen is None:
        raise ConfigError("the store holds no usage yet: run `kubecap collect` first")
    rows = usage_report(profiles, chosen)
    if not rows:
        raise ConfigError(f"no usage rows for window {chosen!r}: pick a collected window with --window")
    FORMATTERS[output.value](rows, sys.stdout)


@app.command()
def demo(
    days: Annotated[int, typer.Option(min=1, max=30, help="Days of simulated history to collect.")] = 14,
    output: Annotated[ReportFormat, typer.Option("--format", "-f", help="Output format.")] = ReportFormat.table,
) -> None:
    """Collect the bundled demo cluster (real traces) into a temporary SQLite file and report it."""
    with tempfile.TemporaryDirectory(prefix="kubecap-demo-") as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        settings = load_settings(None, database_url=database_url, clusters=[wiring.demo_cluster()])
        reports = _run(_collect_all(settings, list(settings.clusters), days, force=False))
        for collected in reports:
            _print_collection(collected)
        _print_report(settings, cluster=None, window=None, namespace=None, output=output)


@config_app.command("check")
def config_check(
    config: ConfigOption = None,
    connect: Annotated[bool, typer.Option(help="Also query each Prometheus and open the database.")] = False,
) -> None:
    """Validate the settings and print every problem as a sentence."""
    try:
        settings = _settings(config)
    except ConfigError as exc:
        for problem in str(exc).split("; "):
            err.print(f"problem: {problem}")
        raise typer.Exit(2) from None
    problems = wiring.check_files(settings)
    if connect:
        problems += _run(wiring.check_connections(settings))
    for problem in problems:
        err.print(f"problem: {problem}")
    if problems:
        raise typer.Exit(2)
    names = ", ".join(c.name for c in settings.clusters) or "none"
    typer.echo(f"settings are valid; clusters: {names}; database: {wiring.masked_url(settings.database_url)}")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None, database_url: DatabaseOption = None) -> None:
    """Apply the database migrations (SQLite files are upgraded automatically)."""
    settings = _settings(config, database_url=database_url)
    revision = wiring.upgrade_database(settings.database_url)
    typer.echo(f"database {wiring.masked_url(settings.database_url)} is at revision {revision}")


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


if __name__ == "__main__":
    main()
