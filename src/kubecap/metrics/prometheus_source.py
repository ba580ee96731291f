"""Daily usage profiles read from a Prometheus-compatible store.

For each window this sends a handful of batched queries for the whole cluster (chunked by
namespace when the cluster is large), never one query per workload, and assembles the
figures of docs/collection.md into UsageProfile rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np

from kubecap.domain import summary
from kubecap.domain.usage import CPU_QUANTILES, UsageProfile
from kubecap.domain.window import DailyWindow
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.errors import MissingSeriesError
from kubecap.metrics.promql import (
    CONTAINER_LABELS,
    OPTIONAL_SERIES,
    REQUIRED_SERIES,
    WORKLOAD_LABELS,
    Catalogue,
    Scope,
    WindowShape,
)
from kubecap.ports import WindowUsage

ContainerKey = tuple[str, str, str, str]  # namespace, workload_kind, workload, container
WorkloadKey = tuple[str, str, str]


class _Sample(Protocol):
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def value(self) -> float: ...


class _Series(Protocol):
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def timestamps(self) -> np.ndarray: ...  # type: ignore[type-arg]
    @property
    def values(self) -> np.ndarray: ...  # type: ignore[type-arg]


class QueryClient(Protocol):
    """The part of the Prometheus client this source needs."""

    @property
    def queries_sent(self) -> int: ...

    async def instant(self, query: str, at: datetime) -> Sequence[_Sample]: ...

    async def range(self, query: str, start: datetime, end: datetime, step_s: float) -> Sequence[_Series]: ...


@dataclass(slots=True)
class _Steps:
    """Per-point matrices of one window, keyed by row."""

    keys: list[ContainerKey] = field(default_factory=list)
    avg: list[np.ndarray] = field(default_factory=list)  # type: ignore[type-arg]
    peak: list[np.ndarray] = field(default_factory=list)  # type: ignore[type-arg]


class PrometheusUsageSource:
    """A UsageSource over the Prometheus HTTP API."""

    def __init__(
        self,
        client: QueryClient,
        *,
        cluster: str,
        cluster_label: Mapping[str, str] | None = None,
        step_s: int = 60,
        series_budget: int = 20_000,
    ) -> None:
        self._client = client
        self._cluster = cluster
        self._scope = Scope.for_cluster(dict(cluster_label or {}))
        self._step_s = step_s
        self._budget = series_budget

    @property
    def cluster(self) -> str:
        return self._cluster

    async def window_usage(self, window: DailyWindow) -> WindowUsage:
        shape = WindowShape(range_ms=window.seconds * 1000, step_s=self._step_s)
        sent_before = self._client.queries_sent
        warnings = await self._check_series(window, shape)
        if warnings is None:
            return WindowUsage([], self._client.queries_sent - sent_before, ["no series in this window"])
        chunks = await self._chunks(window, shape)
        parts = await asyncio.gather(*(self._chunk_rows(window, shape, Catalogue(scope)) for scope in chunks))
        profiles = [p for part in parts for p in part]
        return WindowUsage(profiles, self._client.queries_sent - sent_before, warnings)

    # -- checks and chunking ------------------------------------------------------------
    async def _check_series(self, window: DailyWindow, shape: WindowShape) -> list[str] | None:
        """Warnings for optional series that are absent; None when the window has no data at all."""
        wanted = [*REQUIRED_SERIES, *OPTIONAL_SERIES]
        query = Catalogue(self._scope).present_series(shape, wanted)
        present = {s.labels.get("metric", "") for s in await self._client.instant(query, window.end)}
        missing = [m for m in REQUIRED_SERIES if m not in present]
        if len(missing) == len(REQUIRED_SERIES) and not present:
            if self._scope.matchers:
                unscoped = Catalogue().present_series(shape, list(REQUIRED_SERIES))
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

    async def _chunks(self, window: DailyWindow, shape: WindowShape) -> list[Scope]:
        """The scopes to query: the whole cluster, or namespace groups under the series budget."""
        query = Catalogue(self._scope).container_series_by_namespace(shape)
        sizes = {
            s.labels.get("namespace", ""): int(s.value) for s in await self._client.instant(query, window.end)
        }
        if sum(sizes.values()) <= self._budget:
            return [self._scope]
        return [self._scope.with_namespaces(group) for group in pack_namespaces(sizes, self._budget)]

    # -- one chunk ----------------------------------------------------------------------
    async def _chunk_rows(
        self, window: DailyWindow, shape: WindowShape, cat: Catalogue
    ) -> list[UsageProfile]:
        first = window.start + timedelta(seconds=self._step_s)
        points = max(window.seconds // self._step_s, 1)

        async def steps(query: str, labels: tuple[str, ...]) -> dict[tuple[str, ...], dict[str, np.ndarray]]:  # type: ignore[type-arg]
            series = await self._client.range(query, first, window.end, self._step_s)
            return _matrix_by_key(series, labels, first, self._step_s, points)

        async def instant(query: str, labels: tuple[str, ...]) -> dict[tuple[str, ...], dict[str, float]]:
            return _values_by_key(await self._client.instant(query, window.end), labels)

        cpu, mem, ready, resources, throttling, restarts = await asyncio.gather(
            steps(cat.cpu_steps(shape), CONTAINER_LABELS),
            steps(cat.memory_steps(), CONTAINER_LABELS),
            steps(cat.ready_replicas_steps(), WORKLOAD_LABELS),
            instant(cat.resources(shape), CONTAINER_LABELS),
            instant(cat.throttling(shape), CONTAINER_LABELS),
            instant(cat.restarts(shape), CONTAINER_LABELS),
        )
        return _assemble(self._cluster, window, cpu, mem, ready, resources, throttling, restarts)


def pack_namespaces(sizes: Mapping[str, int], budget: int) -> list[list[str]]:
    """Namespaces grouped so each group's series stay under ``budget`` (first-fit decreasing).

    A namespace larger than the budget forms a group of its own: it cannot be split further
    without losing the per-workload averages.
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


def _key(labels: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(labels.get(n, "") for n in names)


def _matrix_by_key(
    series: Sequence[_Series], names: tuple[str, ...], first: datetime, step_s: int, points: int
) -> dict[tuple[str, ...], dict[str, np.ndarray]]:  # type: ignore[type-arg]
    """Range-query series placed on the window's points, per key and ``stat`` label."""
    origin = first.timestamp()
    out: dict[tuple[str, ...], dict[str, np.ndarray]] = {}  # type: ignore[type-arg]
    for s in series:
        row = np.full(points, np.nan)
        index = np.rint((np.asarray(s.timestamps, dtype=float) - origin) / step_s).astype(np.int64)
        inside = (index >= 0) & (index < points)
        row[index[inside]] = np.asarray(s.values, dtype=float)[inside]
        out.setdefault(_key(s.labels, names), {})[s.labels.get("stat", "value")] = row
    return out


def _values_by_key(
    samples: Sequence[_Sample], names: tuple[str, ...]
) -> dict[tuple[str, ...], dict[str, float]]:
    out: dict[tuple[str, ...], dict[str, float]] = {}
    for s in samples:
        out.setdefault(_key(s.labels, names), {})[s.labels.get("figure", "value")] = float(s.value)
    return out


def _finite(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _assemble(
    cluster: str,
    window: DailyWindow,
    cpu: Mapping[tuple[str, ...], Mapping[str, np.ndarray]],  # type: ignore[type-arg]
    mem: Mapping[tuple[str, ...], Mapping[str, np.ndarray]],  # type: ignore[type-arg]
    ready: Mapping[tuple[str, ...], Mapping[str, np.ndarray]],  # type: ignore[type-arg]
    resources: Mapping[tuple[str, ...], Mapping[str, float]],
    throttling: Mapping[tuple[str, ...], Mapping[str, float]],
    restarts: Mapping[tuple[str, ...], Mapping[str, float]],
) -> list[UsageProfile]:
    """UsageProfile rows from the per-key query results (vectorised over rows)."""
    keys = sorted(k for k, stats in cpu.items() if "avg" in stats)
    keys = [k for k in keys if _kind(k[1]) is not None]
    if not keys:
        return []
    width = len(next(iter(cpu.values()))["avg"])

    def matrix(
        source: Mapping[tuple[str, ...], Mapping[str, np.ndarray]], stat: str, key_len: int
    ) -> np.ndarray:  # type: ignore[type-arg]
        empty = np.full(width, np.nan)
        return np.vstack([source.get(k[:key_len], {}).get(stat, empty) for k in keys])

    cpu_avg, cpu_peak = matrix(cpu, "avg", 4), matrix(cpu, "max", 4)
    mem_avg, mem_peak = matrix(mem, "avg", 4), matrix(mem, "max", 4)
    replicas = matrix(ready, "value", 3)
    figures = {
        **{f"cpu_p{round(q * 100)}": summary.quantile(cpu_avg, q) for q in CPU_QUANTILES},
        "cpu_max": summary.maximum(cpu_peak),
        "mem_p95": summary.quantile(mem_avg, 0.95),
        "mem_max": summary.maximum(mem_peak),
        "replicas_min": summary.minimum(replicas),
        "replicas_avg": summary.mean(replicas),
        "replicas_max": summary.maximum(replicas),
    }
    samples = summary.counts(cpu_avg)
    rows = []
    for i, key in enumerate(keys):
        namespace, kind, name, container = key
        res = resources.get(key, {})
        restart = restarts.get(key, {})
        profile = UsageProfile(
            workload=WorkloadRef(cluster, namespace, WorkloadKind(kind), name),
            container=container,
            day=window.day,
            window=window.name,
            samples=int(samples[i]),
            cpu_request=_finite(res.get("cpu_request")),
            cpu_limit=_finite(res.get("cpu_limit")),
            mem_request=_finite(res.get("mem_request")),
            mem_limit=_finite(res.get("mem_limit")),
            cpu_throttle_ratio=_finite(throttling.get(key, {}).get("value")),
            restarts=_finite(restart.get("restarts")),
            oom_kills=(_finite(restart.get("oom_kills")) or 0.0) if "restarts" in restart else None,
        )
        for name_, values in figures.items():
            setattr(profile, name_, summary.optional(values[i]))
        rows.append(profile)
    return rows


def _kind(value: str) -> WorkloadKind | None:
    try:
        return WorkloadKind(value)
    except ValueError:
        return None
