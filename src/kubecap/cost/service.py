"""The cost report the CLI, the API and the UI share: read the history through a narrow store port,
price it with the pure functions of this package.

It does I/O only through ``CostStore`` (kubecap.store.Store honours it), so the package keeps
its import contract: no store, no settings, no server.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

from kubecap.cost.idle import NodeIdleCost, idle_costs
from kubecap.cost.outlook import Outlook, next_month
from kubecap.cost.prices import Prices
from kubecap.cost.workloads import DAY_HOURS, CostLine, Level, container_costs, daily_totals, roll_up
from kubecap.domain.node import NodeUsage
from kubecap.domain.recommendation import MONTH_HOURS, Recommendation, Status
from kubecap.domain.usage import UsageProfile
from kubecap.domain.window import DAY
from kubecap.errors import ConfigError


class CostStore(Protocol):
    async def usage_span(self, *, cluster: str | None = None) -> tuple[date, date] | None: ...

    async def usage(
        self,
        *,
        cluster: str | None = None,
        since: date | None = None,
        until: date | None = None,
        window: str | None = None,
        namespace: str | None = None,
    ) -> list[UsageProfile]: ...

    async def node_usage(
        self, cluster: str | None = None, since: date | None = None, until: date | None = None
    ) -> list[NodeUsage]: ...


@dataclass(frozen=True, slots=True)
class CostHistory:
    """Whole-day profiles and node figures of the last ``days`` days that have whole-day rows."""

    profiles: list[UsageProfile]
    nodes: list[NodeUsage]


async def read_history(
    store: CostStore, *, days: int, cluster: str | None = None, namespace: str | None = None
) -> CostHistory:
    """The history to price; ConfigError (one sentence) when the store holds none for the filters."""
    if days < 1:
        raise ConfigError(f"days {days} must be at least 1")
    span = await store.usage_span(cluster=cluster)
    if span is None:
        where = f" of cluster {cluster!r}" if cluster else ""
        raise ConfigError(f"the store holds no usage history{where} yet: run `kubecap collect` first")
    # The last stored day may hold peak windows only (its whole day is not over): look one
    # day further back and end on the last day that has whole-day rows.
    rows = await store.usage(
        cluster=cluster, since=span[1] - timedelta(days=days), until=span[1], window=DAY, namespace=namespace
    )
    if not rows:
        where = f"namespace {namespace!r}" if namespace else f"cluster {cluster!r}"
        raise ConfigError(f"no whole-day usage history matches {where}: check the namespace and the cluster")
    last = max(r.day for r in rows)
    since = last - timedelta(days=days - 1)
    profiles = [r for r in rows if r.day >= since]
    nodes = await store.node_usage(cluster=cluster, since=since, until=last)
    return CostHistory(profiles, nodes)


@dataclass(frozen=True)
class CostReport:
    lines: list[CostLine]
    idle: list[NodeIdleCost]
    outlook: Outlook | None

    @property
    def idle_monthly_usd(self) -> float:
        return idle_monthly(self.idle)


def build_report(
    profiles: Sequence[UsageProfile], nodes: Sequence[NodeUsage], prices: Prices, level: Level
) -> CostReport:
    if nodes:  # a report without nodes (one namespace, a label selection) prices no pool
        prices.check_pools(n.pool for n in nodes)
    costs = container_costs(profiles, prices)
    return CostReport(roll_up(costs, level), idle_costs(nodes, prices), next_month(daily_totals(costs)))


def idle_monthly(idle: Iterable[NodeIdleCost]) -> float:
    """Idle cost per month: the mean idle cost per day seen × 730 h / 24 h."""
    items = list(idle)
    days = len({n.day for n in items})
    return sum(n.usd for n in items) / days * MONTH_HOURS / DAY_HOURS if days else 0.0


@dataclass(frozen=True, slots=True)
class NodeIdle:
    """One node's idle capacity and its cost per month, over the days seen."""

    cluster: str
    node: str
    pool: str | None
    days: int
    idle_cores: float
    idle_gib: float
    monthly_usd: float


def idle_by_node(idle: Iterable[NodeIdleCost]) -> list[NodeIdle]:
    """Per node: mean idle cores and GiB, and the mean daily idle cost × 730 h / 24 h; most wasteful first."""
    groups: dict[tuple[str, str], list[NodeIdleCost]] = defaultdict(list)
    for n in idle:
        groups[(n.cluster, n.node)].append(n)
    out = [
        NodeIdle(
            cluster,
            node,
            items[-1].pool,
            len(items),
            sum(i.idle_cores for i in items) / len(items),
            sum(i.idle_gib for i in items) / len(items),
            sum(i.usd for i in items) / len(items) * MONTH_HOURS / DAY_HOURS,
        )
        for (cluster, node), items in groups.items()
    ]
    return sorted(out, key=lambda n: (-n.monthly_usd, n.cluster, n.node))


@dataclass(frozen=True, slots=True)
class Saving:
    """What applying one recommendation saves per month at the prices in force (negative: costs more)."""

    workload: str
    container: str
    strategy: str
    cpu_core_hours: float
    mem_gib_hours: float
    monthly_usd: float


def savings(recommendations: Iterable[Recommendation], prices: Prices) -> list[Saving]:
    """Monthly savings of the changed recommendations, repriced at ``prices`` (the recommender's own
    figure uses the default price); largest first. Containers without a current request are left out."""
    out = []
    for rec in recommendations:
        s = rec.savings
        if rec.status is not Status.OK or (s.cpu_core_hours is None and s.mem_gib_hours is None):
            continue
        price = prices.for_cluster(rec.ref.workload.cluster)
        cores, gib = s.cpu_core_hours or 0.0, s.mem_gib_hours or 0.0
        out.append(
            Saving(
                str(rec.ref.workload),
                rec.ref.container,
                rec.strategy,
                cores,
                gib,
                cores * price.cpu + gib * price.memory,
            )
        )
    return sorted(out, key=lambda s: (-s.monthly_usd, s.workload, s.container))
