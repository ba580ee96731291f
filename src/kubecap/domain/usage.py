"""Daily usage profiles: what one container of one workload used in one window of one day."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date

from kubecap.domain.workload import WorkloadRef

CPU_QUANTILES: tuple[float, ...] = (0.50, 0.90, 0.95, 0.99)
"""True quantiles collected for CPU (P95 is 0.95, never KubeDoor's 0.80)."""

MEMORY_QUANTILES: tuple[float, ...] = (0.95,)


@dataclass(slots=True)
class UsageProfile:
    """One row of the usage history.

    CPU figures are cores per pod and memory figures bytes per pod. The quantiles are taken
    over time of the average across the workload's pods (what a typical pod needs); the
    maxima are the highest value any single pod reached. Requests and limits are per pod
    and container, the highest seen in the window (None when unset). Replica figures
    belong to the workload and repeat on each of its containers' rows.
    """

    workload: WorkloadRef
    container: str
    day: date
    window: str
    replicas_min: float | None = None
    replicas_avg: float | None = None
    replicas_max: float | None = None
    cpu_p50: float | None = None
    cpu_p90: float | None = None
    cpu_p95: float | None = None
    cpu_p99: float | None = None
    cpu_max: float | None = None
    mem_p95: float | None = None
    mem_max: float | None = None
    cpu_request: float | None = None
    cpu_limit: float | None = None
    mem_request: float | None = None
    mem_limit: float | None = None
    cpu_throttle_ratio: float | None = None
    oom_kills: float | None = None
    restarts: float | None = None
    samples: int = 0

    @classmethod
    def figure_names(cls) -> tuple[str, ...]:
        """Names of the numeric figures, in storage order."""
        skip = {"workload", "container", "day", "window"}
        return tuple(f.name for f in fields(cls) if f.name not in skip)

    def key(self) -> tuple[WorkloadRef, str, date, str]:
        return (self.workload, self.container, self.day, self.window)
