"""Cost: per workload, namespace or cluster; idle nodes; next month's outlook; savings of recommendations.

Thin over ``kubecap.cost.service`` (the same report ``kubecap cost`` prints), priced at the
prices in force (the settings file's, with the overrides saved in Settings on top);
``cpu_price``/``memory_price`` replace the default price for one answer, as the CLI's flags
do. Lists page like every other list (offset, limit, sort, q). Read-only: viewer.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from kubecap.api import queries
from kubecap.api.context import ApiContext, context
from kubecap.api.listing import page
from kubecap.api.security import Viewer
from kubecap.cost import Level, Price, Prices
from kubecap.cost.service import CostReport, build_report, idle_by_node, read_history, savings
from kubecap.domain.labels import LabelSelector, SelectorError
from kubecap.domain.usage import UsageProfile
from kubecap.errors import ConfigError

router = APIRouter(prefix="/api/cost", tags=["cost"])
Offset = Query(0, ge=0)
Limit = Query(100, ge=1, le=1000)
Days = Query(7, ge=1, le=400, description="days of history, ending on the last stored whole day")
CpuPrice = Query(None, description="US dollars per core-hour, replacing the default price")
MemoryPrice = Query(None, description="US dollars per GiB-hour, replacing the default price")
Selector = Query(None, description="workloads whose live labels match, as kubectl: app=web,tier!=db")


async def prices(ctx: ApiContext, cpu_price: float | None, memory_price: float | None) -> Prices:
    """The prices in force, the default replaced by the query's (checked: one sentence, 422)."""
    base = await queries.prices_in_force(ctx)
    if cpu_price is None and memory_price is None:
        return base
    default = Price(
        base.default.cpu if cpu_price is None else cpu_price,
        base.default.memory if memory_price is None else memory_price,
    )
    return Prices(default, base.clusters, base.pools)


async def _selected(ctx: ApiContext, profiles: list[UsageProfile], selector: str) -> list[UsageProfile]:
    """Profiles of the workloads whose labels, read live from the clusters' APIs, match ``selector``."""
    try:
        parsed = LabelSelector.parse(selector)
    except SelectorError as exc:
        raise ConfigError(str(exc)) from None
    clusters = {p.workload.cluster for p in profiles}
    missing = sorted(c for c in clusters if c not in ctx.live.clusters)
    if missing:
        raise ConfigError(
            f"selector {selector!r} needs the workloads' labels, read live, but cluster {missing[0]!r} has no "
            "Kubernetes API configured: set its kubernetes settings or drop the selector"
        )
    chosen = set()
    for name in clusters:
        for w in await ctx.live.clusters[name].list_workloads():
            if parsed.matches(w.labels):
                chosen.add(w.ref)
    return [p for p in profiles if p.workload in chosen]


async def report(
    ctx: ApiContext,
    *,
    by: Level,
    days: int,
    cluster: str | None,
    namespace: str | None = None,
    selector: str | None = None,
    cpu_price: float | None = None,
    memory_price: float | None = None,
) -> CostReport:
    history = await read_history(ctx.store, days=days, cluster=cluster, namespace=namespace)
    profiles = history.profiles
    if selector:
        profiles = await _selected(ctx, profiles, selector)
    # Idle nodes belong to a cluster, not to a namespace or a label selection.
    nodes = [] if namespace or selector else history.nodes
    return build_report(profiles, nodes, await prices(ctx, cpu_price, memory_price), by)


@router.get("")
async def cost(
    principal: Viewer,
    request: Request,
    by: Level = Level.WORKLOAD,
    days: int = Days,
    cluster: str | None = None,
    namespace: str | None = None,
    selector: str | None = Selector,
    cpu_price: float | None = CpuPrice,
    memory_price: float | None = MemoryPrice,
    offset: int = Offset,
    limit: int = Limit,
    sort: str | None = None,
    q: str | None = Query(None, description="substring of the workload, namespace or cluster"),
) -> dict[str, Any]:
    """Cost per workload, namespace or cluster: max(request, usage) × price over the days, and per month."""
    r = await report(
        context(request),
        by=by,
        days=days,
        cluster=cluster,
        namespace=namespace,
        selector=selector,
        cpu_price=cpu_price,
        memory_price=memory_price,
    )
    rows = [line.to_dict() for line in r.lines]
    return {
        "by": by.value,
        "total_usd": round(sum(line.usd for line in r.lines), 4),
        "total_monthly_usd": round(sum(line.monthly_usd for line in r.lines), 2),
        **page(rows, offset=offset, limit=limit, sort=sort, search=q),
    }


@router.get("/idle-nodes")
async def idle_nodes(
    principal: Viewer,
    request: Request,
    days: int = Days,
    cluster: str | None = None,
    cpu_price: float | None = CpuPrice,
    memory_price: float | None = MemoryPrice,
    offset: int = Offset,
    limit: int = Limit,
    sort: str | None = None,
    q: str | None = Query(None, description="substring of the node, pool or cluster"),
) -> dict[str, Any]:
    """Allocatable capacity no pod requests, per node, and what it costs per month at its pool's price."""
    r = await report(
        context(request),
        by=Level.CLUSTER,
        days=days,
        cluster=cluster,
        cpu_price=cpu_price,
        memory_price=memory_price,
    )
    rows = [
        {
            "cluster": n.cluster,
            "node": n.node,
            "pool": n.pool,
            "days": n.days,
            "idle_cores": round(n.idle_cores, 4),
            "idle_gib": round(n.idle_gib, 4),
            "monthly_usd": round(n.monthly_usd, 2),
        }
        for n in idle_by_node(r.idle)
    ]
    return {
        "total_monthly_usd": round(r.idle_monthly_usd, 2),
        **page(rows, offset=offset, limit=limit, sort=sort, search=q),
    }


@router.get("/outlook")
async def outlook(
    principal: Viewer,
    request: Request,
    days: int = Query(28, ge=1, le=400, description="days of history the outlook reads"),
    cluster: str | None = None,
    namespace: str | None = None,
    cpu_price: float | None = CpuPrice,
    memory_price: float | None = MemoryPrice,
) -> dict[str, Any]:
    """Next month's cost of the workloads: a forecast of the daily cost, or the last 7 days' mean (and why)."""
    r = await report(
        context(request),
        by=Level.CLUSTER,
        days=days,
        cluster=cluster,
        namespace=namespace,
        cpu_price=cpu_price,
        memory_price=memory_price,
    )
    o = r.outlook
    if o is None:  # pragma: no cover - read_history refuses an empty history first
        return {"monthly_usd": None, "method": None, "reason": "no history"}
    return {"monthly_usd": round(o.monthly_usd, 2), "method": o.method, "reason": o.reason}


@router.get("/savings")
async def recommendation_savings(
    principal: Viewer,
    request: Request,
    strategy: str | None = Query(None, description="the strategy (default: the API's default strategy)"),
    cluster: str | None = None,
    namespace: str | None = None,
    cpu_price: float | None = CpuPrice,
    memory_price: float | None = MemoryPrice,
    offset: int = Offset,
    limit: int = Limit,
    sort: str | None = None,
    q: str | None = Query(None, description="substring of the workload or container"),
) -> dict[str, Any]:
    """What applying each recommendation saves per month at the prices in force (negative: costs more)."""
    ctx = context(request)
    chosen = strategy or queries.DEFAULT_STRATEGY
    recs = await ctx.store.recommendations(cluster=cluster, strategy=chosen, namespace=namespace)
    found = savings(recs, await prices(ctx, cpu_price, memory_price))
    rows = [
        {
            "workload": s.workload,
            "container": s.container,
            "strategy": s.strategy,
            "cpu_core_hours": round(s.cpu_core_hours, 4),
            "mem_gib_hours": round(s.mem_gib_hours, 4),
            "monthly_usd": round(s.monthly_usd, 2),
        }
        for s in found
    ]
    return {
        "strategy": chosen,
        "total_monthly_usd": round(sum(s.monthly_usd for s in found), 2),
        **page(rows, offset=offset, limit=limit, sort=sort, search=q),
    }
