"""Horizontal Pod Autoscalers as kubecap needs to know them: what they scale, within which bounds, on what.

A workload whose HPA scales on CPU (or memory) must keep that resource's request: the HPA's
utilisation is measured against it, so changing the request changes the scaling. The values
come from kube-state-metrics (``kube_horizontalpodautoscaler_info`` for the scale target,
``..._spec_min_replicas``, ``..._spec_max_replicas`` and ``..._spec_target_metric`` with its
``metric_name`` and ``metric_target_type`` labels).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kubecap.domain.workload import WorkloadRef


class HpaMetric(StrEnum):
    """What an HPA scales on: a resource's utilisation, or anything else (custom, external)."""

    CPU = "cpu"
    MEMORY = "memory"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class HpaInfo:
    """One HPA and the workload it scales.

    Targets are utilisations as fractions of the request (``averageUtilization: 70`` is
    0.7); None when the HPA does not target that resource's utilisation.
    """

    workload: WorkloadRef
    name: str
    min_replicas: int
    max_replicas: int
    metrics: frozenset[HpaMetric]
    target_cpu_utilization: float | None = None
    target_memory_utilization: float | None = None

    def __post_init__(self) -> None:
        if self.min_replicas < 0 or self.max_replicas < max(self.min_replicas, 1):
            raise ValueError(
                f"HPA {self.name!r} has min {self.min_replicas} and max {self.max_replicas} replicas: "
                "max must be at least 1 and not below min"
            )

    def scales_on(self, metric: HpaMetric) -> bool:
        return metric in self.metrics
