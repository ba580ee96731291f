"""Idle cost of nodes: what is allocatable but reserved by no pod, priced by the node's pool.

Capacity is the node's allocatable (what the scheduler may place), allocated the highest sum
of pod requests that day (node_usage_daily), so idle = allocatable − requests, never below 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from kubecap.cost.prices import Prices
from kubecap.cost.workloads import DAY_HOURS
from kubecap.domain.node import NodeUsage
from kubecap.domain.recommendation import GIB


@dataclass(frozen=True, slots=True)
class NodeIdleCost:
    cluster: str
    node: str
    pool: str | None
    day: date
    idle_cores: float
    idle_gib: float
    cpu_usd: float
    memory_usd: float

    @property
    def usd(self) -> float:
        return self.cpu_usd + self.memory_usd


def idle_costs(nodes: Iterable[NodeUsage], prices: Prices) -> list[NodeIdleCost]:
    """Daily idle cost of every node-day in ``nodes``."""
    out: list[NodeIdleCost] = []
    for n in nodes:
        price = prices.for_node(n.cluster, n.pool)
        cores = max(n.cpu_allocatable - n.cpu_requests, 0.0)
        gib = max(n.mem_allocatable - n.mem_requests, 0.0) / GIB
        out.append(
            NodeIdleCost(
                n.cluster,
                n.node,
                n.pool,
                n.day,
                cores,
                gib,
                cores * DAY_HOURS * price.cpu,
                gib * DAY_HOURS * price.memory,
            )
        )
    return out
