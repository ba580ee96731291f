"""Percentiles over many days from daily profiles: a mixture of the days' quantile functions.

Prior art computes percentiles over raw samples (KRR: P95 of 14 days of samples; the VPA: a
decaying histogram of samples). kubecap keeps only a few quantiles per day (docs/
collection.md), so a multi-day percentile is rebuilt from them: each day's distribution is
taken as piecewise linear between its known quantiles (for CPU: P50, P90, P95, P99 and the
maximum; for memory: P95 and the maximum), and the days are mixed with weights (their sample
counts, times a decay for the VPA). The mixture is exact at the known quantiles when all
days are alike, and always lies between the lowest and the highest daily value of the same
quantile.

Below the lowest known quantile a day's distribution is unknown. For CPU the P50–P90 slope
is extended down to P0 (never below zero); for memory, which moves little within a day, the
lower 95 % is put at P95. This only matters for percentiles that mix very different days.

Everything is vectorised over containers: a ``Mixture`` holds, per container, the sorted
breakpoints of the mixed cumulative distribution, from which any number of percentiles and
"share of time above a value" are read without loops.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]
Vector = npt.NDArray[np.float64]
Knots = npt.NDArray[np.float64]
"""(containers × days × levels): a day's values at the quantile levels."""

CPU_LEVELS = np.array([0.0, 0.50, 0.90, 0.95, 0.99, 1.0])
MEMORY_LEVELS = np.array([0.0, 0.95, 1.0])
_EPS = 1e-12


def cpu_knots(window: Mapping[str, Matrix]) -> npt.NDArray[np.float64]:
    """(containers × days × 6) CPU values at CPU_LEVELS, non-decreasing, NaN for days without data."""
    p50, p90 = window["cpu_p50"], window["cpu_p90"]
    p0 = np.maximum(0.0, p50 - (p90 - p50) * (0.50 / 0.40))
    knots = np.stack([p0, p50, p90, window["cpu_p95"], window["cpu_p99"], window["cpu_max"]], axis=-1)
    return _monotone(knots)


def memory_knots(window: Mapping[str, Matrix]) -> npt.NDArray[np.float64]:
    """(containers × days × 3) memory values at MEMORY_LEVELS."""
    p95, peak = window["mem_p95"], window["mem_max"]
    return _monotone(np.stack([p95, p95, peak], axis=-1))


def _monotone(knots: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # cpu_max is the highest single pod and the quantiles are of the pods' average: a day's
    # values can come out of order; a quantile function cannot.
    bad = np.isnan(knots).any(axis=-1, keepdims=True)
    ordered = np.maximum.accumulate(np.where(np.isnan(knots), 0.0, knots), axis=-1)
    return np.where(bad, np.nan, ordered)


@dataclass(frozen=True)
class Mixture:
    """The mixed distribution of each container's days, as sorted breakpoints.

    Per container (row) and breakpoint j: position ``x[j]``, the cumulative share just
    before it ``f_left[j]`` and at it ``f_right[j]`` (a jump where a day is constant), and
    the density ``slope[j]`` up to the next breakpoint. ``empty`` marks containers without
    any weighted day; their results are NaN.
    """

    x: Matrix
    f_left: Matrix
    f_right: Matrix
    slope: Matrix
    empty: npt.NDArray[np.bool_]

    @classmethod
    def build(cls, knots: npt.NDArray[np.float64], levels: Vector, weights: Matrix) -> Mixture:
        """Mix the days of ``knots`` (containers × days × levels) with ``weights`` (containers × days).

        Days with NaN knots or non-positive weight are left out.
        """
        n, days, k = knots.shape
        if k != len(levels) or weights.shape != (n, days):
            raise ValueError("knots, levels and weights do not match")
        usable = ~np.isnan(knots).any(axis=-1) & (weights > 0) & np.isfinite(weights)
        w = np.where(usable, weights, 0.0)
        total = w.sum(axis=1, keepdims=True)
        empty = total[:, 0] <= 0
        w = w / np.where(total > 0, total, 1.0)
        x = np.where(usable[..., None], knots, 0.0)

        # One event per knot: the density changes there by (slope after − slope before), and a
        # segment of zero width (a constant stretch of a day) puts its mass there as a jump.
        x0, x1 = x[..., :-1], x[..., 1:]
        mass = w[..., None] * np.diff(levels)
        width = x1 - x0
        flat = width <= _EPS * np.maximum(1.0, np.abs(x1))
        slope = np.where(flat, 0.0, mass / np.where(flat, 1.0, width))
        zeros = np.zeros((n, days, 1))
        d_slope = np.concatenate([slope, zeros], axis=-1) - np.concatenate([zeros, slope], axis=-1)
        jumps = np.concatenate([np.where(flat, mass, 0.0), zeros], axis=-1)

        m = days * k
        order = np.argsort(x.reshape(n, m), axis=1) + (np.arange(n) * m)[:, None]
        positions = x.reshape(-1)[order]
        d_slope = d_slope.reshape(-1)[order]
        jumps = jumps.reshape(-1)[order]

        slope_after = np.maximum(np.cumsum(d_slope, axis=1), 0.0)
        step = jumps.copy()
        step[:, :-1] += slope_after[:, :-1] * np.diff(positions, axis=1)
        f_left = np.zeros_like(positions)
        f_left[:, 1:] = np.cumsum(step, axis=1)[:, :-1]
        return cls(positions, f_left, f_left + jumps, slope_after, empty)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def quantile(self, q: float | Vector) -> Vector:
        """The smallest value v with a share ``q`` of the mixed time at or below v, per container."""
        n, m = self.x.shape
        target = np.broadcast_to(np.asarray(q, dtype=float), (n,))
        if m == 0:
            return np.full(n, np.nan)
        rows = np.arange(n)
        reached = self.f_right >= target[:, None] - 1e-12
        j = np.where(reached.any(axis=1), np.argmax(reached, axis=1), m - 1)
        prev = np.maximum(j - 1, 0)
        inside = (self.f_left[rows, j] >= target - 1e-12) & (j > 0) & (self.slope[rows, prev] > 0)
        between = self.x[rows, prev] + (target - self.f_right[rows, prev]) / np.where(
            inside, self.slope[rows, prev], 1.0
        )
        value = np.where(inside, np.minimum(between, self.x[rows, j]), self.x[rows, j])
        return np.where(self.empty, np.nan, value)

    def share_at_or_below(self, value: Vector) -> Vector:
        """Per container, the mixed share of time at or below ``value`` (the CDF)."""
        n, m = self.x.shape
        v = np.broadcast_to(np.asarray(value, dtype=float), (n,))
        if m == 0:
            return np.full(n, np.nan)
        rows = np.arange(n)
        count = np.sum(self.x <= v[:, None], axis=1)
        j = np.maximum(count - 1, 0)
        f = self.f_right[rows, j] + self.slope[rows, j] * (v - self.x[rows, j])
        f = np.where(count == 0, 0.0, np.clip(f, 0.0, 1.0))
        return np.where(self.empty | np.isnan(v), np.nan, f)

    def share_above(self, value: Vector) -> Vector:
        """Per container, the mixed share of time above ``value``."""
        return 1.0 - self.share_at_or_below(value)


def weighted_quantile(values: Matrix, weights: Matrix, q: float) -> Vector:
    """Per row, the smallest value whose cumulative weight reaches ``q`` (a discrete distribution).

    This is how the VPA reads its histograms of daily memory peaks. NaN values and
    non-positive weights are left out; rows without any give NaN.
    """
    usable = ~np.isnan(values) & (weights > 0)
    w = np.where(usable, weights, 0.0)
    v = np.where(usable, values, np.inf)
    order = np.argsort(v, axis=1, kind="stable")
    v = np.take_along_axis(v, order, axis=1)
    w = np.take_along_axis(w, order, axis=1)
    total = w.sum(axis=1)
    cumulative = np.cumsum(w, axis=1) / np.where(total > 0, total, 1.0)[:, None]
    if values.shape[1] == 0:
        return np.full(values.shape[0], np.nan)
    j = np.argmax(cumulative >= q - 1e-12, axis=1)
    out = v[np.arange(len(v)), j]
    return np.where(total > 0, out, np.nan)
