"""The simulated cluster: a UsageSource without Prometheus, and OpenMetrics for a real one.

kubecap needs usage history for its demo, its tests and its benchmarks, and the contract
test needs a second implementation of docs/collection.md to hold the PromQL catalogue to.
A scenario (YAML: namespaces, workloads, containers, requests/limits, replicas, rollouts and
usage shapes following real traces) is turned into the raw series a cluster would export;
from those the simulated source computes the daily profiles directly, the same way
Prometheus 2.x would, and it can also write them as OpenMetrics for ``promtool tsdb
create-blocks-from openmetrics``.

Public API (everything else in ``sim_*`` modules is internal):

    Scenario                                   pydantic model of a scenario (sim_scenario)
    load_scenario(path: Path) -> Scenario      read and validate a YAML file (ConfigError on any problem)
    scenario_from_yaml(text: str, *, source: str = "scenario") -> Scenario
    demo_scenario() -> Scenario                the bundled scenarios/demo.yaml
    generate_scenario(workloads: int, pods_per_workload: int, days: int,
                      end: datetime | "now" = "now", seed: int = 0, *,
                      cluster: str = "bench", timezone: str = "UTC") -> Scenario
    trace_names() -> tuple[str, ...]           the bundled real traces a scenario can use

    class SimulatedSource(scenario: Scenario, *, step: int = 60, now: datetime | None = None)
        .cluster -> str                        the scenario's cluster name (UsageSource)
        .scenario -> Scenario
        .period -> tuple[datetime, datetime]   UTC start and end of the simulated history
        .peak_windows -> list[PeakWindow]      the scenario's peak windows
        .data() -> SimData                     the generated arrays (generated once, on first use)
        async .window_usage(window: DailyWindow) -> WindowUsage     (UsageSource)
        .profiles(window: DailyWindow) -> list[UsageProfile]        the same, synchronously
        async .node_usage(window: DailyWindow) -> NodeWindowUsage   (UsageSource)
        .nodes(window: DailyWindow) -> tuple[list[NodeUsage], list[str]]   the same, synchronously
        .write_openmetrics(out_dir: Path, *, extra_labels: Mapping[str, str] = {},
                           static_every: int = 1) -> list[Path]    one file per 2-hour block

``now`` resolves ``end: now`` once, when the source is built (default: the current minute).
Windows reaching outside the simulated period simply have fewer points (a warning says so);
a workload container without any CPU point in a window has no row.

Where the simulated source approximates Prometheus: none for the figures themselves (the
same samples, the same range/lookback/extrapolation rules, see sim_profile); the averages
across pods and the reset corrections may be summed in another order (a few ulps). The
simulated cluster itself is a model (see sim_generate): pods start and end on exact instants,
CFS periods are counted for every 100 ms of a container's life, and throttling ramps with
demand near the limit.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from kubecap.domain.hpa import HpaInfo, HpaMetric
from kubecap.domain.labels import sanitise
from kubecap.domain.node import NodeUsage
from kubecap.domain.pooling import Replicas, pool
from kubecap.domain.usage import UsageProfile
from kubecap.domain.window import DAY, DailyWindow, PeakWindow
from kubecap.domain.workload import WorkloadRef
from kubecap.errors import ConfigError
from kubecap.metrics.nodes import NodeDay, node_rows
from kubecap.metrics.sim_generate import PAGE, SimData, generate
from kubecap.metrics.sim_node_profile import NodeSamples, node_figures
from kubecap.metrics.sim_nodes import per_cpu
from kubecap.metrics.sim_openmetrics import write_openmetrics as _write_openmetrics
from kubecap.metrics.sim_profile import LOOKBACK, WindowSamples, series_figures
from kubecap.metrics.sim_scenario import (
    Scenario,
    demo_scenario,
    generate_scenario,
    load_scenario,
    scenario_from_yaml,
)
from kubecap.metrics.sim_traces import trace_names
from kubecap.ports import NodeWindowUsage, WindowUsage

__all__ = [
    "Scenario",
    "SimData",
    "SimulatedSource",
    "demo_scenario",
    "generate_scenario",
    "load_scenario",
    "scenario_from_yaml",
    "trace_names",
]

_NO_LABELS: Mapping[str, str] = MappingProxyType({})


class SimulatedSource:
    """A UsageSource over a simulated cluster (see the module docstring)."""

    def __init__(
        self, scenario: Scenario, *, step: int = 60, day_step: int = 300, now: datetime | None = None
    ) -> None:
        if step < 1 or day_step < 1:
            raise ConfigError(
                f"evaluation steps {step}s / {day_step}s must be positive; use the defaults 60s / 300s"
            )
        self._scenario = scenario
        self._step = step
        self._day_step = day_step
        self._period = scenario.period(now or datetime.now(UTC))
        self._data: SimData | None = None
        self._lock = threading.Lock()

    @property
    def cluster(self) -> str:
        return self._scenario.cluster

    @property
    def scenario(self) -> Scenario:
        return self._scenario

    @property
    def period(self) -> tuple[datetime, datetime]:
        return self._period

    @property
    def peak_windows(self) -> list[PeakWindow]:
        return [PeakWindow.parse(spec) for spec in self._scenario.peak_windows]

    def data(self) -> SimData:
        """The simulated series (generated on first use; thread-safe)."""
        with self._lock:
            if self._data is None:
                self._data = generate(self._scenario, now=self._period[1])
            return self._data

    async def window_usage(self, window: DailyWindow) -> WindowUsage:
        # Generation and the figures are CPU work on big arrays: keep them off the event loop.
        profiles = await asyncio.to_thread(self.profiles, window)
        warnings = []
        start, end = self._period
        if window.start < start or window.end > end:
            warnings.append(
                f"window {window.name} of {window.day} reaches outside the simulated period "
                f"{start:%Y-%m-%d %H:%M}-{end:%Y-%m-%d %H:%M} UTC: its figures rest on fewer points"
            )
        return WindowUsage(profiles=profiles, queries=0, warnings=warnings)

    async def workload_labels(self, window: DailyWindow) -> dict[WorkloadRef, dict[str, str]]:
        """The scenario's workload labels, keyed as kube-state-metrics writes them (for the whole period)."""
        start, end = self._period
        if window.end <= start or window.start >= end:
            return {}
        return {
            WorkloadRef(self.cluster, namespace, w.kind, w.name): {
                sanitise(k): v for k, v in w.labels.items()
            }
            for namespace, w in self._scenario.workloads()
        }

    async def hpas(self, window: DailyWindow) -> list[HpaInfo]:
        """The scenario's HPAs (they exist for the whole simulated period)."""
        start, end = self._period
        if window.end <= start or window.start >= end:
            return []
        out = []
        for namespace, workload in self._scenario.workloads():
            hpa = workload.hpa
            if hpa is None:
                continue
            metrics = {
                metric
                for metric, present in (
                    (HpaMetric.CPU, hpa.cpu),
                    (HpaMetric.MEMORY, hpa.memory),
                    (HpaMetric.OTHER, hpa.other),
                )
                if present is not None
            }
            out.append(
                HpaInfo(
                    workload=WorkloadRef(self.cluster, namespace, workload.kind, workload.name),
                    name=workload.name,
                    min_replicas=hpa.min,
                    max_replicas=hpa.max,
                    metrics=frozenset(metrics),
                    target_cpu_utilization=hpa.cpu / 100 if hpa.cpu is not None else None,
                    target_memory_utilization=hpa.memory / 100 if hpa.memory is not None else None,
                )
            )
        return sorted(out, key=lambda h: (h.workload.namespace, h.name))

    async def node_usage(self, window: DailyWindow) -> NodeWindowUsage:
        nodes, warnings = await asyncio.to_thread(self.nodes, window)
        return NodeWindowUsage(nodes=nodes, queries=0, warnings=warnings)

    def nodes(self, window: DailyWindow) -> tuple[list[NodeUsage], list[str]]:
        """Figures of every node seen in ``window``, and warnings (nodes without node-exporter).

        A scenario without ``node_pools`` has no nodes, hence no figures and no warning.
        """
        data = self.data()
        span = self._span(window) if data.nodes else None
        if span is None:
            return [], []
        points, i0, i1 = span
        figures = node_figures(_node_samples(data, i0, i1), points)
        days = [
            NodeDay(
                node=node.name,
                cpu_p99=_value(figures.cpu_p99[n]),
                mem_p99=_value(figures.mem_p99[n]),
                cpu_allocatable=_value(figures.allocatable[n, 0]),
                mem_allocatable=_value(figures.allocatable[n, 1]),
                cpu_requests=_value(figures.requests[n, 0]),
                mem_requests=_value(figures.requests[n, 1]),
                other_pods=bool(figures.other_pods[n]),
                pool=node.pool,
            )
            for n, node in enumerate(data.nodes)
            if figures.seen[n]
        ]
        return node_rows(self.cluster, window.day, days)

    def _span(self, window: DailyWindow) -> tuple[npt.NDArray[np.int64], int, int] | None:
        """The window's evaluation points and the scrape columns they read, None without any."""
        data = self.data()
        step = self._day_step if window.name == DAY else self._step
        first = int(window.start.timestamp())
        points = first + step * np.arange(1, window.seconds // step + 1, dtype=np.int64)
        if len(points) == 0:
            return None
        i0 = int(np.searchsorted(data.times, points[0] - LOOKBACK, "left"))
        i1 = int(np.searchsorted(data.times, points[-1], "right"))
        return None if i0 >= i1 else (points, i0, i1)

    def profiles(self, window: DailyWindow) -> list[UsageProfile]:
        """Rows of every workload container with CPU data in ``window``."""
        data = self.data()
        span = self._span(window)
        if span is None:
            return []
        points, i0, i1 = span
        figures = series_figures(_window_samples(data, i0, i1), points)
        workloads = [data.workloads[w] for w, _ in data.rows]
        keys = [
            (workloads[r].namespace, workloads[r].kind, workloads[r].name, data.rows[r][1])
            for r in data.container_row
        ]
        pods = figures.pods(keys)
        replicas = {
            (w.namespace, w.kind, w.name): Replicas(
                _value(figures.replicas_min[i]),
                _value(figures.replicas_avg[i]),
                _value(figures.replicas_max[i]),
            )
            for i, w in enumerate(data.workloads)
        }
        return pool(self.cluster, window, pods, replicas)

    def write_openmetrics(
        self, out_dir: Path, *, extra_labels: Mapping[str, str] = _NO_LABELS, static_every: int = 1
    ) -> list[Path]:
        """OpenMetrics files for promtool, one per 2-hour-aligned block, in time order."""
        return _write_openmetrics(self.data(), out_dir, extra_labels=extra_labels, static_every=static_every)


def _value(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def _window_samples(data: SimData, i0: int, i1: int) -> WindowSamples:
    """The samples of scrape columns ``i0:i1`` in the form the pure figures take."""
    present = data.pod_present[data.container_pod, i0:i1]
    cfs = data.cfs >= 0
    periods = np.zeros(present.shape)
    throttled = np.zeros(present.shape)
    periods[cfs] = data.cfs_periods[data.cfs[cfs], i0:i1]
    throttled[cfs] = data.cfs_throttled[data.cfs[cfs], i0:i1]
    restarts = data.restarts[:, i0:i1]
    return WindowSamples(
        times=data.times[i0:i1],
        present=present,
        # Integer microseconds / 1e6 is the double nearest to the decimal that the OpenMetrics
        # export writes, which is what Prometheus parses: both sides see the same numbers.
        cpu=data.cpu_us[:, i0:i1] / 1e6,
        memory=data.memory_pages[:, i0:i1].astype(np.float64) * PAGE,
        cfs=cfs,
        periods=periods,
        throttled=throttled,
        restarts=restarts.astype(np.float64),
        oom=present & (restarts > 0),
        resources=data.resources,
        row=data.container_row,
        row_workload=np.array([w for w, _ in data.rows], dtype=np.int64),
        replicas=data.ready[:, i0:i1].astype(np.float64),
        replicas_present=np.ones((len(data.workloads), i1 - i0), dtype=bool),
    )


def _node_samples(data: SimData, i0: int, i1: int) -> NodeSamples:
    """The node and pod samples of scrape columns ``i0:i1`` in the form the pure node figures take."""
    series = data.node_series
    busy, busy_node = [], []
    for n, node in enumerate(data.nodes):
        if node.instance is None:
            continue
        for counter in (series.user_us, series.system_us):
            # Integer microseconds / 1e6, exactly as the OpenMetrics export writes them.
            busy.append(per_cpu(counter[n : n + 1, i0:i1], node.cpus) / 1e6)
            busy_node.append(np.full(node.cpus, n, dtype=np.int64))
    columns = i1 - i0
    return NodeSamples(
        times=data.times[i0:i1],
        node_present=np.ones(columns, dtype=bool),
        allocatable=np.array([[node.cpu, node.memory] for node in data.nodes]),
        exporter=np.array([node.instance is not None for node in data.nodes]),
        busy=np.concatenate(busy) if busy else np.zeros((0, columns)),
        busy_node=np.concatenate(busy_node) if busy_node else np.zeros(0, dtype=np.int64),
        mem_total=np.array([float(node.mem_total) for node in data.nodes]),
        mem_available=series.mem_available[:, i0:i1].astype(np.float64),
        requests=data.resources[:, [0, 2]],
        container_present=data.pod_present[data.container_pod, i0:i1],
        container_node=data.pod_node[data.container_pod],
        pod_present=data.pod_present[:, i0:i1],
        pod_node=data.pod_node,
        pod_daemonset=np.array([pod.owner_kind == "DaemonSet" for pod in data.pods], dtype=bool),
    )
