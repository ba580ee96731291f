"""Cost of workloads from the stored daily profiles, OpenCost's way: max(request, usage) × price.

The usage figure is the whole-day window's P95 per pod (CPU ``cpu_p95``, memory ``mem_p95``)
times the day's average replicas. P95 rather than the mean because the store keeps no mean,
and rather than the maximum because one spike does not hold a core for the whole day; the
request is what the scheduler reserves for every pod, so the larger of the two is what the
workload takes from the cluster. Rows without average replicas are left out (no pod ran,
or the day was not collected), as are peak-window rows (the whole day already covers them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from kubecap.cost.prices import Prices
from kubecap.domain.recommendation import GIB, MONTH_HOURS
from kubecap.domain.usage import UsageProfile
from kubecap.domain.window import DAY
from kubecap.domain.workload import WorkloadRef

DAY_HOURS = 24.0


@dataclass(frozen=True, slots=True)
class ContainerDayCost:
    """One container of one workload on one day: cores and GiB charged, for all replicas."""

    workload: WorkloadRef
    container: str
    day: date
    cores: float
    gib: float
    cpu_usd: float
    memory_usd: float

    @property
    def usd(self) -> float:
        return self.cpu_usd + self.memory_usd


def _charged(request: float | None, usage: float | None) -> float:
    return max(request or 0.0, usage or 0.0)


def container_costs(profiles: Iterable[UsageProfile], prices: Prices) -> list[ContainerDayCost]:
    """Daily cost of every container in ``profiles`` (only whole-day rows with replicas count)."""
    costs: list[ContainerDayCost] = []
    for row in profiles:
        if row.window != DAY or row.replicas_avg is None:
            continue
        price = prices.for_cluster(row.workload.cluster)
        cores = _charged(row.cpu_request, row.cpu_p95) * row.replicas_avg
        gib = _charged(row.mem_request, row.mem_p95) / GIB * row.replicas_avg
        costs.append(
            ContainerDayCost(
                row.workload,
                row.container,
                row.day,
                cores,
                gib,
                cores * DAY_HOURS * price.cpu,
                gib * DAY_HOURS * price.memory,
            )
        )
    return costs


class Level(StrEnum):
    WORKLOAD = "workload"
    NAMESPACE = "namespace"
    CLUSTER = "cluster"


@dataclass(frozen=True, slots=True)
class CostLine:
    """Cost of one workload, namespace or cluster over ``days`` days, and per month at that rate."""

    key: str
    days: int
    cpu_usd: float
    memory_usd: float

    @property
    def usd(self) -> float:
        return self.cpu_usd + self.memory_usd

    @property
    def monthly_usd(self) -> float:
        """The mean hourly cost over the days seen × 730 h."""
        return self.usd / (self.days * DAY_HOURS) * MONTH_HOURS

    def to_dict(self) -> dict[str, Any]:
        """The line as the CLI's JSON and the API print it."""
        return {
            "key": self.key,
            "days": self.days,
            "cpu_usd": round(self.cpu_usd, 4),
            "memory_usd": round(self.memory_usd, 4),
            "usd": round(self.usd, 4),
            "monthly_usd": round(self.monthly_usd, 2),
        }


def _key(cost: ContainerDayCost, level: Level) -> str:
    ref = cost.workload
    if level is Level.CLUSTER:
        return ref.cluster
    if level is Level.NAMESPACE:
        return f"{ref.cluster}/{ref.namespace}"
    return str(ref)


def roll_up(costs: Iterable[ContainerDayCost], level: Level) -> list[CostLine]:
    """Totals per workload, namespace or cluster, most expensive first."""
    cpu: dict[str, float] = defaultdict(float)
    memory: dict[str, float] = defaultdict(float)
    days: dict[str, set[date]] = defaultdict(set)
    for cost in costs:
        key = _key(cost, level)
        cpu[key] += cost.cpu_usd
        memory[key] += cost.memory_usd
        days[key].add(cost.day)
    lines = [CostLine(k, len(days[k]), cpu[k], memory[k]) for k in cpu]
    return sorted(lines, key=lambda line: (-line.usd, line.key))


def daily_totals(costs: Iterable[ContainerDayCost]) -> dict[date, float]:
    """Total cost per day, in day order (the series the next month's forecast reads)."""
    totals: dict[date, float] = defaultdict(float)
    for cost in costs:
        totals[cost.day] += cost.usd
    return dict(sorted(totals.items()))
