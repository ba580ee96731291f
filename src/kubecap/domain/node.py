"""Daily node figures: how much of a node real usage and requests take, and what runs on it.

Idle-node detection needs, per node and local day, the P99 of the node's CPU and memory
usage (node-exporter), what the scheduler can place there (allocatable) and what pods have
reserved (the sum of their requests, kube-state-metrics), and whether only DaemonSet pods
ran there (such a node serves nothing but itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class NodeUsage:
    """One node on one local day. CPU in cores, memory in bytes.

    ``cpu_requests`` and ``mem_requests`` are the highest sums of pod requests seen that
    day; ``daemonset_only`` is true when every pod on the node that day belonged to a
    DaemonSet. ``pool`` is the node pool (for prices per pool), None when unknown.
    """

    cluster: str
    node: str
    day: date
    cpu_p99: float | None
    mem_p99: float | None
    cpu_allocatable: float
    mem_allocatable: float
    cpu_requests: float
    mem_requests: float
    daemonset_only: bool
    pool: str | None = None

    def __post_init__(self) -> None:
        if self.cpu_allocatable <= 0 or self.mem_allocatable <= 0:
            raise ValueError(f"node {self.node!r} on {self.day} has no allocatable CPU or memory")
