"""A container of a workload: the unit every resource recommendation is about.

Resources are addressed by container name, never by position ("containers[0]"), so the pair
(workload, container name) identifies what a request or limit belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubecap.domain.workload import WorkloadRef


@dataclass(frozen=True, slots=True, order=True)
class ContainerRef:
    workload: WorkloadRef
    container: str

    def __str__(self) -> str:
        return f"{self.workload}/{self.container}"
