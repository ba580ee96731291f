"""What the API and the UI show, computed from stored rows: pure functions, no I/O.

Workload summaries (requested vs used at peak, waste), the cluster overview (totals, top
lists, the daily trend, cost per month) and a workload's daily series. CPU is in cores and
memory in bytes; per-pod figures are multiplied by replicas for workload totals.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from kubecap.cost.prices import Price, Prices
from kubecap.domain.node import NodeUsage
from kubecap.domain.recommendation import GIB, MONTH_HOURS, Recommendation
from kubecap.domain.usage import UsageProfile
from kubecap.domain.window import DAY
from kubecap.domain.workload import WorkloadRef


def workload_id(ref: WorkloadRef) -> str:
    return f"{ref.cluster}/{ref.namespace}/{ref.kind.value}/{ref.name}"


@dataclass(slots=True)
class WorkloadSummary:
    ref: WorkloadRef
    containers: list[str] = field(default_factory=list)
    replicas: float = 0.0
    cpu_request: float = 0.0  # per pod, latest day
    mem_request: float = 0.0
    cpu_peak: float = 0.0  # per pod, highest daily peak-window P95 over the period
    mem_peak: float = 0.0
    last_day: date | None = None
    savings_usd: float | None = None
    risk_cpu: float | None = None
    recommended_cpu: float | None = None
    recommended_mem: float | None = None
    price: Price = field(default_factory=Price)  # the cluster's price in force (``priced``)

    @property
    def cpu_waste(self) -> float:
        return max(0.0, self.cpu_request - self.cpu_peak) * self.replicas

    @property
    def mem_waste(self) -> float:
        return max(0.0, self.mem_request - self.mem_peak) * self.replicas

    @property
    def waste_usd(self) -> float:
        return monthly_cost(self.cpu_waste, self.mem_waste, self.price)

    @property
    def requested_usd(self) -> float:
        return monthly_cost(self.cpu_request * self.replicas, self.mem_request * self.replicas, self.price)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": workload_id(self.ref),
            "cluster": self.ref.cluster,
            "namespace": self.ref.namespace,
            "kind": self.ref.kind.value,
            "name": self.ref.name,
            "containers": self.containers,
            "replicas": round(self.replicas, 2),
            "cpu_request": self.cpu_request,
            "mem_request": self.mem_request,
            "cpu_peak": self.cpu_peak,
            "mem_peak": self.mem_peak,
            "cpu_waste": self.cpu_waste,
            "mem_waste": self.mem_waste,
            "waste_usd": round(self.waste_usd, 2),
            "recommended_cpu": self.recommended_cpu,
            "recommended_mem": self.recommended_mem,
            "savings_usd": None if self.savings_usd is None else round(self.savings_usd, 2),
            "risk_cpu": self.risk_cpu,
            "last_day": self.last_day.isoformat() if self.last_day else None,
        }


def monthly_cost(cores: float, mem_bytes: float, price: Price) -> float:
    return (cores * price.cpu + mem_bytes / GIB * price.memory) * MONTH_HOURS


def priced(summaries: Iterable[WorkloadSummary], prices: Prices) -> None:
    """Price each summary at its cluster's price in force (settings file and saved overrides)."""
    for s in summaries:
        s.price = prices.for_cluster(s.ref.cluster)


def summarise(
    profiles: Iterable[UsageProfile], recommendations: Sequence[Recommendation] = ()
) -> list[WorkloadSummary]:
    """One summary per workload, sorted by reference."""
    # Per (workload, day): per-pod sums over containers, by window kind.
    peak: dict[tuple[WorkloadRef, date], list[float]] = defaultdict(lambda: [0.0, 0.0])
    whole: dict[tuple[WorkloadRef, date], list[float]] = defaultdict(lambda: [0.0, 0.0])
    latest: dict[WorkloadRef, tuple[date, float, float, float]] = {}
    containers: dict[WorkloadRef, set[str]] = defaultdict(set)
    for p in profiles:
        containers[p.workload].add(p.container)
        sums = whole if p.window == DAY else peak
        cell = sums[(p.workload, p.day)]
        cell[0] += p.cpu_p95 or 0.0
        cell[1] += p.mem_p95 or 0.0
        if p.window == DAY:
            seen = latest.get(p.workload)
            if seen is None or seen[0] < p.day:
                latest[p.workload] = (
                    p.day,
                    p.replicas_avg or 0.0,
                    p.cpu_request or 0.0,
                    p.mem_request or 0.0,
                )
            elif seen[0] == p.day:
                latest[p.workload] = (
                    p.day,
                    seen[1],
                    seen[2] + (p.cpu_request or 0.0),
                    seen[3] + (p.mem_request or 0.0),
                )
    summaries: dict[WorkloadRef, WorkloadSummary] = {}
    for ref in containers:
        s = WorkloadSummary(ref, sorted(containers[ref]))
        if ref in latest:
            s.last_day, s.replicas, s.cpu_request, s.mem_request = latest[ref]
        summaries[ref] = s
    # The peak-window figure when a peak window was collected, the whole day's otherwise.
    for source in (peak, whole):
        highest: dict[WorkloadRef, list[float]] = {}
        for (ref, _), (cpu, mem) in source.items():
            top = highest.setdefault(ref, [0.0, 0.0])
            top[0], top[1] = max(top[0], cpu), max(top[1], mem)
        for ref, (cpu, mem) in highest.items():
            s = summaries[ref]
            if not (s.cpu_peak or s.mem_peak):
                s.cpu_peak, s.mem_peak = cpu, mem
    add_recommendations(summaries, recommendations)
    return [summaries[r] for r in sorted(summaries)]


def add_recommendations(
    summaries: dict[WorkloadRef, WorkloadSummary], recommendations: Sequence[Recommendation]
) -> None:
    """Savings and recommended requests summed over a workload's containers, its highest CPU risk."""
    for rec in recommendations:
        w = summaries.get(rec.ref.workload)
        if w is None:
            continue
        if rec.savings.usd is not None:
            w.savings_usd = (w.savings_usd or 0.0) + rec.savings.usd
        if rec.target.cpu_request is not None:
            w.recommended_cpu = (w.recommended_cpu or 0.0) + rec.target.cpu_request
        if rec.target.mem_request is not None:
            w.recommended_mem = (w.recommended_mem or 0.0) + rec.target.mem_request
        if rec.risk.cpu_time_above_request is not None:
            w.risk_cpu = max(w.risk_cpu or 0.0, rec.risk.cpu_time_above_request)


def overview(
    summaries: Sequence[WorkloadSummary],
    daily: Sequence[dict[str, Any]],
    nodes: Sequence[NodeUsage],
    top: int = 10,
) -> dict[str, Any]:
    """Totals at peak, top namespaces and workloads by waste and by usage, cost per month, and the
    daily trend (``daily``: rows of ``trend``)."""
    requested = (
        sum(s.cpu_request * s.replicas for s in summaries),
        sum(s.mem_request * s.replicas for s in summaries),
    )
    used = (sum(s.cpu_peak * s.replicas for s in summaries), sum(s.mem_peak * s.replicas for s in summaries))
    last = max((n.day for n in nodes), default=None)
    allocatable = (
        sum(n.cpu_allocatable for n in nodes if n.day == last),
        sum(n.mem_allocatable for n in nodes if n.day == last),
    )
    namespaces: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for s in summaries:
        ns = namespaces[s.ref.namespace]
        ns[0] += s.waste_usd
        ns[1] += s.cpu_peak * s.replicas
        ns[2] += s.mem_peak * s.replicas

    def ns_rows(index: int) -> list[dict[str, Any]]:
        ranked = sorted(namespaces.items(), key=lambda kv: -kv[1][index])[:top]
        return [
            {"namespace": k, "waste_usd": round(v[0], 2), "cpu_used": v[1], "mem_used": v[2]}
            for k, v in ranked
        ]

    return {
        "cpu": {"requested": requested[0], "used": used[0], "allocatable": allocatable[0]},
        "memory": {"requested": requested[1], "used": used[1], "allocatable": allocatable[1]},
        "workloads": len(summaries),
        "cost_per_month_usd": round(sum(s.requested_usd for s in summaries), 2),
        "waste_per_month_usd": round(sum(s.waste_usd for s in summaries), 2),
        "savings_per_month_usd": round(sum(s.savings_usd or 0.0 for s in summaries), 2),
        "top_namespaces_by_waste": ns_rows(0),
        "top_namespaces_by_usage": ns_rows(1),
        "top_workloads_by_waste": [s.to_dict() for s in sorted(summaries, key=lambda s: -s.waste_usd)[:top]],
        "top_workloads_by_usage": [
            s.to_dict() for s in sorted(summaries, key=lambda s: -(s.cpu_peak * s.replicas))[:top]
        ],
        "trend": list(daily),
    }


def trend(profiles: Iterable[UsageProfile]) -> list[dict[str, Any]]:
    """Per local day (whole-day window): CPU and memory requested and used (P95), summed over workloads."""
    days: dict[date, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for p in profiles:
        if p.window != DAY:
            continue
        replicas = p.replicas_avg or 0.0
        row = days[p.day]
        row[0] += (p.cpu_request or 0.0) * replicas
        row[1] += (p.cpu_p95 or 0.0) * replicas
        row[2] += (p.mem_request or 0.0) * replicas
        row[3] += (p.mem_p95 or 0.0) * replicas
    return [
        {
            "day": d.isoformat(),
            "cpu_requested": r[0],
            "cpu_used": r[1],
            "mem_requested": r[2],
            "mem_used": r[3],
        }
        for d, r in sorted(days.items())
    ]


def series(profiles: Iterable[UsageProfile], ref: WorkloadRef) -> list[dict[str, Any]]:
    """A workload's daily rows per container and window, for its detail page and its history API."""
    rows = [p for p in profiles if p.workload == ref]
    rows.sort(key=lambda p: (p.container, p.window, p.day))
    return [
        {
            "container": p.container,
            "day": p.day.isoformat(),
            "window": p.window,
            "replicas_avg": p.replicas_avg,
            "replicas_max": p.replicas_max,
            "cpu_p95": p.cpu_p95,
            "cpu_max": p.cpu_max,
            "mem_p95": p.mem_p95,
            "mem_max": p.mem_max,
            "cpu_request": p.cpu_request,
            "cpu_limit": p.cpu_limit,
            "mem_request": p.mem_request,
            "mem_limit": p.mem_limit,
            "oom_kills": p.oom_kills,
            "restarts": p.restarts,
        }
        for p in rows
    ]
