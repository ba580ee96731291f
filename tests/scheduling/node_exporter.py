"""node-exporter and kube-state-metrics history written as OpenMetrics, one file per 2-hour block.

A node's CPU and memory utilisation are given as functions of the time; the writer turns
them into what node-exporter exports — per-CPU ``node_cpu_seconds_total`` counters by mode
(the share not idle/iowait/steal is the utilisation) and the ``MemAvailable`` and
``MemTotal`` gauges — sampled every ``step`` seconds. Utilisation is constant within each
step, so ``rate()`` over a stretch of constant utilisation gives it back exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

BLOCK_S = 7200
Profile = Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]
"""Utilisation (0..1) at each of the given unix times."""


def constant(value: float, *spikes: tuple[float, float, float]) -> Profile:
    """``value``, except ``spike_value`` during each (start, end, spike_value) in unix seconds."""

    def profile(times: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out = np.full(times.shape, value, dtype=np.float64)
        for start, end, spike in spikes:
            out[(times >= start) & (times < end)] = spike
        return out

    return profile


@dataclass(frozen=True)
class ExporterNode:
    """One node-exporter target: its labels (instance, node, cluster...) and utilisation profiles."""

    labels: dict[str, str]
    cpu: Profile
    memory: Profile
    cpus: int = 2
    memory_bytes: float = 8 * 2**30


@dataclass(frozen=True)
class Series:
    name: str
    kind: str  # counter | gauge
    labels: dict[str, str]
    times: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]


@dataclass
class History:
    """Series to be written; ``times`` is the common sample grid (unix seconds)."""

    start: float
    end: float
    step: float = 60.0
    series: list[Series] = field(default_factory=list)

    @property
    def times(self) -> npt.NDArray[np.float64]:
        return np.arange(self.start, self.end + self.step / 2, self.step, dtype=np.float64)

    def add(
        self,
        name: str,
        kind: str,
        labels: dict[str, str],
        times: npt.NDArray[np.float64],
        values: npt.NDArray[np.float64],
    ) -> None:
        self.series.append(Series(name, kind, labels, times, values))

    def node_exporter(self, node: ExporterNode) -> None:
        times = self.times
        cpu = np.clip(node.cpu(times), 0.0, 1.0)
        # Counter value at sample k: the seconds accumulated over the steps before it.
        modes = {"idle": 0.9, "iowait": 0.07, "steal": 0.03}
        busy = {"user": 0.8, "system": 0.2}
        for index in range(node.cpus):
            for mode, share in (*modes.items(), *busy.items()):
                rate = (1.0 - cpu) * share if mode in modes else cpu * share
                counter = 1000.0 + np.concatenate([[0.0], np.cumsum(rate[:-1] * self.step)])
                self.add(
                    "node_cpu_seconds_total",
                    "counter",
                    {**node.labels, "cpu": str(index), "mode": mode},
                    times,
                    counter,
                )
        memory = np.clip(node.memory(times), 0.0, 1.0)
        self.add(
            "node_memory_MemTotal_bytes",
            "gauge",
            dict(node.labels),
            times,
            np.full(times.shape, node.memory_bytes),
        )
        self.add(
            "node_memory_MemAvailable_bytes",
            "gauge",
            dict(node.labels),
            times,
            (1.0 - memory) * node.memory_bytes,
        )

    def gauge(
        self, name: str, labels: dict[str, str], value: float | Profile, since: float | None = None
    ) -> None:
        times = self.times
        if since is not None:
            times = times[times >= since]
        values = value(times) if callable(value) else np.full(times.shape, value)
        self.add(name, "gauge", labels, times, values)

    def write(self, folder: Path) -> list[Path]:
        """One OpenMetrics file per 2-hour block (families contiguous, ``# EOF`` last)."""
        folder.mkdir(parents=True, exist_ok=True)
        first = int(self.start // BLOCK_S) * BLOCK_S
        files = []
        for block_start in range(first, int(self.end) + 1, BLOCK_S):
            block_end = block_start + BLOCK_S
            lines: list[str] = []
            for name in dict.fromkeys(s.name for s in self.series):
                family = [s for s in self.series if s.name == name]
                body: list[str] = []
                for series in family:
                    mask = (series.times >= block_start) & (series.times < block_end)
                    labels = ",".join(f'{k}="{v}"' for k, v in sorted(series.labels.items()))
                    body += [
                        f"{name}{{{labels}}} {value!r} {int(t)}"
                        for t, value in zip(series.times[mask], series.values[mask].tolist(), strict=True)
                    ]
                if body:
                    # OpenMetrics names a counter family without its _total suffix.
                    kind = family[0].kind
                    type_name = name.removesuffix("_total") if kind == "counter" else name
                    lines.append(f"# TYPE {type_name} {kind}")
                    lines += body
            if lines:
                path = folder / f"block-{block_start}.om"
                path.write_text("\n".join(lines) + "\n# EOF\n")
                files.append(path)
        return files


def node_info(history: History, cluster: dict[str, str], nodes: Iterable[tuple[str, str]]) -> None:
    for name, ip in nodes:
        history.gauge(
            "kube_node_info", {**cluster, "node": name, "internal_ip": ip, "kernel_version": "6.1.0"}, 1.0
        )


def scheduled_pod(
    history: History,
    cluster: dict[str, str],
    *,
    namespace: str,
    pod: str,
    node: str,
    at: float,
    requests: Sequence[tuple[str, float]] = (),
    limits: Sequence[tuple[str, float]] = (),
) -> None:
    """kube-state-metrics' series of a pod scheduled at ``at``: scheduled time, info, requests, limits."""
    base = {**cluster, "namespace": namespace, "pod": pod, "uid": f"uid-{pod}"}
    history.gauge("kube_pod_status_scheduled_time", base, at, since=at)
    history.gauge("kube_pod_info", {**base, "node": node, "host_ip": "", "pod_ip": ""}, 1.0, since=at)
    for resource, value in requests:
        history.gauge(
            "kube_pod_container_resource_requests",
            {**base, "container": "app", "resource": resource},
            value,
            since=at,
        )
    for resource, value in limits:
        history.gauge(
            "kube_pod_container_resource_limits",
            {**base, "container": "app", "resource": resource},
            value,
            since=at,
        )
