"""Turn a scenario into the raw series a real cluster would have exported, as numpy arrays.

Everything downstream (the daily profiles of the simulated source and the OpenMetrics
export for a real Prometheus) reads these arrays, so both see exactly the same samples.
The arrays live on the scrape grid (multiples of the scrape interval inside the period);
a pod's series have a sample at every scrape instant ``t`` with ``born <= t < died``.

Model, per workload container and pod (all vectorised over pods and samples):

- demand = shape(t) × pod factor × (1 + noise·N(0,1)), clipped at 0; the shape is a bundled
  trace replayed on the cluster's local clock, a cosine day, or a constant.
- CPU usage = min(demand, CPU limit); the counter grows by usage × elapsed time and starts
  from 0 when a container starts (pod birth or restart). Pods alive when the period starts
  were born one day earlier, so their counters already hold a day of usage.
- CFS (only with a CPU limit): 10 periods per second; a share of them is throttled that ramps
  from 0 at demand = 0.8 × limit to all at demand = 1.2 × limit (bursts inside a scrape
  interval get throttled before the average reaches the limit).
- memory = floor + (target − floor)·(1 − e^(−age/10 min)) after each container start, in 4 KiB
  pages. A sample above the memory limit is an OOM kill: the container restarted half a scrape
  interval earlier (restart counter +1, last terminated reason OOMKilled for the rest of the
  pod's life, CPU counter reset, memory back near its floor).
- nodes (scenarios with ``node_pools``, see sim_nodes): each pod runs on one node, whose
  node-exporter counters follow the pods on it.
- rollouts: a Deployment's new ReplicaSet starts its pods 30 s apart and each old pod ends 45 s
  after its successor started; a StatefulSet deletes its pods from the highest ordinal down,
  60 s apart, and recreates each (same name) 30 s later; a DaemonSet replaces its pods one
  node at a time, 60 s apart, the new pod starting 20 s after the old one ended.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

import numpy as np
import numpy.typing as npt

from kubecap.domain.workload import WorkloadKind
from kubecap.metrics.sim_nodes import NodeLoad, NodeSeries, Placement, SimNode, plan_nodes
from kubecap.metrics.sim_scenario import Container, Hpa, Scenario, Usage, Workload
from kubecap.metrics.sim_traces import load_trace

PAGE = 4096
WARMUP = 600.0
CFS_PER_SECOND = 10
THROTTLE_FROM, THROTTLE_FULL = 0.8, 1.2
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class SimWorkload:
    namespace: str
    kind: WorkloadKind
    name: str
    containers: tuple[str, ...]
    hpa: Hpa | None = None
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class SimPod:
    """A pod *name*: a StatefulSet pod recreated under the same name stays one series."""

    namespace: str
    name: str
    workload: int
    owner_kind: str
    owner_name: str


@dataclass(frozen=True, slots=True)
class SimReplicaSet:
    namespace: str
    name: str
    deployment: str
    created: float
    """Epoch seconds; kube-state-metrics exports it from then to the end (old ones stay, scaled to 0)."""


@dataclass(frozen=True, slots=True)
class SimData:
    """The generated history of a simulated cluster.

    Per container series ``c`` (one per pod name and container): ``cpu_us`` (cumulative CPU
    microseconds), ``memory_pages`` (working set in 4 KiB pages), ``restarts`` (per pod life),
    ``cfs`` (row in the CFS arrays or -1 without a CPU limit), ``resources`` (cpu request,
    cpu limit, memory request, memory limit; NaN when unset) and ``row`` (index into ``rows``:
    the (workload, container name) pair a profile row is about). Values are meaningful only
    where ``pod_present[container_pod[c]]`` is true.

    Nodes (empty without ``node_pools``): ``pod_node`` is the node of each pod (-1 for none)
    and ``node_series`` holds node-exporter's counters per node.
    """

    cluster: str
    scrape_interval: int
    times: I64
    workloads: tuple[SimWorkload, ...]
    pods: tuple[SimPod, ...]
    replicasets: tuple[SimReplicaSet, ...]
    rows: tuple[tuple[int, str], ...]
    pod_present: Mask
    container_pod: I64
    container_row: I64
    cpu_us: I64
    memory_pages: npt.NDArray[np.int32]
    restarts: npt.NDArray[np.int32]
    cfs: I64
    cfs_periods: I64
    cfs_throttled: I64
    resources: F64
    ready: npt.NDArray[np.int32]
    nodes: tuple[SimNode, ...]
    pod_node: I64
    node_series: NodeSeries

    @property
    def container_present(self) -> Mask:
        return self.pod_present[self.container_pod]

    @property
    def oom(self) -> Mask:
        """Where kube-state-metrics shows last terminated reason OOMKilled (restarts > 0 in this life)."""
        return self.container_present & (self.restarts > 0)


@dataclass(slots=True)
class _PodPlan:
    name: str
    owner_kind: str
    owner_name: str
    lives: list[tuple[float, float]]


def _token(length: int, *parts: object) -> str:
    """A Kubernetes-style random suffix, derived from ``parts`` so that it is reproducible."""
    value = zlib.crc32("/".join(map(str, parts)).encode())
    value = value * 2654435761 + zlib.crc32(repr(parts).encode())
    chars = []
    for _ in range(length):
        value, digit = divmod(value, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def plan_pods(
    namespace: str, workload: Workload, start: float, rollouts: list[float]
) -> tuple[list[_PodPlan], list[SimReplicaSet]]:
    """Pod names, owners and lives ``[born, died)`` of one workload over the period."""
    born0 = start - 86400.0
    n = workload.replicas
    pods: list[_PodPlan] = []
    replicasets: list[SimReplicaSet] = []
    generations = [born0, *rollouts]
    if workload.kind is WorkloadKind.DEPLOYMENT:
        for g, at in enumerate(generations):
            rs = f"{workload.name}-{_token(9, namespace, workload.name, g)}"
            replicasets.append(SimReplicaSet(namespace, rs, workload.name, at))
            for i in range(n):
                born = at if g == 0 else at + 30.0 * i
                died = generations[g + 1] + 30.0 * i + 45.0 if g + 1 < len(generations) else math.inf
                pods.append(_PodPlan(f"{rs}-{_token(5, rs, i)}", "ReplicaSet", rs, [(born, died)]))
    elif workload.kind is WorkloadKind.STATEFULSET:
        for i in range(n):
            lives, born = [], born0
            for at in rollouts:
                died = at + 60.0 * (n - 1 - i)
                lives.append((born, died))
                born = died + 30.0
            lives.append((born, math.inf))
            pods.append(_PodPlan(f"{workload.name}-{i}", "StatefulSet", workload.name, lives))
    else:
        for g, at in enumerate(generations):
            for i in range(n):
                born = at if g == 0 else at + 60.0 * i + 20.0
                died = generations[g + 1] + 60.0 * i if g + 1 < len(generations) else math.inf
                name = f"{workload.name}-{_token(5, namespace, workload.name, g, i)}"
                pods.append(_PodPlan(name, "DaemonSet", workload.name, [(born, died)]))
    return pods, replicasets


class _Clock:
    """Seconds since the period's first local midnight, on the local wall clock (DST-aware)."""

    def __init__(self, scenario: Scenario, times: I64, start: datetime) -> None:
        tz = scenario.tz
        # Offsets change on quarter hours at most: look them up once per quarter hour.
        buckets, inverse = np.unique(times // 900, return_inverse=True)
        offsets = np.array([_utc_offset(datetime.fromtimestamp(int(b) * 900, UTC), tz) for b in buckets])
        local_start = start.timestamp() + _utc_offset(start, tz)
        self.day_position: F64 = times + offsets[inverse.ravel()] - local_start


def _utc_offset(instant: datetime, tz: tzinfo) -> float:
    offset = instant.astimezone(tz).utcoffset()
    return offset.total_seconds() if offset is not None else 0.0


def _shape(usage: Usage, clock: _Clock) -> F64:
    """The usage shape on the scrape grid, before pod factor and noise."""
    position = clock.day_position
    if usage.trace is not None:
        trace = load_trace(usage.trace)
        # Local time L shows the trace's moment L - offset: a positive offset happens later.
        q = np.mod(position - usage.offset - trace.start_second_of_day, trace.seconds) / trace.step
        lower = np.floor(q).astype(np.int64)
        weight = q - lower
        values = trace.values
        upper = (lower + 1) % len(values)
        normalised = values[lower] * (1.0 - weight) + values[upper] * weight
        low, high = float(usage.low or 0.0), float(usage.high or 0.0)
        return low + (high - low) * normalised
    if usage.diurnal is not None:
        d = usage.diurnal
        peak = d.peak.hour * 3600 + d.peak.minute * 60
        wave = np.cos(2.0 * np.pi * (np.mod(position, 86400.0) - peak) / 86400.0)
        return np.maximum(d.base + d.amplitude * wave, 0.0)
    return np.full(len(position), float(usage.constant or 0.0))


def _segmented_cumsum(increments: I64, segment_start: Mask) -> I64:
    """Cumulative sums along axis 1 that restart at every ``segment_start``."""
    total = np.cumsum(increments, axis=1)
    before = total - increments
    # ``before`` never decreases along a row, so a running max carries each segment's base.
    base = np.maximum.accumulate(np.where(segment_start, before, 0), axis=1)
    return total - base


@dataclass(slots=True)
class _ContainerArrays:
    cpu_us: I64
    memory_pages: npt.NDArray[np.int32]
    restarts: npt.NDArray[np.int32]
    periods: I64 | None
    throttled: I64 | None
    increments: I64
    """CPU microseconds since the previous sample (since the start at a container's first)."""


def _simulate_container(
    container: Container,
    times: I64,
    interval: int,
    present: Mask,
    born: F64,
    life_end: I64,
    factor: F64,
    clock: _Clock,
    rng: np.random.Generator,
) -> _ContainerArrays:
    """Samples of one container for every pod of a workload (rows = pods)."""
    shape = (len(factor), len(times))
    t = times.astype(np.float64)
    cpu_demand = _shape(container.cpu, clock)[None, :] * factor[:, None]
    cpu_demand = np.maximum(cpu_demand * (1.0 + container.cpu.noise * rng.standard_normal(shape)), 0.0)
    mem_target = _shape(container.memory, clock)[None, :] * factor[:, None]
    mem_target = np.maximum(mem_target * (1.0 + container.memory.noise * rng.standard_normal(shape)), 0.0)
    floor = container.memory.floor * factor

    run_start = born.copy()
    restarts = np.zeros(shape, dtype=np.int32)

    def memory(rows: slice | int, cols: slice) -> npt.NDArray[np.int64]:
        age = t[cols] - run_start[rows, cols]
        f = floor[rows] if isinstance(rows, int) else floor[rows, None]
        level = f + (mem_target[rows, cols] - f) * (1.0 - np.exp(-age / WARMUP))
        return np.ceil(np.maximum(level, 0.0) / PAGE).astype(np.int64)

    pages = memory(slice(None), slice(None))
    limit = container.limits.memory
    if limit is not None:
        exceed = present & (pages * PAGE > limit)
        for p in np.flatnonzero(exceed.any(axis=1)):
            # OOM kills are sequential: each restart changes the memory that follows it.
            i = int(np.argmax(exceed[p]))
            while True:
                end = int(life_end[p, i]) + 1
                run_start[p, i:end] = max(t[i] - interval / 2.0, born[p, i])
                restarts[p, i:end] += 1
                pages[p, i:end] = memory(int(p), slice(i, end))
                later = present[p, i + 1 :] & (pages[p, i + 1 :] * PAGE > limit)
                if not later.any():
                    break
                i = i + 1 + int(np.argmax(later))

    cpu_limit = container.limits.cpu
    usage = cpu_demand if cpu_limit is None else np.minimum(cpu_demand, cpu_limit)
    previous_present = np.zeros(shape, dtype=bool)
    previous_present[:, 1:] = present[:, :-1]
    previous_start = np.full(shape, np.nan)
    previous_start[:, 1:] = run_start[:, :-1]
    segment_start = present & (~previous_present | (run_start != previous_start))
    # A container's first sample carries its usage since it started; later ones one interval.
    elapsed = np.where(segment_start, t[None, :] - run_start, float(interval))
    increments = np.where(present, np.rint(usage * elapsed * 1e6), 0).astype(np.int64)
    cpu_us = _segmented_cumsum(increments, segment_start)

    periods = throttled = None
    if cpu_limit is not None:
        periods = np.where(present, np.floor(CFS_PER_SECOND * (t[None, :] - run_start)), 0).astype(np.int64)
        new_periods = periods.copy()
        new_periods[:, 1:] -= np.where(segment_start[:, 1:] | ~present[:, 1:], 0, periods[:, :-1])
        share = np.clip((cpu_demand / cpu_limit - THROTTLE_FROM) / (THROTTLE_FULL - THROTTLE_FROM), 0.0, 1.0)
        throttled = _segmented_cumsum(np.rint(new_periods * share).astype(np.int64), segment_start)
    return _ContainerArrays(cpu_us, pages.astype(np.int32), restarts, periods, throttled, increments)


def generate(scenario: Scenario, *, now: datetime | None = None) -> SimData:
    """Simulate ``scenario`` over its period (``now`` resolves ``end: now``)."""
    start_dt, end_dt = scenario.period(now)
    start, end = start_dt.timestamp(), end_dt.timestamp()
    interval = scenario.scrape_interval
    first = math.ceil(start / interval) * interval
    times = np.arange(first, math.floor(end) + 1, interval, dtype=np.int64)
    clock = _Clock(scenario, times, start_dt)
    tz = scenario.tz
    nodes = plan_nodes(scenario.node_pools)
    placement = Placement(scenario, nodes)
    load = NodeLoad(len(nodes), len(times)) if nodes else None

    workloads: list[SimWorkload] = []
    pods: list[SimPod] = []
    replicasets: list[SimReplicaSet] = []
    rows: list[tuple[int, str]] = []
    presents: list[Mask] = []
    container_pod: list[I64] = []
    container_row: list[I64] = []
    cpu_us: list[I64] = []
    memory_pages: list[npt.NDArray[np.int32]] = []
    restarts: list[npt.NDArray[np.int32]] = []
    cfs_index: list[I64] = []
    periods: list[I64] = []
    throttled: list[I64] = []
    resources: list[F64] = []
    ready: list[npt.NDArray[np.int32]] = []
    pod_node: list[I64] = []
    n_cfs = 0

    for w, (namespace, workload) in enumerate(scenario.workloads()):
        workloads.append(
            SimWorkload(
                namespace,
                workload.kind,
                workload.name,
                tuple(c.name for c in workload.containers),
                workload.hpa,
                tuple(sorted(workload.labels.items())),
            )
        )
        instants = sorted(r.instant(end_dt, tz).timestamp() for r in workload.rollouts)
        plans, sets = plan_pods(namespace, workload, start, [r for r in instants if start < r < end])
        replicasets.extend(sets)
        n_pods = len(plans)
        present = np.zeros((n_pods, len(times)), dtype=bool)
        # Where a pod is absent its "birth" is the sample time itself: finite, and masked anyway.
        born = np.tile(times.astype(np.float64), (n_pods, 1))
        life_end = np.zeros((n_pods, len(times)), dtype=np.int64)
        for p, plan in enumerate(plans):
            pods.append(SimPod(namespace, plan.name, w, plan.owner_kind, plan.owner_name))
            for life_born, died in plan.lives:
                lo = int(np.searchsorted(times, life_born, "left"))
                hi = int(np.searchsorted(times, died, "left"))
                present[p, lo:hi] = True
                born[p, lo:hi] = life_born
                life_end[p, lo:hi] = hi - 1
        first_pod = len(pods) - n_pods
        presents.append(present)
        nodes_of_pods = placement.place(workload, n_pods)
        pod_node.append(nodes_of_pods)
        ready.append(present.sum(axis=0, dtype=np.int32))

        rng = np.random.default_rng([scenario.seed, zlib.crc32(f"{namespace}/{workload.name}".encode())])
        factor = 1.0 + scenario.pod_spread * rng.uniform(-1.0, 1.0, n_pods)
        for container in workload.containers:
            row = len(rows)
            rows.append((w, container.name))
            arrays = _simulate_container(
                container, times, interval, present, born, life_end, factor, clock, rng
            )
            if load is not None:
                load.add(nodes_of_pods, present, arrays.increments, arrays.memory_pages)
            container_pod.append(np.arange(first_pod, first_pod + n_pods, dtype=np.int64))
            container_row.append(np.full(n_pods, row, dtype=np.int64))
            cpu_us.append(arrays.cpu_us)
            memory_pages.append(arrays.memory_pages)
            restarts.append(arrays.restarts)
            if arrays.periods is not None and arrays.throttled is not None:
                cfs_index.append(np.arange(n_cfs, n_cfs + n_pods, dtype=np.int64))
                n_cfs += n_pods
                periods.append(arrays.periods)
                throttled.append(arrays.throttled)
            else:
                cfs_index.append(np.full(n_pods, -1, dtype=np.int64))
            values = [
                container.requests.cpu,
                container.limits.cpu,
                container.requests.memory,
                container.limits.memory,
            ]
            resources.append(np.tile(np.array([np.nan if v is None else v for v in values]), (n_pods, 1)))

    n_s = len(times)
    return SimData(
        cluster=scenario.cluster,
        scrape_interval=interval,
        times=times,
        workloads=tuple(workloads),
        pods=tuple(pods),
        replicasets=tuple(replicasets),
        rows=tuple(rows),
        pod_present=np.concatenate(presents) if presents else np.zeros((0, n_s), dtype=bool),
        container_pod=np.concatenate(container_pod),
        container_row=np.concatenate(container_row),
        cpu_us=np.concatenate(cpu_us),
        memory_pages=np.concatenate(memory_pages),
        restarts=np.concatenate(restarts),
        cfs=np.concatenate(cfs_index),
        cfs_periods=np.concatenate(periods) if periods else np.zeros((0, n_s), dtype=np.int64),
        cfs_throttled=np.concatenate(throttled) if throttled else np.zeros((0, n_s), dtype=np.int64),
        resources=np.concatenate(resources),
        ready=np.stack(ready),
        nodes=nodes,
        pod_node=np.concatenate(pod_node),
        node_series=(
            load.series(nodes, scenario.node_pools, scenario.seed, interval)
            if load is not None
            else NodeSeries.empty(n_s)
        ),
    )
