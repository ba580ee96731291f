"""Usage figures of one window from raw samples, computed the way Prometheus 2.x would.

This is the pure half of the simulated source: given the samples of every container series
(on a common, sorted time axis) and the evaluation points of a window, it returns the
figures of docs/collection.md per row (a workload container), vectorised over series and
points. The contract test holds the simulated source to the PromQL catalogue on a real
Prometheus, so the semantics here follow Prometheus 2.x (the version Debian ships):

- ``rate(x[5m])`` at ``t`` uses the samples in the closed range ``[t − 300 s, t]``; it needs
  two of them, adds the previous value at every counter reset, and extrapolates like
  ``extrapolatedRate`` in promql/functions.go of 2.x: towards each range end by the distance
  to it when that is under 1.1 × the average sample spacing, otherwise by half a spacing,
  and towards the start never past the counter's extrapolated zero point.
- an instant selector at ``t`` takes the latest sample in ``[t − 300 s, t]`` (lookback).
- a pod belongs to its workload at ``t`` when its kube-state-metrics series are visible at
  ``t``; the simulated cluster exports them at the same instants as the pod's cAdvisor
  series, so visibility is "the series has a sample in the lookback range".
- quantiles use Prometheus' ``quantile_over_time`` formula (rank q·(n−1), linear
  interpolation between neighbours), which is numpy's ``linear`` method.

Float arithmetic follows the same order as Prometheus' where that is cheap, so results agree
to a few ulps (the cross-pod average and the reset correction may sum in another order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

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
class WindowFigures:
    """One entry per row; NaN means "no value" (None in a UsageProfile)."""

    samples: I64
    cpu_quantiles: F64
    """Shape (rows, len(CPU_QUANTILES))."""
    cpu_max: F64
    mem_quantiles: F64
    """Shape (rows, len(MEMORY_QUANTILES))."""
    mem_max: F64
    resources: F64
    """Shape (rows, 4): cpu request, cpu limit, memory request, memory limit."""
    replicas_min: F64
    replicas_avg: F64
    replicas_max: F64
    throttle_ratio: F64
    restarts: F64
    oom_kills: F64


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


class _Groups:
    """Reductions of per-series arrays to rows (series sorted by row once)."""

    def __init__(self, row: I64, n_rows: int) -> None:
        self.order = np.argsort(row, kind="stable")
        counts = np.bincount(row, minlength=n_rows)
        self.starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self.empty = counts == 0
        self.n_rows = n_rows

    def _reduce(self, ufunc: np.ufunc, values: F64, fill: float) -> F64:
        if len(self.order) == 0:
            return np.full((self.n_rows, *values.shape[1:]), fill)
        starts = np.minimum(self.starts, len(self.order) - 1)
        out: F64 = ufunc.reduceat(values[self.order], starts, axis=0)
        out[self.empty] = fill
        return out

    def sum(self, values: F64) -> F64:
        return self._reduce(np.add, values, 0.0)

    def nanmax(self, values: F64) -> F64:
        return self._reduce(np.fmax, values, np.nan)

    def nansum(self, values: F64) -> F64:
        """Sum ignoring NaN; NaN where every value is NaN."""
        total = self.sum(np.nan_to_num(values, nan=0.0))
        seen = self.sum((~np.isnan(values)).astype(np.float64))
        return np.where(seen > 0, total, np.nan)


def _average(groups: _Groups, values: F64) -> F64:
    """Mean over the series of a row that have a value, per point (NaN when none has)."""
    has = ~np.isnan(values)
    total = groups.sum(np.where(has, values, 0.0))
    count = groups.sum(has.astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, total / count, np.nan)


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


def window_figures(samples: WindowSamples, points: I64) -> WindowFigures:
    """The figures of docs/collection.md for every row, from the samples around a window."""
    t, present = samples.times, samples.present
    n_rows = len(samples.row_workload)
    groups = _Groups(samples.row, n_rows)

    pod_cpu = rate(t, samples.cpu, present, points)
    workload_cpu = _average(groups, pod_cpu)
    count = np.sum(~np.isnan(workload_cpu), axis=1).astype(np.int64)
    cpu_quantiles = quantiles_over_time(workload_cpu, CPU_QUANTILES)
    cpu_max = _max_over(groups.nanmax(pod_cpu))

    pod_memory = latest(t, samples.memory, present, points)
    mem_quantiles = quantiles_over_time(_average(groups, pod_memory), MEMORY_QUANTILES)
    mem_max = _max_over(groups.nanmax(pod_memory))

    seen = np.asarray((_ranges(t, present, points, LOOKBACK).count > 0).any(axis=1), dtype=bool)
    resources = groups.nanmax(np.where(seen[:, None], samples.resources, np.nan))

    replicas = latest(t, samples.replicas, samples.replicas_present, points)[samples.row_workload]
    with np.errstate(invalid="ignore"):
        has_replicas = ~np.all(np.isnan(replicas), axis=1)
        replicas_avg = np.full(n_rows, np.nan)
        replicas_avg[has_replicas] = np.nanmean(replicas[has_replicas], axis=1)

    cfs_present = present & samples.cfs[:, None]
    throttled = groups.nansum(_total_over(rate(t, samples.throttled, cfs_present, points))[:, None])[:, 0]
    periods = groups.nansum(_total_over(rate(t, samples.periods, cfs_present, points))[:, None])[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        throttle_ratio = np.where(periods > 0, throttled / periods, np.nan)

    restart_values = latest(t, samples.restarts, present, points)
    increase = _max_over(restart_values) - _min_over(restart_values)
    oom_seen = (_ranges(t, samples.oom, points, LOOKBACK).count > 0).any(axis=1)
    restarts = groups.nansum(increase[:, None])[:, 0]
    oom_kills = groups.nansum(
        np.where(np.isnan(increase), np.nan, np.where(oom_seen, increase, 0.0))[:, None]
    )[:, 0]

    return WindowFigures(
        samples=count,
        cpu_quantiles=cpu_quantiles,
        cpu_max=cpu_max,
        mem_quantiles=mem_quantiles,
        mem_max=mem_max,
        resources=resources,
        replicas_min=_min_over(replicas),
        replicas_avg=replicas_avg,
        replicas_max=_max_over(replicas),
        throttle_ratio=throttle_ratio,
        restarts=restarts,
        oom_kills=oom_kills,
    )


def _total_over(values: F64) -> F64:
    """Sum along axis 1 ignoring NaN; NaN where a series has no value at all."""
    has = ~np.all(np.isnan(values), axis=1)
    return np.where(has, np.nansum(values, axis=1), np.nan)
