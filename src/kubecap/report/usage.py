"""Usage against requests per workload container: the first question kubecap answers.

For each container, over the days in the history: the highest daily P95 of CPU and the
highest memory maximum in the chosen window, set against the current request, so
over- and under-provisioning stand out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from itertools import groupby

from kubecap.domain.usage import UsageProfile
from kubecap.domain.workload import WorkloadRef


@dataclass(frozen=True, slots=True)
class UsageRow:
    workload: WorkloadRef
    container: str
    window: str
    days: int
    replicas_avg: float | None
    cpu_request: float | None
    cpu_p95_peak: float | None
    cpu_peak_day: date | None
    mem_request: float | None
    mem_max_peak: float | None
    mem_peak_day: date | None
    cpu_throttle_max: float | None
    oom_kills: float
    restarts: float

    @property
    def cpu_ratio(self) -> float | None:
        return _ratio(self.cpu_p95_peak, self.cpu_request)

    @property
    def mem_ratio(self) -> float | None:
        return _ratio(self.mem_max_peak, self.mem_request)


def _ratio(used: float | None, requested: float | None) -> float | None:
    if used is None or not requested:
        return None
    return used / requested


def _peak(profiles: list[UsageProfile], figure: str) -> tuple[float | None, date | None]:
    best: tuple[float | None, date | None] = (None, None)
    for p in profiles:
        value = getattr(p, figure)
        if value is not None and (best[0] is None or value > best[0]):
            best = (value, p.day)
    return best


def _latest(profiles: list[UsageProfile], figure: str) -> float | None:
    for p in sorted(profiles, key=lambda p: p.day, reverse=True):
        value = getattr(p, figure)
        if value is not None:
            return float(value)
    return None


def usage_report(profiles: Iterable[UsageProfile], window: str) -> list[UsageRow]:
    """One row per workload container seen in ``window``; requests are the latest seen."""
    chosen = sorted(
        (p for p in profiles if p.window == window), key=lambda p: (p.workload, p.container, p.day)
    )
    rows = []
    for (workload, container), group in groupby(chosen, key=lambda p: (p.workload, p.container)):
        days = list(group)
        replicas = [p.replicas_avg for p in days if p.replicas_avg is not None]
        throttles = [p.cpu_throttle_ratio for p in days if p.cpu_throttle_ratio is not None]
        cpu_peak, cpu_day = _peak(days, "cpu_p95")
        mem_peak, mem_day = _peak(days, "mem_max")
        rows.append(
            UsageRow(
                workload=workload,
                container=container,
                window=window,
                days=len(days),
                replicas_avg=sum(replicas) / len(replicas) if replicas else None,
                cpu_request=_latest(days, "cpu_request"),
                cpu_p95_peak=cpu_peak,
                cpu_peak_day=cpu_day,
                mem_request=_latest(days, "mem_request"),
                mem_max_peak=mem_peak,
                mem_peak_day=mem_day,
                cpu_throttle_max=max(throttles) if throttles else None,
                oom_kills=sum(p.oom_kills or 0.0 for p in days),
                restarts=sum(p.restarts or 0.0 for p in days),
            )
        )
    return rows


def default_window(profiles: Iterable[UsageProfile]) -> str | None:
    """The first peak window present, else the whole day; None without history."""
    names = {p.window for p in profiles}
    peaks = sorted(n for n in names if n != "day")
    if peaks:
        return peaks[0]
    return "day" if "day" in names else None
