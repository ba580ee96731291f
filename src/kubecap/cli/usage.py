"""Commands of the usage history: collect and report."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kubecap import wiring
from kubecap.cli.common import (
    ClusterOption,
    ConfigOption,
    DatabaseOption,
    FormatOption,
    ReportFormat,
    err,
    run,
)
from kubecap.config import ClusterSettings, Settings, load_settings
from kubecap.domain.usage import UsageProfile
from kubecap.domain.window import DailyWindow, parse_timezone
from kubecap.errors import ConfigError
from kubecap.metrics.collector import CollectionReport, FailureHook, Outcome, collect, plan_windows
from kubecap.ports import UsageSource, UsageStore
from kubecap.report.formatters import FORMATTERS
from kubecap.report.usage import default_window, usage_report

if TYPE_CHECKING:
    from kubecap.store import Store


def collect_command(
    days: Annotated[int, typer.Option(min=1, max=400, help="How many local days, today included.")] = 14,
    cluster: ClusterOption = None,
    prometheus_url: Annotated[
        str | None, typer.Option(help="Read one cluster named 'default' from this Prometheus URL.")
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Last local day to collect, YYYY-MM-DD (default: today).", show_default=False),
    ] = None,
    force: Annotated[bool, typer.Option(help="Collect again windows that are already complete.")] = False,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Collect daily peak-window and whole-day usage from Prometheus into the store.

    Windows that have not ended are skipped, windows already complete are kept (unless
    --force), and an interrupted run resumes where it stopped when run again. A window that
    fails is notified to the channels subscribed to collection_failure (see docs/operations.md).
    """
    last_day = _parse_day(until)
    settings = load_settings(config, database_url=database_url, prometheus_url=prometheus_url)
    clusters = settings.cluster(cluster)
    if not clusters:
        raise ConfigError(
            "no cluster is configured: pass --prometheus-url, set KUBECAP_PROMETHEUS_URL, or list clusters in --config"
        )
    for report in run(collect_clusters(settings, clusters, days, force, until=last_day)):
        print_collection(report)


def _parse_day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--until {text!r} is not a date: write it as YYYY-MM-DD") from None


async def collect_clusters(
    settings: Settings, clusters: list[ClusterSettings], days: int, force: bool, *, until: date | None = None
) -> list[CollectionReport]:
    now = datetime.now(UTC)
    reports = []
    async with wiring.store(settings) as store:
        for cluster in clusters:
            windows = plan_windows(days, cluster.peaks(), parse_timezone(cluster.timezone), now, until=until)
            async with wiring.usage_source(cluster) as source:
                reports.append(
                    await _collect_with_progress(
                        source, store, windows, now, force, on_failure=failure_notifier(settings, store)
                    )
                )
    return reports


def failure_notifier(settings: Settings, store: Store) -> FailureHook:
    """Notify and audit a failed window (ops' hook), with a notifier from the settings and the store."""
    from kubecap.cli.ops import notifier
    from kubecap.ops.notify import Notifier, collection_failure_notifier

    async def make() -> Notifier:
        return notifier(settings, await store.notification_channels())

    return collection_failure_notifier(make, store, warn=lambda text: err.print(f"warning: {text}"))


async def _collect_with_progress(
    source: UsageSource,
    store: UsageStore,
    windows: list[DailyWindow],
    now: datetime,
    force: bool,
    *,
    on_failure: FailureHook | None = None,
) -> CollectionReport:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task(f"collecting {source.cluster}", total=len(windows))

        def advance(window: DailyWindow, outcome: Outcome) -> None:
            bar.update(task, advance=1, description=f"{source.cluster} {window.day} {window.name}: {outcome}")

        return await collect(
            source, store, windows, now=now, force=force, progress=advance, on_failure=on_failure
        )


def print_collection(report: CollectionReport) -> None:
    parts = [f"{report.count(o)} {o.value}" for o in Outcome if report.count(o)]
    nodes = f" and {report.node_rows} node rows" if report.node_rows else ""
    err.print(
        f"{report.cluster}: {', '.join(parts)}; {report.rows} rows{nodes} from {report.queries} queries"
    )
    for warning in report.warnings:
        err.print(f"  warning: {warning}")


def report_command(
    cluster: ClusterOption = None,
    window: Annotated[
        str | None, typer.Option(help="Window to report: a peak window like 10:00-11:30, or 'day'.")
    ] = None,
    namespace: Annotated[str | None, typer.Option(help="Only this namespace.")] = None,
    output: FormatOption = ReportFormat.table,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Usage against requests per workload container, from the stored history."""
    settings = load_settings(config, database_url=database_url)
    print_report(settings, cluster=cluster, window=window, namespace=namespace, output=output)


def print_report(
    settings: Settings,
    *,
    cluster: str | None,
    window: str | None,
    namespace: str | None,
    output: ReportFormat,
) -> None:
    async def load() -> list[UsageProfile]:
        async with wiring.store(settings) as store:
            return list(await store.usage(cluster=cluster, namespace=namespace))

    profiles = run(load())
    chosen = window or default_window(profiles)
    if chosen is None:
        raise ConfigError("the store holds no usage yet: run `kubecap collect` first")
    rows = usage_report(profiles, chosen)
    if not rows:
        raise ConfigError(f"no usage rows for window {chosen!r}: pick a collected window with --window")
    FORMATTERS[output.value](rows, sys.stdout)
