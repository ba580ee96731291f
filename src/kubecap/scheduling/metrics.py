"""Prometheus metrics of the extender, the node-load cache and the taint controller.

Each component gets its own ``CollectorRegistry`` (no global registry, nothing registered
at import), so tests and several components in one process never collide. ``/metrics``
serves the registry the server was given.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from kubecap.scheduling.load import LoadSnapshot

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class NodeLoadMetrics:
    """How the node-load refresh goes, and what the latest snapshot holds."""

    def __init__(self, registry: CollectorRegistry, snapshot: Callable[[], LoadSnapshot]) -> None:
        self._snapshot = snapshot
        self.steps = Counter(
            "kubecap_node_load_refresh_steps",
            "Node-load refresh steps by name and result (ok, failed).",
            ["step", "result"],
            registry=registry,
        )
        self.step_seconds = Histogram(
            "kubecap_node_load_refresh_step_seconds",
            "Time taken by each node-load refresh step.",
            ["step"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry,
        )
        self.up = Gauge(
            "kubecap_node_load_up",
            "1 when the last read of the current (5-minute) figures succeeded, else 0 (decisions fail open).",
            registry=registry,
        )
        nodes = Gauge(
            "kubecap_node_load_nodes", "Nodes with load figures in the latest snapshot.", registry=registry
        )
        nodes.set_function(lambda: len(self._snapshot().nodes))
        without = Gauge(
            "kubecap_node_load_nodes_without_data",
            "Known nodes no node-exporter series matched (see /nodes for their names).",
            registry=registry,
        )
        without.set_function(lambda: len(self._snapshot().without_data))
        unmatched = Gauge(
            "kubecap_node_load_unmatched_series",
            "node-exporter series that matched no known node (see /nodes).",
            registry=registry,
        )
        unmatched.set_function(lambda: len(self._snapshot().unmatched))

    def step(self, name: str, ok: bool, seconds: float) -> None:
        """A StepListener for NodeLoadCache."""
        self.steps.labels(name, "ok" if ok else "failed").inc()
        self.step_seconds.labels(name).observe(seconds)
        if name == "current":
            self.up.set(1 if ok else 0)


class ExtenderMetrics:
    """Decision counts and latency of the extender."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "kubecap_extender_requests",
            "Extender requests by verb and outcome (ok, error: bad request, fail_open: no fresh data for any "
            "candidate, skipped: DaemonSet pod, all_hot_passed: every candidate above the marks).",
            ["verb", "outcome"],
            registry=registry,
        )
        self.nodes = Counter(
            "kubecap_extender_node_decisions",
            "Per-node decisions: filter passed / filtered / no_data / stale; prioritize scored / no_data / stale.",
            ["verb", "decision"],
            registry=registry,
        )
        self.latency = Histogram(
            "kubecap_extender_request_seconds",
            "Time from request received to answer encoded, by verb.",
            ["verb"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )


class TaintMetrics:
    """What the auto-taint controller did."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.changes = Counter(
            "kubecap_taint_changes",
            "Taint changes by action (add, remove, update), result (ok, failed, dry_run).",
            ["action", "result"],
            registry=registry,
        )
        self.tainted = Gauge(
            "kubecap_taint_nodes_tainted",
            "Nodes carrying kubecap's taint, by node pool.",
            ["pool"],
            registry=registry,
        )
        self.deferred = Counter(
            "kubecap_taint_deferred",
            "Nodes that should have been tainted but were not, by reason (share_cap).",
            ["reason"],
            registry=registry,
        )
        self.leader = Gauge(
            "kubecap_taint_controller_leader",
            "1 while this replica holds the leader lease.",
            registry=registry,
        )
        self.step_failures = Counter(
            "kubecap_taint_controller_step_failures",
            "Failed steps of the controller's round, by step.",
            ["step"],
            registry=registry,
        )
        self.rounds = Counter("kubecap_taint_controller_rounds", "Completed rounds.", registry=registry)


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
