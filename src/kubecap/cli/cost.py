"""``kubecap cost``: what workloads, namespaces and clusters cost, what idle nodes waste, next month's bill.

Reads the stored daily profiles and node figures (kubecap collect gathers them); prices come
from the ``cost`` settings with the overrides saved in the UI's Settings on top, the flags
overriding the default price. Exit codes: 0 printed;
2 bad input or nothing stored for the filters (one sentence on stderr); 1 a bug.
"""

from __future__ import annotations

import csv
import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

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
from kubecap.cli.live import live_config, parse_selector
from kubecap.config import CostSettings, PriceSettings, load_settings
from kubecap.config import Settings as KubecapSettings
from kubecap.cost import Level, Price, Prices
from kubecap.cost.service import CostHistory, CostReport, build_report, read_history
from kubecap.domain.usage import UsageProfile
from kubecap.errors import ConfigError


def _price(p: PriceSettings) -> Price:
    return Price(p.cpu_price, p.memory_price)


def prices_from(settings: CostSettings, cpu_price: float | None, memory_price: float | None) -> Prices:
    """The configured prices, with the flags (when given) replacing the default price."""
    default = Price(
        settings.cpu_price if cpu_price is None else cpu_price,
        settings.memory_price if memory_price is None else memory_price,
    )
    return Prices(
        default,
        {name: _price(p) for name, p in settings.clusters.items()},
        {name: _price(p) for name, p in settings.pools.items()},
    )


def _print(report: CostReport, level: Level, output: ReportFormat) -> None:
    if output is ReportFormat.json:
        outlook = report.outlook
        document = {
            "by": level.value,
            "lines": [line.to_dict() for line in report.lines],
            "idle": {
                "usd": round(sum(n.usd for n in report.idle), 4),
                "monthly_usd": round(report.idle_monthly_usd, 2),
                "nodes": sorted({f"{n.cluster}/{n.node}" for n in report.idle}),
            },
            "next_month": None
            if outlook is None
            else {
                "monthly_usd": round(outlook.monthly_usd, 2),
                "method": outlook.method,
                "reason": outlook.reason,
            },
        }
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    if output is ReportFormat.csv:
        writer = csv.DictWriter(sys.stdout, ["key", "days", "cpu_usd", "memory_usd", "usd", "monthly_usd"])
        writer.writeheader()
        writer.writerows(line.to_dict() for line in report.lines)
        return
    table = Table(level.value, "days", "CPU $", "memory $", "total $", "$ / month")
    for line in report.lines:
        table.add_row(
            line.key,
            str(line.days),
            f"{line.cpu_usd:,.2f}",
            f"{line.memory_usd:,.2f}",
            f"{line.usd:,.2f}",
            f"{line.monthly_usd:,.2f}",
        )
    Console().print(table)
    print(f"idle nodes: ${report.idle_monthly_usd:,.2f} a month")
    if report.outlook is not None:
        print(f"next month: ${report.outlook.monthly_usd:,.2f} ({report.outlook.method})")


def _selected(
    settings: KubecapSettings, profiles: list[UsageProfile], selector: str, cluster: str | None
) -> list[UsageProfile]:
    """The profiles of workloads whose labels, read live from the configured clusters, match ``selector``."""
    parsed = parse_selector(selector)
    configured = [c for c in settings.clusters if cluster is None or c.name == cluster]
    if parsed is None or not configured:
        raise ConfigError(
            "--selector needs the workloads' labels, which are read live: pass --config with the cluster"
        )
    live = run(live_config(settings, configured, None))
    chosen = {ref for ref, labels in live.labels.items() if parsed.matches(labels)}
    kept = [p for p in profiles if p.workload in chosen]
    if not kept:
        raise ConfigError(f"no workload with usage history matches --selector {selector!r}: check the labels")
    return kept


def cost_command(
    by: Annotated[
        Level, typer.Option("--by", help="Roll costs up per workload, namespace or cluster.")
    ] = Level.WORKLOAD,
    days: Annotated[
        int, typer.Option("--days", min=1, help="Days of history, ending on the last stored.")
    ] = 7,
    cluster: ClusterOption = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Only this namespace.")] = None,
    selector: Annotated[
        str | None,
        typer.Option(
            "--selector", "-l", help="Only workloads whose live labels match, as kubectl: 'app=web'."
        ),
    ] = None,
    cpu_price: Annotated[
        float | None,
        typer.Option("--cpu-price", help="US dollars per core-hour (default: settings, OpenCost's)."),
    ] = None,
    memory_price: Annotated[
        float | None,
        typer.Option("--memory-price", help="US dollars per GiB-hour (default: settings, OpenCost's)."),
    ] = None,
    output: FormatOption = ReportFormat.table,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Cost per workload, namespace or cluster (max(request, usage) x price), idle nodes and next month."""
    settings = load_settings(config, database_url=database_url)
    prices = prices_from(settings.cost, cpu_price, memory_price)

    async def read() -> tuple[CostHistory, list[tuple[str, str, Price]]]:
        async with wiring.store(settings) as store:
            history = await read_history(store, days=days, cluster=cluster, namespace=namespace)
            saved = [
                (o.scope, o.name, Price(o.cpu_price, o.memory_price)) for o in await store.price_overrides()
            ]
            return history, saved

    history, saved = run(read())
    # The prices saved in the UI's Settings win over the file's, as in the API and the UI.
    prices = prices.with_overrides(saved)
    profiles, nodes = history.profiles, history.nodes
    if selector is not None:
        profiles = _selected(settings, profiles, selector, cluster)
    report = build_report(profiles, [] if namespace or selector else nodes, prices, by)
    _print(report, by, output)
    err.print(f"{len(report.lines)} {by.value}s priced over the last {days} days", highlight=False)
