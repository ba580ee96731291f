"""Daily node figures: node-exporter instances mapped to nodes, and NodeUsage rows with their warnings.

node-exporter names a node by its ``instance`` label (usually ``<internal IP>:9100``, after
relabelling sometimes the IP alone or the node name), kube-state-metrics by the node name.
Joining the two in PromQL at every evaluation point is the kind of join collection avoids
(docs/collection.md), so Prometheus computes each node-exporter figure per instance and
each kube-state-metrics figure per node, and kubecap maps instances to nodes here through
``kube_node_info``'s node name and internal IP. Both usage sources assemble their rows with
``node_rows``, so the simulated and the Prometheus source word their warnings alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from kubecap.domain.node import NodeUsage
from kubecap.domain.node_identity import NodeIdentity, NodeIndex

POOL_LABELS: tuple[str, ...] = (
    "kubecap.io/pool",
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
    "kubernetes.azure.com/agentpool",
    "agentpool",
    "karpenter.sh/nodepool",
    "doks.digitalocean.com/node-pool",
    "kops.k8s.io/instancegroup",
)
"""Kubernetes node labels naming the node pool, most specific first (kubecap's own, then clouds')."""

NO_NODE_INFO = "no kube_node_info series: node figures are empty; is kube-state-metrics scraped?"
_LISTED = 10


class Sample(Protocol):
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def value(self) -> float: ...


@dataclass(frozen=True, slots=True)
class NodeDay:
    """What was seen of one node in one window, before it becomes a NodeUsage.

    ``cpu_requests`` / ``mem_requests`` are None when no pod with requests ran there;
    ``other_pods`` is true when a pod ran there that is neither a DaemonSet's nor a static pod.
    """

    node: str
    cpu_p99: float | None
    mem_p99: float | None
    cpu_allocatable: float | None
    mem_allocatable: float | None
    cpu_requests: float | None
    mem_requests: float | None
    other_pods: bool
    pool: str | None


def ksm_label(name: str) -> str:
    """kube-state-metrics' label for a Kubernetes label ("kubecap.io/pool" → "label_kubecap_io_pool")."""
    return "label_" + re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(sorted(names)[:_LISTED])
    return shown if len(names) <= _LISTED else f"{shown} and {len(names) - _LISTED} more"


def node_rows(cluster: str, day: date, nodes: Sequence[NodeDay]) -> tuple[list[NodeUsage], list[str]]:
    """NodeUsage rows (sorted by node) and the warnings: nodes without node-exporter or allocatable."""
    rows, blind, unallocatable = [], [], []
    for n in sorted(nodes, key=lambda n: n.node):
        if not n.cpu_allocatable or not n.mem_allocatable or n.cpu_allocatable <= 0 or n.mem_allocatable <= 0:
            unallocatable.append(n.node)
            continue
        if n.cpu_p99 is None and n.mem_p99 is None:
            blind.append(n.node)
        rows.append(
            NodeUsage(
                cluster=cluster,
                node=n.node,
                day=day,
                cpu_p99=n.cpu_p99,
                mem_p99=n.mem_p99,
                cpu_allocatable=n.cpu_allocatable,
                mem_allocatable=n.mem_allocatable,
                cpu_requests=n.cpu_requests or 0.0,
                mem_requests=n.mem_requests or 0.0,
                daemonset_only=not n.other_pods,
                pool=n.pool,
            )
        )
    warnings = []
    if blind:
        warnings.append(
            f"no node-exporter data for node(s) {_listed(blind)}: their CPU and memory usage is unknown; is"
            " node-exporter scraped there, with an instance label naming the node or its internal IP?"
        )
    if unallocatable:
        warnings.append(
            f"no kube_node_status_allocatable for node(s) {_listed(unallocatable)}: they are left out of the"
            " node figures; is kube-state-metrics v2 scraped?"
        )
    return rows, warnings


def node_days_from_samples(
    samples: Sequence[Sample], pool_labels: Sequence[str] = POOL_LABELS
) -> tuple[list[NodeDay], list[str]]:
    """Per node figures from the catalogue's ``nodes`` query (samples labelled ``figure``), and warnings.

    node-exporter figures come per ``instance`` and are mapped to nodes by name or internal IP
    (domain/node_identity.py, shared with scheduling); instances that map to no node are named in
    a warning. When
    request series exist but none carries a ``node`` label (kube-state-metrics before v2)
    node requests are unknown, and no node is returned rather than nodes with no requests.
    """
    by_figure: dict[str, list[Sample]] = {}
    for s in samples:
        by_figure.setdefault(s.labels.get("figure", ""), []).append(s)
    info = by_figure.get("info", [])
    if not info:
        return [], [NO_NODE_INFO]
    index = NodeIndex.build(
        NodeIdentity(s.labels.get("node", ""), (s.labels.get("internal_ip", ""),)) for s in info
    )

    def per_node(figure: str) -> dict[str, float]:
        return {s.labels.get("node", ""): float(s.value) for s in by_figure.get(figure, [])}

    requests = {f: per_node(f) for f in ("cpu_requests", "mem_requests")}
    unplaced = sum(float(s.value) for s in by_figure.get("unplaced_requests", []))
    if unplaced > 0 and not any(requests.values()):
        return [], [
            "kube_pod_container_resource_requests has no node label: node requests are unknown and node"
            " figures are left out; scrape kube-state-metrics v2, which adds it"
        ]
    usage: dict[str, dict[str, float]] = {"cpu_p99": {}, "mem_p99": {}}
    unknown: set[str] = set()
    for figure, values in usage.items():
        # Several instances naming one node (scraped twice): the first in label order counts.
        for s in sorted(by_figure.get(figure, []), key=lambda s: s.labels.get("instance", "")):
            instance = s.labels.get("instance", "")
            node = index.resolve({"instance": instance})
            if node is None:
                unknown.add(instance)
            else:
                values.setdefault(node, float(s.value))
    pools: dict[str, str] = {}
    wanted = [ksm_label(name) for name in pool_labels]
    for s in sorted(by_figure.get("labels", []), key=lambda s: sorted(s.labels.items())):
        pool = next((s.labels[label] for label in wanted if s.labels.get(label)), None)
        if pool is not None:
            pools[s.labels.get("node", "")] = pool
    allocatable = {f: per_node(f) for f in ("cpu_allocatable", "mem_allocatable")}
    others = per_node("other_pods")
    days = [
        NodeDay(
            node=node,
            cpu_p99=usage["cpu_p99"].get(node),
            mem_p99=usage["mem_p99"].get(node),
            cpu_allocatable=allocatable["cpu_allocatable"].get(node),
            mem_allocatable=allocatable["mem_allocatable"].get(node),
            cpu_requests=requests["cpu_requests"].get(node),
            mem_requests=requests["mem_requests"].get(node),
            other_pods=others.get(node, 0.0) > 0,
            pool=pools.get(node),
        )
        for node in sorted(index.names)
    ]
    warnings = []
    if unknown:
        warnings.append(
            f"node-exporter instance(s) {_listed(sorted(unknown))} match no node of kube_node_info by name or"
            " internal IP: their data is left out; relabel instance to the node name or its IP"
        )
    return days, warnings
