"""Node figures of one window from raw samples, computed the way the PromQL catalogue's ``nodes`` query does.

The pure half of the simulated source's node figures (docs/collection.md, "Nodes"), held to
the catalogue by the contract test. With the rate, lookback and quantile rules of
sim_profile, at each evaluation point:

- busy cores = Σ over the node's CPUs and busy modes of ``rate(node_cpu_seconds_total[5m])``;
- used memory = MemTotal − MemAvailable (latest samples);
- requests = Σ over the node's pod containers of their latest request samples;

and over the points: the P99 of busy cores and of used memory, the highest sum of requests,
whether a pod not owned by a DaemonSet was seen (the simulated cluster has no static pods),
and the allocatable of every node seen.
Sums across series may be taken in another order than Prometheus' (a few ulps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kubecap.metrics.promql import NODE_QUANTILE
from kubecap.metrics.sim_profile import latest, quantiles_over_time, rate

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class NodeSamples:
    """Node and pod samples around one window; columns are ``times``.

    ``busy`` holds node-exporter's per-CPU counters of busy modes in seconds, one row per
    (node, CPU, mode), ``busy_node`` the node of each row. Node series exist where
    ``node_present``; only nodes with ``exporter`` have node-exporter series. ``requests``
    holds each container series' CPU and memory request (NaN when unset), present where
    ``container_present``, on node ``container_node`` (-1: none). ``pod_present``,
    ``pod_node`` and ``pod_daemonset`` describe kube_pod_info.
    """

    times: I64
    node_present: Mask
    """(samples,): where the nodes' series (kube_node_info, allocatable, node-exporter) exist."""
    allocatable: F64
    """(nodes, 2): CPU cores and memory bytes."""
    exporter: Mask
    busy: F64
    busy_node: I64
    mem_total: F64
    """(nodes,): MemTotal, a constant."""
    mem_available: F64
    """(nodes, samples)."""
    requests: F64
    """(container series, 2)."""
    container_present: Mask
    container_node: I64
    pod_present: Mask
    pod_node: I64
    pod_daemonset: Mask


@dataclass(frozen=True, slots=True)
class NodeFigures:
    """Per node: NaN means no value (never seen, no node-exporter, no pod with requests)."""

    seen: Mask
    cpu_p99: F64
    mem_p99: F64
    allocatable: F64
    """(nodes, 2)."""
    requests: F64
    """(nodes, 2): the highest sums of CPU and memory requests."""
    other_pods: Mask
    """A pod not owned by a DaemonSet was seen on the node."""


def sum_by(values: F64, group: I64, groups: int) -> F64:
    """``sum by (group)`` of each column: NaN where a group has no value (rows with group < 0 are left out)."""
    keep = group >= 0
    total = np.zeros((groups, values.shape[1]))
    count = np.zeros((groups, values.shape[1]), dtype=np.int64)
    np.add.at(total, group[keep], np.nan_to_num(values[keep]))
    np.add.at(count, group[keep], ~np.isnan(values[keep]))
    return np.where(count > 0, total, np.nan)


def _max_over(values: F64) -> F64:
    has = ~np.all(np.isnan(values), axis=1)
    out = np.full(values.shape[0], np.nan)
    out[has] = np.nanmax(values[has], axis=1)
    return out


def _seen(times: I64, present: Mask, points: I64) -> Mask:
    """Rows with a sample in the lookback of some point (what ``max_over_time(x[...:step])`` returns)."""
    found = latest(times, np.ones(present.shape), present, points)
    return np.asarray(~np.all(np.isnan(found), axis=1), dtype=bool)


def node_figures(samples: NodeSamples, points: I64) -> NodeFigures:
    """The node figures of docs/collection.md for every node, from the samples around a window."""
    t = samples.times
    n_nodes = samples.allocatable.shape[0]
    seen = np.repeat(_seen(t, samples.node_present[None, :], points), n_nodes)

    busy_present = np.broadcast_to(samples.node_present, samples.busy.shape)
    busy = sum_by(rate(t, samples.busy, busy_present, points), samples.busy_node, n_nodes)
    exported = np.asarray(samples.exporter[:, None] & samples.node_present[None, :], dtype=bool)
    available = latest(t, samples.mem_available, exported, points)
    used = samples.mem_total[:, None] - available

    requests = np.full((n_nodes, 2), np.nan)
    placed = samples.container_node >= 0
    for column in range(2):
        value = samples.requests[placed, column]
        has = ~np.isnan(value)
        present = samples.container_present[placed][has]
        filled = np.broadcast_to(value[has, None], present.shape)
        latest_requests = latest(t, np.ascontiguousarray(filled), present, points)
        requests[:, column] = _max_over(sum_by(latest_requests, samples.container_node[placed][has], n_nodes))

    others = ~samples.pod_daemonset & (samples.pod_node >= 0)
    other_seen = _seen(t, samples.pod_present[others], points)
    other_pods = np.zeros(n_nodes, dtype=bool)
    other_pods[samples.pod_node[others][other_seen]] = True

    return NodeFigures(
        seen=seen,
        cpu_p99=quantiles_over_time(busy, (NODE_QUANTILE,))[:, 0],
        mem_p99=quantiles_over_time(used, (NODE_QUANTILE,))[:, 0],
        allocatable=np.where(seen[:, None], samples.allocatable, np.nan),
        requests=requests,
        other_pods=other_pods & seen,
    )
