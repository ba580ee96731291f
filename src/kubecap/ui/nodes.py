"""Nodes: live load and taints for clusters whose API is wired in this process (the same rows as
GET /api/nodes), the latest stored daily figures for the others; the page says which is which."""

from __future__ import annotations

from typing import Any

from fastapi.responses import RedirectResponse
from nicegui import ui

from kubecap.api.context import ApiContext
from kubecap.api.nodes_view import nodes as node_rows
from kubecap.domain.recommendation import GIB
from kubecap.ui.frame import frame, selected_cluster
from kubecap.ui.session import LOGIN_PATH, page_start
from kubecap.ui.strings import t

LIVE_COLUMNS: list[dict[str, Any]] = [
    {"name": "node", "label": "Node", "field": "node", "sortable": True},
    {"name": "cluster", "label": "Cluster", "field": "cluster"},
    {"name": "cpu", "label": "CPU load", "field": "cpu"},
    {"name": "memory", "label": "Memory load", "field": "memory"},
    {"name": "taints", "label": "Taints", "field": "taints"},
    {"name": "allocatable", "label": "Allocatable", "field": "allocatable"},
]
DAILY_COLUMNS: list[dict[str, Any]] = [
    {"name": "node", "label": "Node", "field": "node", "sortable": True},
    {"name": "cluster", "label": "Cluster", "field": "cluster"},
    {"name": "day", "label": "Day", "field": "day"},
    {"name": "cpu", "label": "CPU P99 / requests / allocatable", "field": "cpu"},
    {"name": "memory", "label": "Memory GiB P99 / requests / allocatable", "field": "memory"},
    {"name": "daemonset_only", "label": "DaemonSets only", "field": "daemonset_only"},
]


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def live_row(r: dict[str, Any]) -> dict[str, Any]:
    if r["load"] == "daily":
        cpu = f"P99 {r['cpu_p99'] or 0:.2f} cores ({r['day']})"
        memory = f"P99 {(r['mem_p99'] or 0) / GIB:.1f} GiB ({r['day']})"
    else:
        cpu = f"{_share(r['cpu_avg_5m'])} / {_share(r['cpu_max_1h'])}"
        memory = f"{_share(r['mem_avg_5m'])} / {_share(r['mem_max_1h'])}"
    return {
        "node": r["node"],
        "cluster": r["cluster"],
        "cpu": cpu,
        "memory": memory,
        "taints": ", ".join(r["taints"]) or "none",
        "allocatable": f"{r['cpu_allocatable']} CPU, {r['mem_allocatable']}",
    }


def daily_row(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "node": r["node"],
        "cluster": r["cluster"],
        "day": r["day"],
        "cpu": f"{r['cpu_p99'] or 0:.2f} / {r['cpu_requests']:.2f} / {r['cpu_allocatable']:.2f}",
        "memory": f"{(r['mem_p99'] or 0) / GIB:.1f} / {r['mem_requests'] / GIB:.1f} / {r['mem_allocatable'] / GIB:.1f}",
        "daemonset_only": r["daemonset_only"],
    }


def register(ctx: ApiContext) -> None:
    @ui.page("/nodes")
    async def nodes_page() -> RedirectResponse | None:
        started = await page_start(ctx)
        if started is None:
            return RedirectResponse(LOGIN_PATH)
        principal, clusters = started
        found = await node_rows(ctx, selected_cluster())
        live = [r for r in found["items"] if r["source"] == "live"]
        daily = [r for r in found["items"] if r["source"] == "daily"]
        with frame(t("nodes"), principal, clusters):
            for problem in found["problems"]:
                ui.label(problem).classes("text-warning")
            if live:
                for load, key in (("live", "nodes_live"), ("daily", "nodes_live_daily_load")):
                    names = ", ".join(sorted({r["cluster"] for r in live if r["load"] == load}))
                    if names:
                        ui.label(t(key, clusters=names)).props('data-testid="nodes-source"')
                ui.table(
                    columns=LIVE_COLUMNS, rows=[live_row(r) for r in live], row_key="node", pagination=50
                ).classes("w-full").props('data-testid="nodes-live-table"')
            if daily or not live:
                names = ", ".join(sorted({r["cluster"] for r in daily})) or "any cluster"
                ui.label(t("nodes_daily", clusters=names)).props('data-testid="nodes-source"')
                ui.table(
                    columns=DAILY_COLUMNS, rows=[daily_row(r) for r in daily], row_key="node", pagination=50
                ).classes("w-full").props('data-testid="nodes-table"')
        return None
