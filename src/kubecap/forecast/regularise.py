"""Put series on a fixed grid and clean them: gaps, outliers, level shifts.

Monitoring data arrive with jittered timestamps, missing scrapes, counter glitches and
regime changes (a deploy that doubles usage, a service moved elsewhere). Period detection
and estimators need a regular grid, so this module

- bins raw samples onto a grid aligned to the epoch (so days start at 00:00 UTC);
- interpolates short gaps and leaves long ones missing (NaN) — everything downstream is
  NaN-aware, so a long gap only means fewer observations, never invented data;
- replaces isolated gross outliers (runs of at most two points far outside their
  neighbourhood) unless they recur at the same phase of the period, which makes them part
  of the pattern (a nightly job) rather than glitches;
- cuts the history at the last sustained level shift, because the past before it describes
  a different workload.

All functions except ``to_grid`` work on 2-D arrays (series × time) so that many series are
cleaned at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kubecap.forecast import nanstats
from kubecap.forecast.errors import CannotForecast, Reason
from kubecap.forecast.model import FloatArray, Series

NICE_STEPS: tuple[int, ...] = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800)
"""Steps an inferred spacing snaps to: each divides a day, so phases line up with clock time."""

_MIN_REGIME = 3
"""Days a new level must have lasted to count as a shift: one busy day is a burst and a
weekend is two days, neither is a new regime."""

_ISOLATED = 2
"""Longest run of points the outlier filter can remove (its median window is 2·2+1)."""


def infer_step(timestamps: FloatArray) -> int:
    """The grid step for raw timestamps: their median spacing, snapped up to a nice step."""
    t = np.unique(timestamps[np.isfinite(timestamps)])
    if t.size < 2:
        return 60  # a single sample: assume the usual scrape interval
    spacing = float(np.median(np.diff(t)))
    for step in NICE_STEPS:
        if step >= 0.9 * spacing:
            return step
    return NICE_STEPS[-1]


def to_grid(series: Series, step: int, history: int) -> tuple[float, FloatArray]:
    """Mean of the samples in each ``step`` bin of the last ``history`` seconds; NaN = none.

    Returns the start of the first bin and the bin values. Non-finite and negative samples
    are dropped.
    """
    t, v = series.timestamps, series.values
    ok = np.isfinite(t) & np.isfinite(v) & (v >= 0)
    if not ok.any():
        raise CannotForecast(series.name, Reason.EMPTY, "it has no finite, non-negative sample")
    t, v = t[ok], v[ok]
    bins = np.floor(t / step).astype(np.int64)
    last = int(bins.max())
    first = max(int(bins.min()), last - history // step + 1)
    keep = bins >= first
    index = bins[keep] - first
    size = last - first + 1
    sums = np.bincount(index, weights=v[keep], minlength=size)
    counts = np.bincount(index, minlength=size)
    values = np.divide(sums, counts, out=np.full(size, np.nan), where=counts > 0)
    return float(first * step), values


@dataclass(frozen=True, slots=True)
class Downsampled:
    """Bin means on a coarser grid, with what the bins hide.

    ``weights`` counts the original points behind each bin and ``within`` sums, per series,
    the squared deviations of those points from their bin mean — the variance no forecast
    on the coarse grid can explain, kept so periodicity is judged at the original step.
    """

    values: FloatArray
    weights: FloatArray
    within: FloatArray
    trimmed: int
    """Oldest original points dropped so that the last bin ends at the grid's end."""


def downsample(values: FloatArray, factor: int) -> Downsampled:
    """Average ``factor`` consecutive points (aligned to the end); NaN-aware."""
    s, n = values.shape
    if factor <= 1:
        weights = np.isfinite(values).astype(np.float64)
        return Downsampled(values, weights, np.zeros(s), 0)
    trimmed = n % factor
    blocks = values[:, trimmed:].reshape(s, -1, factor)
    means = np.empty(blocks.shape[:2])
    weights = np.full(blocks.shape[:2], float(factor))
    within = np.empty(s)
    complete = np.isfinite(blocks).all(axis=(1, 2))
    full = np.flatnonzero(complete)
    if full.size:  # the common case, without NaN bookkeeping
        b = blocks[full]
        means[full] = b.mean(axis=-1)
        deviation = b - means[full][..., None]
        within[full] = np.einsum("sbf,sbf->s", deviation, deviation)
    gappy = np.flatnonzero(~complete)
    if gappy.size:
        b = blocks[gappy]
        weights[gappy] = nanstats.count(b, -1)
        means[gappy] = np.divide(
            nanstats.nan_sum(b, -1),
            weights[gappy],
            out=np.full(weights[gappy].shape, np.nan),
            where=weights[gappy] > 0,
        )
        deviation = b - means[gappy][..., None]
        within[gappy] = nanstats.nan_sum(nanstats.nan_sum(deviation * deviation, -1), -1)
    return Downsampled(means, weights, within, trimmed)


def fill_gaps(values: FloatArray, max_steps: int) -> FloatArray:
    """Linearly interpolate interior gaps of at most ``max_steps`` points; longer gaps stay NaN."""
    out = values.copy()
    gappy = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if gappy.size == 0 or max_steps <= 0:
        return out
    out[gappy] = _interpolate(values[gappy], max_steps)
    return out


def _interpolate(values: FloatArray, max_steps: int) -> FloatArray:
    s, n = values.shape
    ok = np.isfinite(values)
    idx = np.broadcast_to(np.arange(n), (s, n))
    prev = np.maximum.accumulate(np.where(ok, idx, -1), axis=1)
    nxt = np.minimum.accumulate(np.where(ok, idx, n)[:, ::-1], axis=1)[:, ::-1]
    fillable = ~ok & (prev >= 0) & (nxt < n) & (nxt - prev - 1 <= max_steps)
    rows = np.broadcast_to(np.arange(s)[:, None], (s, n))
    x_prev = values[rows, np.clip(prev, 0, n - 1)]
    x_next = values[rows, np.clip(nxt, 0, n - 1)]
    frac = (idx - prev) / np.maximum(nxt - prev, 1)
    out = values.copy()
    out[fillable] = (x_prev + (x_next - x_prev) * frac)[fillable]
    return out


def _hold(values: FloatArray) -> FloatArray:
    """NaNs replaced by the previous value (the next one at the start); rows of NaN become 0."""
    s, n = values.shape
    ok = np.isfinite(values)
    idx = np.broadcast_to(np.arange(n), (s, n))
    prev = np.maximum.accumulate(np.where(ok, idx, -1), axis=1)
    first = np.argmax(ok, axis=1)
    prev = np.where(prev < 0, first[:, None], prev)
    rows = np.broadcast_to(np.arange(s)[:, None], (s, n))
    out = values[rows, prev]
    return np.where(np.isfinite(out), out, 0.0)


@dataclass(frozen=True, slots=True)
class Deviations:
    """How far each point lies from the median of the five around it, in robust deviations."""

    local: FloatArray
    z: FloatArray


def deviations(values: FloatArray) -> Deviations:
    """Local medians and robust z-scores, computed once and used by ``remove_outliers``."""
    held = _hold(values)
    local = nanstats.moving_median(held, 2 * _ISOLATED + 1)
    resid = np.where(np.isfinite(values), values - local, np.nan)
    mad = nanstats.nan_median(np.abs(resid))
    level = nanstats.nan_median(np.abs(values))
    scale = np.maximum(1.4826 * np.nan_to_num(mad), 0.01 * np.nan_to_num(level)) + 1e-12
    return Deviations(local, np.nan_to_num(resid / scale[:, None]))


def remove_outliers(
    values: FloatArray,
    threshold: float,
    period: NDArray[np.intp] | None = None,
    phase_tolerance: int = 1,
    found: Deviations | None = None,
) -> tuple[FloatArray, NDArray[np.intp]]:
    """Replace isolated gross outliers by their local median.

    A point is an outlier when it lies more than ``threshold`` robust standard deviations
    from the median of the five points around it (so only runs of one or two points can
    be), unless ``period`` (steps per row, 0 = none) shows a deviation of the same sign at
    the same phase (± ``phase_tolerance``) in another cycle. Returns the cleaned values and
    the number replaced per series.
    """
    dev = found or deviations(values)
    outlier = np.abs(dev.z) > threshold
    if period is not None and outlier.any():
        outlier &= ~_recurring(dev.z, threshold, period, phase_tolerance)
    cleaned = np.where(outlier, dev.local, values)
    return cleaned, outlier.sum(axis=1)


def _recurring(
    z: FloatArray, threshold: float, period: NDArray[np.intp], tolerance: int
) -> NDArray[np.bool_]:
    """Points whose same-sign deviation recurs at the same phase in another cycle."""
    s, n = z.shape
    out = np.zeros((s, n), dtype=bool)
    for p in np.unique(period[period > 0]):
        rows = np.flatnonzero(period == p)
        k = n // p
        if k < 2:
            continue
        tail = z[rows, n - k * p :]
        for sign in (1.0, -1.0):
            high = nanstats.moving_max(sign * tail > threshold / 2, 2 * tolerance + 1)
            seen = high.reshape(rows.size, k, p).sum(axis=1)
            recurs = np.tile(seen >= 2, (1, k)) & (sign * tail > threshold)
            out[rows, n - k * p :] |= recurs
    return out


def level_shift_cut(values: FloatArray, day: int, ratio: float) -> NDArray[np.intp]:
    """Index of the first point after the last sustained level shift (0: none), per series.

    The series is cut into whole days counted back from its end, so any daily pattern
    averages out; the split of those daily means (on a log scale) with the largest
    t-statistic is a shift when the levels on either side differ by at least ``ratio`` and
    by more than three times the spread of either side, and the new level has lasted three days (a busy
    day or a quiet weekend is not a new regime). The search repeats on the part after the
    shift, which is all that is kept.
    """
    s, n = values.shape
    cut = np.zeros(s, dtype=np.intp)
    blocks = n // day
    if blocks < 2:
        return cut
    offset = n - blocks * day
    days = values[:, offset:].reshape(s, blocks, day)
    coverage = nanstats.count(days, -1) / day
    levels = np.where(coverage >= 0.5, nanstats.nan_mean(days, -1), np.nan)
    scale = nanstats.nan_median(levels)
    floor = np.where(np.isfinite(scale) & (scale > 0), 1e-3 * scale, 1e-12)
    logs = np.log(np.maximum(levels, 0.0) + floor[:, None])
    # rows whose best split anywhere is a shift; only they are searched further
    for row in np.flatnonzero(_split_scores(logs, np.log(ratio)).max(axis=1) > 0):
        first = _last_shift(logs[row], np.log(ratio))
        if first > 0:
            cut[row] = offset + first * day
    return cut


def _split_scores(logs: FloatArray, min_jump: float) -> FloatArray:
    """t-statistic of every split (series × split index) that qualifies as a shift, else 0.

    Split ``i`` compares days ``[0, i)`` with ``[i, end)``; the later part must hold at least
    ``_MIN_REGIME`` days. Missing days are ignored.
    """
    s, b = logs.shape
    scores = np.zeros((s, b))
    ok = np.isfinite(logs)
    x = np.where(ok, logs, 0.0)
    c1, s1, q1 = np.cumsum(ok, axis=1), np.cumsum(x, axis=1), np.cumsum(x * x, axis=1)
    n_all, s_all, q_all = c1[:, -1:], s1[:, -1:], q1[:, -1:]
    for i in range(1, b - _MIN_REGIME + 1):
        nl, sl, ql = c1[:, i - 1], s1[:, i - 1], q1[:, i - 1]
        nr, sr, qr = n_all[:, 0] - nl, s_all[:, 0] - sl, q_all[:, 0] - ql
        valid = (nl > 0) & (nr > 0)
        nl_, nr_ = np.maximum(nl, 1), np.maximum(nr, 1)
        ml, mr = sl / nl_, sr / nr_
        # the wider of the two segments' spreads: each side must be one level on its own
        spread = np.sqrt(np.maximum(np.maximum(ql / nl_ - ml * ml, qr / nr_ - mr * mr), 0.0))
        jump = np.abs(mr - ml)
        qualifies = valid & (jump >= min_jump) & (jump > 3 * spread)
        t = jump / (spread * np.sqrt(1 / nl_ + 1 / nr_) + 1e-9)
        scores[:, i] = np.where(qualifies, t, 0.0)
    return scores


def _last_shift(logs: FloatArray, min_jump: float) -> int:
    """First day index of the regime after the last shift in daily log-levels (0: none)."""
    start = 0
    for _ in range(4):
        seg = logs[start:]
        if np.isfinite(seg).sum() < 2:
            return start
        scores = _split_scores(seg[None, :], min_jump)[0]
        split = int(np.argmax(scores)) if scores.max() > 0 else 0
        if split <= 0:
            return start
        start += split
    return start


def stale_tail(values: FloatArray) -> NDArray[np.intp]:
    """Number of missing points at the end of each series."""
    ok = np.isfinite(values)[:, ::-1]
    any_ok = ok.any(axis=1)
    return np.asarray(np.where(any_ok, np.argmax(ok, axis=1), values.shape[1]), dtype=np.intp)
