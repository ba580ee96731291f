"""What the API and the UI reach beyond the store: clusters' APIs, node load, the task runner.

``serve`` builds the adapters, the node-load caches and the runner with its background loops,
after the app (and the UI, which holds the same context) exists: it hands them over with
``attach``. Without them the pages and routes fall back to the stored daily figures and to the
background runner, and say so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from kubecap.cluster.port import ClusterPort
from kubecap.ops.runner import TaskRunner
from kubecap.scheduling.load import LoadSnapshot

NodeLoadSource = Callable[[], Awaitable[LoadSnapshot]]
"""The latest node-load snapshot of one cluster (a refresh of its cache when due)."""


@dataclass
class Live:
    clusters: Mapping[str, ClusterPort] = field(default_factory=dict)
    node_load: Mapping[str, NodeLoadSource] = field(default_factory=dict)
    runner: TaskRunner | None = None

    def attach(
        self,
        clusters: Mapping[str, ClusterPort],
        node_load: Mapping[str, NodeLoadSource],
        runner: TaskRunner | None,
    ) -> None:
        """Hand in what the background loops built (one set per process, shared with the loops)."""
        self.clusters, self.node_load, self.runner = dict(clusters), dict(node_load), runner
