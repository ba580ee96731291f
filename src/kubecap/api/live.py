"""What the API and the UI reach beyond the store: clusters' APIs, node load, the task runner.

``serve`` builds these from the settings (``wiring.live_services``) for the clusters that
have a Kubernetes API (and, for node load, a Prometheus); without them the pages and routes
fall back to the stored daily figures and to the background runner, and say so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from kubecap.cluster.port import ClusterPort
from kubecap.ops.runner import TaskRunner
from kubecap.scheduling.load import LoadSnapshot

NodeLoadSource = Callable[[], Awaitable[LoadSnapshot]]
"""The latest node-load snapshot of one cluster (a refresh of its cache when due)."""


@dataclass(frozen=True)
class Live:
    clusters: Mapping[str, ClusterPort] = field(default_factory=dict)
    node_load: Mapping[str, NodeLoadSource] = field(default_factory=dict)
    runner: TaskRunner | None = None
