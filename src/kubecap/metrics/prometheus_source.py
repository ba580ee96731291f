"""Daily usage profiles read from a Prometheus-compatible store.

For each window this sends nine batched queries for the whole cluster (chunked by namespace
when the cluster is large), never one query per workload: which series exist, how many
containers each namespace has, the pods' owners, then one query per metric family returning
every pod container's figures. kubecap maps pods to workloads and pools their figures
(domain/pooling.py), as docs/collection.md specifies. Node figures take one more query per
whole day, whose node-exporter instances kubecap maps to nodes (metrics/nodes.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from kubecap.domain.hpa import HpaInfo, HpaMetric
from kubecap.domain.pooling import RESOURCE_FIGURES, ContainerKey, PodFigures, Replicas, WorkloadKey, pool
from kubecap.domain.usage import CPU_QUANTILES, MEMORY_QUANTILES, UsageProfile
from kubecap.domain.window import DAY, DailyWindow
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.errors import MissingSeriesError
from kubecap.metrics.nodes import POOL_LABELS, node_days_from_samples, node_rows
from kubecap.metrics.promql import (
    NAMESPACE_CONTAINERS,
    OPTIONAL_SERIES,
    REQUIRED_SERIES,
    Catalogue,
    Scope,
    WindowShape,
)
from kubecap.ports import NodeWindowUsage, WindowUsage

INVENTORY_SPAN_MS = 3_600_000 - 1
"""The part of a window read first to see which series exist: its last hour."""

PodKey = tuple[str, str, str]  # namespace, pod, container
_KIND_OF_LABEL = {
    "deployment": WorkloadKind.DEPLOYMENT,
    "statefulset": WorkloadKind.STATEFULSET,
    "daemonset": WorkloadKind.DAEMONSET,
}
_CPU_FIGURES = tuple(f"cpu_p{round(q * 100)}" for q in CPU_QUANTILES)
_MEM_FIGURES = tuple(f"mem_p{round(q * 100)}" for q in MEMORY_QUANTILES)


class _Sample(Protocol):
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def value(self) -> float: ...


class QueryClient(Protocol):
    """The part of the Prometheus client this source needs."""

    @property
    def queries_sent(self) -> int: ...

    async def instant(self, query: str, at: datetime) -> Sequence[_Sample]: ...


class PrometheusUsageSource:
    """A UsageSource over the Prometheus HTTP API.

    ``pool_labels`` are the Kubernetes node labels that name a node's pool, tried in order
    (kube-state-metrics exports only the labels its ``--metric-labels-allowlist`` allows).
    """

    def __init__(
        self,
        client: QueryClient,
        *,
        cluster: str,
        cluster_label: Mapping[str, str] | None = None,
        step_s: int = 60,
        day_step_s: int = 300,
        series_budget: int = 20_000,
        pool_labels: Sequence[str] = POOL_LABELS,
    ) -> None:
        self._client = client
        self._cluster = cluster
        self._scope = Scope.for_cluster(dict(cluster_label or {}))
        self._step_s = step_s
        self._day_step_s = day_step_s
        self._budget = series_budget
        self._pool_labels = tuple(pool_labels)

    @property
    def cluster(self) -> str:
        return self._cluster

    def _shape(self, window: DailyWindow) -> WindowShape:
        """The window's evaluation points: every minute in a peak window, every 5 minutes in a day."""
        step = self._day_step_s if window.name == DAY else self._step_s
        return WindowShape(range_ms=window.seconds * 1000, step_s=step)

    async def window_usage(self, window: DailyWindow) -> WindowUsage:
        shape = self._shape(window)
        sent_before = self._client.queries_sent
        present, sizes = await self._inventory(window)
        warnings = await self._check_series(window, present)
        if warnings is None:
            return WindowUsage([], self._client.queries_sent - sent_before, ["no series in this window"])
        chunks = self._chunks(sizes)
        parts = await asyncio.gather(*(self._chunk_rows(window, shape, Catalogue(scope)) for scope in chunks))
        profiles = [p for part in parts for p in part]
        return WindowUsage(profiles, self._client.queries_sent - sent_before, warnings)

    async def node_usage(self, window: DailyWindow) -> NodeWindowUsage:
        shape = self._shape(window)
        sent_before = self._client.queries_sent
        # The cluster scope only: node series have no namespace, so no namespace chunks.
        samples = await self._client.instant(Catalogue(self._scope).nodes(shape), window.end)
        days, warnings = node_days_from_samples(samples, self._pool_labels)
        nodes, more = node_rows(self._cluster, window.day, days)
        return NodeWindowUsage(nodes, self._client.queries_sent - sent_before, [*warnings, *more])

    async def workload_labels(self, window: DailyWindow) -> dict[WorkloadRef, dict[str, str]]:
        samples = await self._client.instant(
            Catalogue(self._scope).workload_labels(self._shape(window)), window.end
        )
        return workload_labels_from(self._cluster, samples)

    async def hpas(self, window: DailyWindow) -> list[HpaInfo]:
        samples = await self._client.instant(Catalogue(self._scope).hpas(self._shape(window)), window.end)
        return hpas_from(self._cluster, samples)

    # -- checks and chunking ------------------------------------------------------------
    async def _inventory(self, window: DailyWindow) -> tuple[set[str], dict[str, int]]:
        """Metrics present in the window and container series per namespace.

        The last hour of the window is read first: for a day of a big cluster that is 24 times
        fewer samples to scan. Only what looks missing there is looked for in the whole window
        (absent series cost nothing to scan), so the answer is the same as a whole-window scan's.
        """
        wanted = [*REQUIRED_SERIES, *OPTIONAL_SERIES]
        full_ms = window.seconds * 1000 - 1
        present, sizes = await self._read_inventory(window, min(full_ms, INVENTORY_SPAN_MS), wanted)
        missing = [m for m in wanted if m not in present]
        if missing and full_ms > INVENTORY_SPAN_MS:
            more, full_sizes = await self._read_inventory(window, full_ms, missing)
            present |= more
            if "container_memory_working_set_bytes" in more:
                sizes = full_sizes
        return present, sizes

    async def _read_inventory(
        self, window: DailyWindow, span_ms: int, metrics: Sequence[str]
    ) -> tuple[set[str], dict[str, int]]:
        samples = await self._client.instant(Catalogue(self._scope).inventory(span_ms, metrics), window.end)
        present = {s.labels.get("metric", "") for s in samples} - {NAMESPACE_CONTAINERS}
        sizes = {
            s.labels.get("namespace", ""): int(s.value)
            for s in samples
            if s.labels.get("metric") == NAMESPACE_CONTAINERS
        }
        return present, sizes

    async def _check_series(self, window: DailyWindow, present: set[str]) -> list[str] | None:
        """Warnings for optional series that are absent; None when the window has no data at all."""
        missing = [m for m in REQUIRED_SERIES if m not in present]
        if len(missing) == len(REQUIRED_SERIES) and not present:
            if self._scope.matchers:
                unscoped = Catalogue().inventory(window.seconds * 1000 - 1, list(REQUIRED_SERIES))
                if await self._client.instant(unscoped, window.end):
                    label = ", ".join(str(m) for m in self._scope.matchers)
                    raise MissingSeriesError(
                        f"no series match the cluster label {{{label}}} of cluster {self._cluster!r}, though the store"
                        " has such series for other label values: check cluster_label in the settings"
                    )
            return None
        if missing:
            name = missing[0]
            raise MissingSeriesError(
                f"no {name} series between {window.start:%Y-%m-%d %H:%M} and {window.end:%Y-%m-%d %H:%M} UTC"
                f" in cluster {self._cluster!r}: {REQUIRED_SERIES[name]}"
            )
        return [f"no {name} series: {hint}" for name, hint in OPTIONAL_SERIES.items() if name not in present]

    def _chunks(self, sizes: Mapping[str, int]) -> list[Scope]:
        """The scopes to query: the whole cluster, or namespace groups under the series budget."""
        if sum(sizes.values()) <= self._budget:
            return [self._scope]
        return [self._scope.with_namespaces(group) for group in pack_namespaces(sizes, self._budget)]

    # -- one chunk ----------------------------------------------------------------------
    async def _chunk_rows(
        self, window: DailyWindow, shape: WindowShape, cat: Catalogue
    ) -> list[UsageProfile]:
        async def figures(query: str) -> list[_Sample]:
            return list(await self._client.instant(query, window.end))

        per_pod = [
            *cat.cpu(shape),
            *cat.memory(shape),
            cat.resources(shape),
            *cat.throttling(shape),
            cat.restarts(shape),
        ]
        owners, replicas, *figures_of_pods = await asyncio.gather(
            figures(cat.ownership(shape)), figures(cat.ready_replicas(shape)), *(figures(q) for q in per_pod)
        )
        pods = pod_figures(workloads_of_pods(owners), by_pod([s for part in figures_of_pods for s in part]))
        return pool(self._cluster, window, pods, replicas_of_workloads(replicas))


def pack_namespaces(sizes: Mapping[str, int], budget: int) -> list[list[str]]:
    """Namespaces grouped so each group's series stay under ``budget`` (first-fit decreasing).

    A namespace larger than the budget forms a group of its own: splitting it would need
    the pod list in every query.
    """
    groups: list[tuple[int, list[str]]] = []
    for name, size in sorted(sizes.items(), key=lambda item: (-item[1], item[0])):
        for i, (total, members) in enumerate(groups):
            if total + size <= budget:
                groups[i] = (total + size, [*members, name])
                break
        else:
            groups.append((size, [name]))
    return [sorted(members) for _, members in groups]


def workloads_of_pods(owners: Sequence[_Sample]) -> dict[tuple[str, str], tuple[WorkloadKind, str]]:
    """(namespace, pod) → (kind, name), following ReplicaSets to their Deployment."""
    deployments = {
        (s.labels.get("namespace", ""), s.labels["replicaset"]): s.labels.get("owner_name", "")
        for s in owners
        if "replicaset" in s.labels
    }
    out: dict[tuple[str, str], tuple[WorkloadKind, str]] = {}
    for s in owners:
        if "pod" not in s.labels:
            continue
        namespace, kind, name = (
            s.labels.get("namespace", ""),
            s.labels.get("owner_kind"),
            s.labels.get("owner_name", ""),
        )
        if kind in (WorkloadKind.STATEFULSET, WorkloadKind.DAEMONSET):
            out[(namespace, s.labels["pod"])] = (WorkloadKind(kind), name)
        elif kind == "ReplicaSet" and (namespace, name) in deployments:
            out[(namespace, s.labels["pod"])] = (WorkloadKind.DEPLOYMENT, deployments[(namespace, name)])
    return out


def by_pod(samples: Sequence[_Sample]) -> dict[PodKey, dict[str, float]]:
    """Figures per pod container from samples labelled namespace, pod, container and figure."""
    out: dict[PodKey, dict[str, float]] = {}
    for s in samples:
        key = (s.labels.get("namespace", ""), s.labels.get("pod", ""), s.labels.get("container", ""))
        out.setdefault(key, {})[s.labels.get("figure", "")] = float(s.value)
    return out


def pod_figures(
    workloads: Mapping[tuple[str, str], tuple[WorkloadKind, str]],
    figures: Mapping[PodKey, Mapping[str, float]],
) -> PodFigures:
    """The pods that belong to a workload, as the arrays pooling takes."""
    keys: list[ContainerKey] = []
    rows: list[Mapping[str, float]] = []
    for (namespace, pod, container), values in sorted(figures.items()):
        owner = workloads.get((namespace, pod))
        if owner is not None and container:
            keys.append((namespace, owner[0], owner[1], container))
            rows.append(values)

    def column(name: str) -> npt.NDArray[np.float64]:
        return np.fromiter((r.get(name, np.nan) for r in rows), dtype=np.float64, count=len(rows))

    def matrix(names: Sequence[str]) -> npt.NDArray[np.float64]:
        return np.column_stack([column(n) for n in names]) if rows else np.empty((0, len(names)))

    return PodFigures(
        keys=keys,
        cpu_quantiles=matrix(_CPU_FIGURES),
        cpu_max=column("cpu_max"),
        cpu_points=np.nan_to_num(column("cpu_points")),
        mem_quantiles=matrix(_MEM_FIGURES),
        mem_max=column("mem_max"),
        mem_points=np.nan_to_num(column("mem_points")),
        resources=matrix(RESOURCE_FIGURES),
        throttled=column("throttled"),
        periods=column("periods"),
        restarts=column("restarts"),
        oom_seen=np.nan_to_num(column("oom_seen")),
    )


def workload_labels_from(cluster: str, samples: Sequence[_Sample]) -> dict[WorkloadRef, dict[str, str]]:
    """Labels per workload from kube-state-metrics' ``kube_<kind>_labels`` samples."""
    out: dict[WorkloadRef, dict[str, str]] = {}
    for s in samples:
        for label, kind in _KIND_OF_LABEL.items():
            if label in s.labels:
                ref = WorkloadRef(cluster, s.labels.get("namespace", ""), kind, s.labels[label])
                found = {k.removeprefix("label_"): v for k, v in s.labels.items() if k.startswith("label_")}
                out.setdefault(ref, {}).update(found)
    return out


def hpas_from(cluster: str, samples: Sequence[_Sample]) -> list[HpaInfo]:
    """HpaInfo per HPA whose target is a workload kind kubecap knows; others are left out."""
    by_hpa: dict[tuple[str, str], dict[str, Any]] = {}
    for s in samples:
        key = (s.labels.get("namespace", ""), s.labels.get("horizontalpodautoscaler", ""))
        entry = by_hpa.setdefault(key, {"metrics": {}})
        figure = s.labels.get("figure")
        if figure == "target":
            entry["kind"], entry["name"] = (
                s.labels.get("scaletargetref_kind"),
                s.labels.get("scaletargetref_name"),
            )
        elif figure in ("min_replicas", "max_replicas"):
            entry[figure] = int(s.value)
        elif figure == "metric":
            metric, target_type = s.labels.get("metric_name", ""), s.labels.get("metric_target_type", "")
            entry["metrics"][(metric, target_type)] = float(s.value)
    out = []
    for (namespace, name), entry in sorted(by_hpa.items()):
        target_kind = _kind(entry.get("kind"))
        if target_kind is None or "max_replicas" not in entry:
            continue
        metrics = entry["metrics"]
        cpu = metrics.get(("cpu", "utilization"))
        memory = metrics.get(("memory", "utilization"))
        scales_on = {
            HpaMetric.CPU if n == "cpu" else HpaMetric.MEMORY if n == "memory" else HpaMetric.OTHER
            for n, _ in metrics
        }
        out.append(
            HpaInfo(
                workload=WorkloadRef(cluster, namespace, target_kind, entry["name"]),
                name=name,
                min_replicas=entry.get("min_replicas", 1),
                max_replicas=entry["max_replicas"],
                metrics=frozenset(scales_on),
                target_cpu_utilization=cpu / 100 if cpu is not None else None,
                target_memory_utilization=memory / 100 if memory is not None else None,
            )
        )
    return out


def _kind(value: str | None) -> WorkloadKind | None:
    try:
        return WorkloadKind(value) if value else None
    except ValueError:
        return None


def replicas_of_workloads(samples: Sequence[_Sample]) -> dict[WorkloadKey, Replicas]:
    """Ready-replica figures per workload, from samples labelled with the kind's own label."""
    figures: dict[WorkloadKey, dict[str, float]] = {}
    for s in samples:
        for label, kind in _KIND_OF_LABEL.items():
            if label in s.labels:
                key = (s.labels.get("namespace", ""), kind, s.labels[label])
                figures.setdefault(key, {})[s.labels.get("figure", "")] = float(s.value)
    return {
        key: Replicas(values.get("replicas_min"), values.get("replicas_avg"), values.get("replicas_max"))
        for key, values in figures.items()
    }
