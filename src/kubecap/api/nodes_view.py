"""The nodes of each cluster: live load and taints where a cluster API (and Prometheus) is wired,
the latest stored daily figures otherwise. Every row says which it shows (``source``)."""

from __future__ import annotations

from typing import Any

from kubecap.api.context import ApiContext
from kubecap.domain.node import NodeUsage
from kubecap.errors import KubecapError
from kubecap.scheduling.load import LoadSnapshot, ResourceLoad


def _daily(n: NodeUsage) -> dict[str, Any]:
    return {
        "cluster": n.cluster,
        "node": n.node,
        "source": "daily",
        "day": n.day.isoformat(),
        "pool": n.pool,
        "cpu_p99": n.cpu_p99,
        "mem_p99": n.mem_p99,
        "cpu_allocatable": n.cpu_allocatable,
        "mem_allocatable": n.mem_allocatable,
        "cpu_requests": n.cpu_requests,
        "mem_requests": n.mem_requests,
        "daemonset_only": n.daemonset_only,
    }


def _share(load: ResourceLoad, span: str) -> float | None:
    figure = getattr(load, span)
    return None if figure is None else figure.value


async def nodes(ctx: ApiContext, cluster: str | None) -> dict[str, Any]:
    """``{"items": rows, "problems": [...]}``; rows are live for clusters with an API, daily otherwise.

    A live row's ``load`` says where its load figures come from: ``live`` (the node-load cache:
    shares of allocatable), ``daily`` (no cache for the cluster, e.g. no Prometheus: the latest
    stored day's P99 in cores and bytes) or ``none``."""
    latest: dict[tuple[str, str], NodeUsage] = {}
    for n in await ctx.store.node_usage(cluster=cluster):
        latest[(n.cluster, n.node)] = n
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    live = {name: port for name, port in ctx.live.clusters.items() if cluster is None or name == cluster}
    for name, port in sorted(live.items()):
        try:
            listed = await port.list_nodes()
        except KubecapError as exc:
            problems.append(f"cluster {name!r}: {exc}; showing the daily figures")
            live.pop(name)
            continue
        snapshot: LoadSnapshot | None = None
        source = ctx.live.node_load.get(name)
        if source is not None:
            try:
                snapshot = await source()
            except KubecapError as exc:
                problems.append(f"cluster {name!r}: node load unavailable ({exc})")
            if snapshot is not None:
                problems += [f"cluster {name!r}: {p}" for p in snapshot.problems]
        for node in listed:
            load = snapshot.load(node.name) if snapshot else None
            daily = latest.get((name, node.name))
            rows.append(
                {
                    "cluster": name,
                    "node": node.name,
                    "source": "live",
                    # Where the load figures come from: the node-load cache, else the latest stored day.
                    "load": "live" if load else "daily" if daily else "none",
                    "day": daily.day.isoformat() if daily else None,
                    "cpu_p99": daily.cpu_p99 if daily else None,
                    "mem_p99": daily.mem_p99 if daily else None,
                    "taints": [f"{t.key}{'=' + t.value if t.value else ''}:{t.effect}" for t in node.taints],
                    "unschedulable": node.unschedulable,
                    "cpu_avg_5m": _share(load.cpu, "avg_5m") if load else None,
                    "cpu_max_1h": _share(load.cpu, "max_1h") if load else None,
                    "mem_avg_5m": _share(load.memory, "avg_5m") if load else None,
                    "mem_max_1h": _share(load.memory, "max_1h") if load else None,
                    "load_at": snapshot.taken_at.isoformat() if snapshot else None,
                    "cpu_allocatable": node.allocatable.get("cpu"),
                    "mem_allocatable": node.allocatable.get("memory"),
                    "pool": daily.pool if daily else None,
                }
            )
    rows += [_daily(n) for key, n in latest.items() if key[0] not in live]
    return {"items": rows, "problems": problems}
