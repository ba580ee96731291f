"""The simulated cluster's nodes: which pod runs where, and what node-exporter sees there.

Idle-node detection needs node series (kube-state-metrics' node and pod-info series,
node-exporter's CPU and memory), so a scenario with ``node_pools`` places its pods on nodes
and derives each node's counters from the pods placed on it. Placement is deterministic: a
DaemonSet's pod ``i`` runs on node ``i`` of its pools; other workloads are dealt round robin
over their pool, continuing where the previous workload of the pool stopped, so load spreads
evenly and the same scenario always gives the same cluster.

Model, per node (vectorised over samples):

- CPU: the pods' CPU time on the node (the same increments as their cAdvisor counters) is
  node-exporter's ``user`` mode, ``system_cpu`` × (1 + 10 % noise) its ``system`` mode, and
  the rest of ``ceil(cpu)`` CPUs' time ``idle``; busy time is capped at the node's CPUs
  (pods on an overcommitted node share them). The node booted a day before its first sample.
  Each node-level counter ``X`` is split over the CPUs as ``(X + c) // cpus`` for CPU ``c``,
  which sums to ``X`` exactly and keeps every per-CPU counter monotonic.
- memory: ``MemTotal`` is allocatable plus ``system_memory``; used = the pods' working sets
  on the node + ``system_memory`` × (1 + 2 % noise); ``MemAvailable`` = total − used.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kubecap.domain.workload import WorkloadKind
from kubecap.metrics.sim_scenario import NodePool, Scenario, Workload

NODE_EXPORTER_PORT = 9100
BUSY_MODES = ("user", "system")
"""The node-exporter CPU modes the simulated nodes spend busy time in (then ``idle``)."""
BOOT_SECONDS = 86400
_PAGE = 4096
_US = 1_000_000

I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class SimNode:
    """One node; ``instance`` is node-exporter's label for it, None without node-exporter."""

    name: str
    pool: str
    internal_ip: str
    instance: str | None
    cpu: float
    """Allocatable cores."""
    memory: float
    """Allocatable bytes."""
    cpus: int
    mem_total: int
    """node-exporter's MemTotal in bytes."""


@dataclass(frozen=True, slots=True)
class NodeSeries:
    """Node-level counters on the scrape grid, one row per node.

    ``user_us``, ``system_us`` and ``idle_us`` are cumulative CPU microseconds summed over
    the node's CPUs; ``mem_available`` is MemAvailable in bytes.
    """

    user_us: I64
    system_us: I64
    idle_us: I64
    mem_available: I64

    @classmethod
    def empty(cls, samples: int) -> NodeSeries:
        none = np.zeros((0, samples), dtype=np.int64)
        return cls(none, none, none, none)


def plan_nodes(pools: Sequence[NodePool]) -> tuple[SimNode, ...]:
    """The nodes of ``pools``, in pool order; pool ``p``'s node ``i`` has the IP 10.0.p.(i + 10)."""
    nodes = []
    for p, pool in enumerate(pools):
        for i in range(pool.count):
            name, ip = f"{pool.name}-{i}", f"10.0.{p}.{i + 10}"
            instance = {
                "ip:port": f"{ip}:{NODE_EXPORTER_PORT}",
                "ip": ip,
                "name": name,
                "none": None,
            }[pool.node_exporter]
            total = math.ceil((pool.memory + pool.system_memory) / _PAGE) * _PAGE
            nodes.append(
                SimNode(name, pool.name, ip, instance, pool.cpu, pool.memory, math.ceil(pool.cpu), total)
            )
    return tuple(nodes)


class Placement:
    """Where each workload's pods run (see the module docstring); -1 without node pools."""

    def __init__(self, scenario: Scenario, nodes: Sequence[SimNode]) -> None:
        self._by_pool: dict[str, list[int]] = {}
        for index, node in enumerate(nodes):
            self._by_pool.setdefault(node.pool, []).append(index)
        self._all = list(range(len(nodes)))
        self._default = scenario.node_pools[0].name if scenario.node_pools else None
        self._next = dict.fromkeys(self._by_pool, 0)

    def place(self, workload: Workload, pods: int) -> I64:
        """Node of each of the workload's ``pods`` pod names, in the order plan_pods gives them."""
        if self._default is None:
            return np.full(pods, -1, dtype=np.int64)
        if workload.kind is WorkloadKind.DAEMONSET:
            # plan_pods names a DaemonSet's pods generation by generation, node by node.
            targets = self._by_pool[workload.pool] if workload.pool is not None else self._all
            return np.array([targets[p % len(targets)] for p in range(pods)], dtype=np.int64)
        pool = workload.pool or self._default
        targets, first = self._by_pool[pool], self._next[pool]
        self._next[pool] = (first + workload.replicas) % len(targets)
        return np.array([targets[(first + p) % len(targets)] for p in range(pods)], dtype=np.int64)


class NodeLoad:
    """Sums the pods' CPU increments and working sets per node while workloads are generated."""

    def __init__(self, nodes: int, samples: int) -> None:
        self.cpu_us = np.zeros((nodes, samples), dtype=np.int64)
        self.pages = np.zeros((nodes, samples), dtype=np.int64)

    def add(self, pod_node: I64, present: Mask, cpu_increments: I64, pages: npt.NDArray[np.int32]) -> None:
        """Add one container's pods (rows) to their nodes."""
        placed = pod_node >= 0
        if not placed.any():
            return
        np.add.at(self.cpu_us, pod_node[placed], np.where(present, cpu_increments, 0)[placed])
        np.add.at(self.pages, pod_node[placed], np.where(present, pages, 0)[placed].astype(np.int64))

    def series(
        self, nodes: Sequence[SimNode], pools: Sequence[NodePool], seed: int, interval: int
    ) -> NodeSeries:
        """The node counters, given every pod's load."""
        by_name = {pool.name: pool for pool in pools}
        samples = self.cpu_us.shape[1]
        elapsed = np.full(samples, float(interval))
        elapsed[:1] = BOOT_SECONDS  # the first sample holds the time since boot
        user, system, idle, available = (np.zeros((len(nodes), samples), dtype=np.int64) for _ in range(4))
        for n, node in enumerate(nodes):
            pool = by_name[node.pool]
            rng = np.random.default_rng([seed, zlib.crc32(f"node/{node.name}".encode())])
            capacity = np.rint(node.cpus * elapsed * _US).astype(np.int64)
            noise = 1.0 + 0.1 * rng.standard_normal(samples)
            system_inc = np.rint(np.maximum(pool.system_cpu * elapsed * _US * noise, 0.0)).astype(np.int64)
            system_inc = np.minimum(system_inc, capacity)
            user_inc = np.minimum(self.cpu_us[n], capacity - system_inc)
            user[n] = np.cumsum(user_inc)
            system[n] = np.cumsum(system_inc)
            idle[n] = np.cumsum(capacity - user_inc - system_inc)
            os_memory = np.maximum(pool.system_memory * (1.0 + 0.02 * rng.standard_normal(samples)), 0.0)
            used = (self.pages[n] + np.ceil(os_memory / _PAGE).astype(np.int64)) * _PAGE
            available[n] = np.maximum(node.mem_total - used, 0)
        return NodeSeries(user, system, idle, available)


def per_cpu(totals: I64, cpus: int) -> I64:
    """Node-level counters (rows) split over ``cpus`` CPUs: row ``r * cpus + c`` is CPU ``c`` of row ``r``."""
    shares = (totals[:, None, :] + np.arange(cpus, dtype=np.int64)[None, :, None]) // cpus
    return shares.reshape(totals.shape[0] * cpus, totals.shape[1])
