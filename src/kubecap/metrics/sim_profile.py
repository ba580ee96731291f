"""Usage figures of one window from raw samples, computed the way Prometheus 2.x would.

This is the pure half of the simulated source: given the samples of every container series
(on a common, sorted time axis) and the evaluation points of a window, it returns the
per-pod-container figures of docs/collection.md, vectorised over series and points; pooling
them into workload rows is kubecap.domain.pooling's, shared with the Prometheus source. The contract test holds the simulated source to the PromQL catalogue on a real
Prometheus, so the semantics here follow Prometheus 2.x (the version Debian ships):

- ``rate(x[5m])`` at ``t`` uses the samples in the closed range ``[t − 300 s, t]``; it needs
  two of them, adds the previous value at every counter reset, and extrapolates like
  ``extrapolatedRate`` in promql/functions.go of 2.x: towards each range end by the distance
  to it when that is under 1.1 × the average sample spacing, otherwise by half a spacing,
  and towards the start never past the counter's extrapolated zero point.
- an instant selector at ``t`` takes the latest sample in ``[t − 300 s, t]`` (lookback).
- a pod belongs to its workload for the window; the simulated cluster exports its
  kube-state-metrics series at the same instants as its cAdvisor series, so the owner is
  visible whenever the usage is.
- quantiles use Prometheus' ``quantile_over_time`` formula (rank q·(n−1), linear
  interpolation between neighbours), which is numpy's ``linear`` method.

Float arithmetic follows the same order as Prometheus' where that is cheap, so results agree
to a few ulps (the reset correction may sum in another order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kubecap.domain.pooling import ContainerKey, PodFigures
from kubecap.domain.usage import CPU_QUANTILES, MEMORY_QUANTILES

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

RANGE = 300
LOOKBACK = 300


@dataclass(frozen=True, slots=True)
class WindowSamples:
    """Samples around one window; rows of the 2-D arrays are container series, columns ``times``.

    ``present`` says where a container series (and its pod's kube-state-metrics series) has
    a sample; ``cfs`` marks series with CFS counters (a CPU limit); ``oom`` where the
    last-terminated-reason OOMKilled series has a sample; ``resources`` holds cpu request,
    cpu limit, memory request and memory limit per series (NaN when unset). ``row`` maps a
    series to its output row; ``row_workload`` maps a row to its workload, whose ready
    replicas gauge is ``replicas`` (present where ``replicas_present``).
    """

    times: I64
    present: Mask
    cpu: F64
    memory: F64
    cfs: Mask
    periods: F64
    throttled: F64
    restarts: F64
    oom: Mask
    resources: F64
    row: I64
    row_workload: I64
    replicas: F64
    replicas_present: Mask


@dataclass(frozen=True, slots=True)
class SeriesFigures:
    """Per container series (pod container): its figures over the window; NaN means no value.

    Workload rows are made from these by kubecap.domain.pooling, exactly as for Prometheus.
    """

    cpu_quantiles: F64
    """Shape (series, len(CPU_QUANTILES))."""
    cpu_max: F64
    cpu_points: F64
    mem_quantiles: F64
    """Shape (series, len(MEMORY_QUANTILES))."""
    mem_max: F64
    mem_points: F64
    resources: F64
    """Shape (series, 4): cpu request, cpu limit, memory request, memory limit."""
    throttled: F64
    periods: F64
    restarts: F64
    oom_seen: F64
    replicas_min: F64
    """Per workload (rows of ``WindowSamples.replicas``), like the two below."""
    replicas_avg: F64
    replicas_max: F64

    def pods(self, keys: Sequence[ContainerKey]) -> PodFigures:
        """The per-series figures as pooling takes them; ``keys[i]`` names series i's workload container."""
        return PodFigures(
            keys=keys,
            cpu_quantiles=self.cpu_quantiles,
            cpu_max=self.cpu_max,
            cpu_points=self.cpu_points,
            mem_quantiles=self.mem_quantiles,
            mem_max=self.mem_max,
            mem_points=self.mem_points,
            resources=self.resources,
            throttled=self.throttled,
            periods=self.periods,
            restarts=self.restarts,
            oom_seen=np.nan_to_num(self.oom_seen),
        )


@dataclass(frozen=True, slots=True)
class _Ranges:
    """Per (series, point): how many samples fall in the range, and the first and last of them."""

    count: I64
    first: I64
    last: I64


def _ranges(times: I64, present: Mask, points: I64, width: int) -> _Ranges:
    n = len(times)
    lo = np.searchsorted(times, points - width, "left")
    hi = np.searchsorted(times, points, "right")
    counts = np.zeros((present.shape[0], n + 1), dtype=np.int64)
    np.cumsum(present, axis=1, out=counts[:, 1:])
    index = np.arange(n)
    latest = np.maximum.accumulate(np.where(present, index, -1), axis=1)
    earliest = np.minimum.accumulate(np.where(present, index, n)[:, ::-1], axis=1)[:, ::-1]
    latest = np.concatenate([np.full((present.shape[0], 1), -1), latest], axis=1)
    earliest = np.concatenate([earliest, np.full((present.shape[0], 1), n)], axis=1)
    return _Ranges(counts[:, hi] - counts[:, lo], earliest[:, lo], latest[:, hi])


def _reset_correction(values: F64, present: Mask) -> F64:
    """Cumulative sum of the value before each counter reset (Prometheus adds it back)."""
    n = values.shape[1]
    index = np.arange(n)
    latest = np.maximum.accumulate(np.where(present, index, -1), axis=1)
    previous = np.full(values.shape, -1, dtype=np.int64)
    previous[:, 1:] = latest[:, :-1]
    rows = np.arange(values.shape[0])[:, None]
    before = values[rows, np.maximum(previous, 0)]
    drop = present & (previous >= 0) & (values < before)
    return np.cumsum(np.where(drop, before, 0.0), axis=1)


def rate(times: I64, values: F64, present: Mask, points: I64, width: int = RANGE) -> F64:
    """Prometheus 2.x ``rate(x[width])`` of each series at each point (NaN when it has none)."""
    ranges = _ranges(times, present, points, width)
    valid = ranges.count >= 2
    rows = np.arange(values.shape[0])[:, None]
    first = np.where(valid, ranges.first, 0)
    last = np.where(valid, ranges.last, 0)
    correction = _reset_correction(values, present)
    v_first = values[rows, first]
    increase = values[rows, last] - v_first + (correction[rows, last] - correction[rows, first])
    t_first = times[first].astype(np.float64)
    t_last = times[last].astype(np.float64)
    n = np.maximum(ranges.count, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        sampled = t_last - t_first
        average = sampled / (n - 1)
        to_start = t_first - (points - width)[None, :]
        to_end = points[None, :] - t_last
        to_zero = sampled * (v_first / increase)
        to_start = np.where((increase > 0) & (v_first >= 0) & (to_zero < to_start), to_zero, to_start)
        threshold = average * 1.1
        interval = sampled + np.where(to_start < threshold, to_start, average / 2)
        interval = interval + np.where(to_end < threshold, to_end, average / 2)
        factor = interval / sampled / width
        result = increase * factor
    return np.where(valid, result, np.nan)


def latest(times: I64, values: F64, present: Mask, points: I64, lookback: int = LOOKBACK) -> F64:
    """An instant selector: the latest sample in ``[t − lookback, t]`` (NaN when none)."""
    ranges = _ranges(times, present, points, lookback)
    rows = np.arange(values.shape[0])[:, None]
    picked = values[rows, np.maximum(ranges.last, 0)]
    return np.where(ranges.count >= 1, picked, np.nan)


def quantiles_over_time(values: F64, qs: tuple[float, ...]) -> F64:
    """Prometheus' quantile_over_time along axis 1, ignoring NaN; shape (rows, len(qs))."""
    ordered = np.sort(values, axis=1)  # NaN sorts last
    n = np.sum(~np.isnan(values), axis=1)
    out = np.full((values.shape[0], len(qs)), np.nan)
    has = n > 0
    rows = np.flatnonzero(has)
    for j, q in enumerate(qs):
        rank = q * (n[has] - 1)
        lower = np.floor(rank).astype(np.int64)
        upper = np.minimum(lower + 1, n[has] - 1)
        weight = rank - lower
        out[has, j] = ordered[rows, lower] * (1 - weight) + ordered[rows, upper] * weight
    return out


def _max_over(values: F64) -> F64:
    out = np.full(values.shape[0], np.nan)
    has = ~np.all(np.isnan(values), axis=1)
    out[has] = np.nanmax(values[has], axis=1)
    return out


def _min_over(values: F64) -> F64:
    out = np.full(values.shape[0], np.nan)
    has = ~np.all(np.isnan(values), axis=1)
    out[has] = np.nanmin(values[has], axis=1)
    return out


def series_figures(samples: WindowSamples, points: I64) -> SeriesFigures:
    """The per-pod-container figures of docs/collection.md for every series, from the samples around a window."""
    t, present = samples.times, samples.present

    pod_cpu = rate(t, samples.cpu, present, points)
    pod_memory = latest(t, samples.memory, present, points)

    seen = np.asarray((_ranges(t, present, points, LOOKBACK).count > 0).any(axis=1), dtype=bool)
    resources = np.where(seen[:, None], samples.resources, np.nan)

    replicas = latest(t, samples.replicas, samples.replicas_present, points)
    with np.errstate(invalid="ignore"):
        has_replicas = ~np.all(np.isnan(replicas), axis=1)
        replicas_avg = np.full(replicas.shape[0], np.nan)
        replicas_avg[has_replicas] = np.nanmean(replicas[has_replicas], axis=1)

    # Only series with a CPU limit have CFS counters: compute their rates alone (fewer rows).
    with_cfs = np.flatnonzero(samples.cfs)
    throttled = np.full(len(samples.row), np.nan)
    periods = np.full(len(samples.row), np.nan)
    if len(with_cfs):
        cfs_present = present[with_cfs]
        throttled[with_cfs] = _total_over(rate(t, samples.throttled[with_cfs], cfs_present, points))
        periods[with_cfs] = _total_over(rate(t, samples.periods[with_cfs], cfs_present, points))

    restart_values = latest(t, samples.restarts, present, points)
    oom_seen = (_ranges(t, samples.oom, points, LOOKBACK).count > 0).any(axis=1)

    return SeriesFigures(
        cpu_quantiles=quantiles_over_time(pod_cpu, CPU_QUANTILES),
        cpu_max=_max_over(pod_cpu),
        cpu_points=np.sum(~np.isnan(pod_cpu), axis=1).astype(np.float64),
        mem_quantiles=quantiles_over_time(pod_memory, MEMORY_QUANTILES),
        mem_max=_max_over(pod_memory),
        mem_points=np.sum(~np.isnan(pod_memory), axis=1).astype(np.float64),
        resources=resources,
        throttled=throttled,
        periods=periods,
        restarts=_max_over(restart_values) - _min_over(restart_values),
        oom_seen=np.where(oom_seen, 1.0, np.nan),
        replicas_min=_min_over(replicas),
        replicas_avg=replicas_avg,
        replicas_max=_max_over(replicas),
    )


def _total_over(values: F64) -> F64:
    """Sum along axis 1 ignoring NaN; NaN where a series has no value at all."""
    has = ~np.all(np.isnan(values), axis=1)
    return np.where(has, np.nansum(values, axis=1), np.nan)
