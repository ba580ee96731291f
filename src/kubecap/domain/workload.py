"""Workload identity: (cluster, namespace, kind, name)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class WorkloadKind(StrEnum):
    DEPLOYMENT = "Deployment"
    STATEFULSET = "StatefulSet"
    DAEMONSET = "DaemonSet"


@dataclass(frozen=True, slots=True, order=True)
class WorkloadRef:
    """A workload in one cluster. Resources inside it are addressed by container name."""

    cluster: str
    namespace: str
    kind: WorkloadKind
    name: str

    def __str__(self) -> str:
        return f"{self.cluster}/{self.namespace}/{self.kind.value}/{self.name}"
