"""Nodes: each node's latest daily figures. Live load and taints come with the scheduling services
(kubecap.scheduling), to be wired here when their service is ready."""

from __future__ import annotations

from fastapi.responses import RedirectResponse
from nicegui import ui

from kubecap.api.context import ApiContext
from kubecap.domain.recommendation import GIB
from kubecap.ui.frame import frame, selected_cluster
from kubecap.ui.session import LOGIN_PATH, page_start
from kubecap.ui.strings import t


def register(ctx: ApiContext) -> None:
    @ui.page("/nodes")
    async def nodes_page() -> RedirectResponse | None:
        started = await page_start(ctx)
        if started is None:
            return RedirectResponse(LOGIN_PATH)
        principal, clusters = started
        latest = {}
        for n in await ctx.store.node_usage(cluster=selected_cluster()):
            latest[(n.cluster, n.node)] = n
        rows = [
            {
                "node": n.node,
                "cluster": n.cluster,
                "day": n.day.isoformat(),
                "cpu": f"{n.cpu_p99 or 0:.2f} / {n.cpu_requests:.2f} / {n.cpu_allocatable:.2f}",
                "memory": f"{(n.mem_p99 or 0) / GIB:.1f} / {n.mem_requests / GIB:.1f} / {n.mem_allocatable / GIB:.1f}",
                "daemonset_only": n.daemonset_only,
            }
            for n in latest.values()
        ]
        with frame(t("nodes"), principal, clusters):
            ui.label(t("nodes_note"))
            ui.table(
                columns=[
                    {"name": "node", "label": "Node", "field": "node", "sortable": True},
                    {"name": "cluster", "label": "Cluster", "field": "cluster"},
                    {"name": "day", "label": "Day", "field": "day"},
                    {"name": "cpu", "label": "CPU P99 / requests / allocatable", "field": "cpu"},
                    {"name": "memory", "label": "Memory GiB P99 / requests / allocatable", "field": "memory"},
                    {"name": "daemonset_only", "label": "DaemonSets only", "field": "daemonset_only"},
                ],
                rows=rows,
                row_key="node",
                pagination=50,
            ).classes("w-full").props('data-testid="nodes-table"')
        return None
