"""Estimators: from the past cycles of many series to the next cycle of each.

Every estimator takes ``cycles`` shaped (series, cycle, phase) — the most recent cycle
last, NaN where data are missing — and returns the base forecast of the next cycle,
shaped (series, phase). Margins are applied by the caller (``backtest``), which also picks
the estimator per series. Two estimators follow Crane's DSP predictor (per-phase maximum
and low-pass FFT); the others aim lower than the maximum but at the right quantile:

- a seasonal quantile pools each phase with its neighbours (``phase_window``) over the
  recent cycles, so one burst does not set tomorrow's forecast as it does for the maximum;
- a level-adjusted profile separates shape from level (each cycle divided by its mean), so
  a series that grows day over day is forecast at today's level, not at last week's.
"""

from __future__ import annotations

import numpy as np

from kubecap.forecast import nanstats
from kubecap.forecast.loss import LN_125
from kubecap.forecast.model import EstimatorSpec, FloatArray


def predict(spec: EstimatorSpec, cycles: FloatArray, step: int) -> FloatArray:
    """Base forecast of the next cycle (series × phase) from ``cycles`` (series × cycle × phase)."""
    recent = cycles[:, -spec.cycles :, :]
    window = round(spec.phase_window / step)
    if spec.kind == "max":
        return nanstats.nan_max(recent, axis=1)
    if spec.kind == "seasonal":
        return statistic(_pool(recent, window), spec.q)
    if spec.kind == "profile":
        return _profile(recent, spec.q, window)
    if spec.kind == "fft":
        return _lowpass(recent, spec.components, spec.cutoff // step)
    flat = statistic(recent.reshape(recent.shape[0], -1), spec.q)
    return np.broadcast_to(flat[:, None], (recent.shape[0], recent.shape[2])).copy()


def statistic(samples: FloatArray, q: float | None) -> FloatArray:
    """The ``q``-quantile of the samples on the last axis, or the loss-optimal value (q=None)."""
    if q is None:
        return loss_optimal(samples)
    return nanstats.nan_quantile(samples, q)


def loss_optimal(samples: FloatArray) -> FloatArray:
    """The constant forecast with the lowest total asymmetric error over the samples (last axis).

    The total error is convex in the forecast p; its slope just above p is
    ``Σ_{a<p} 1/a − #{a>p}/(p·ln 1.25)``. The minimum lies where that slope changes sign:
    at a sample, or between two, at ``#{a>p}/(ln 1.25 · Σ_{a<p} 1/a)``. Samples that are
    missing or not positive carry no relative error and are ignored. The cap on the cost of
    an under-prediction (``loss.MAX_UNDER``) is left out on purpose: it bounds how a bad
    forecast is scored, and a forecast must not exploit it by giving up on samples a
    hundred times above it.
    """
    a = np.where(np.isfinite(samples) & (samples > 0), samples, np.nan)
    ordered, n = nanstats.sorted_last(a)
    m = ordered.shape[-1]
    finite = np.isfinite(ordered)
    inverse = np.cumsum(np.where(finite, 1.0 / np.where(finite, ordered, 1.0), 0.0), axis=-1)
    j = np.arange(m)
    above = n[..., None] - 1 - j
    slope = inverse - above / (np.where(finite, ordered, 1.0) * LN_125)
    slope = np.where(j < n[..., None], slope, np.inf)
    first = np.argmax(slope >= 0, axis=-1)
    prev = np.maximum(first - 1, 0)
    inv_prev = np.take_along_axis(inverse, prev[..., None], axis=-1)[..., 0]
    between = (n - 1 - prev) / (LN_125 * np.maximum(inv_prev, 1e-300))
    lo = np.take_along_axis(ordered, prev[..., None], axis=-1)[..., 0]
    hi = np.take_along_axis(ordered, first[..., None], axis=-1)[..., 0]
    best = np.where(first == 0, hi, np.clip(between, lo, hi))
    return np.where(n > 0, best, np.nan)


def _pool(cycles: FloatArray, window: int) -> FloatArray:
    """(series, phase, cycle × neighbour): each phase with the phases ``window`` either side."""
    moved = cycles.transpose(0, 2, 1)  # series, phase, cycle
    if window <= 0:
        return moved
    shifted = [np.roll(moved, shift, axis=1) for shift in range(-window, window + 1)]
    return np.concatenate(shifted, axis=2)


def _profile(cycles: FloatArray, q: float | None, window: int) -> FloatArray:
    """Shape quantile (each cycle over its mean) times the most recent cycle's mean."""
    levels = nanstats.nan_mean(cycles, -1)  # series, cycle
    positive = np.where(levels > 0, levels, np.nan)
    shape = cycles / positive[..., None]
    shape_q = statistic(_pool(shape, window), q)
    # the most recent cycle with a level (older ones when it is missing)
    ok = np.isfinite(positive)
    last = np.where(ok.any(axis=1), cycles.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1), 0)
    level = positive[np.arange(cycles.shape[0]), last]
    return shape_q * level[:, None]


def _lowpass(cycles: FloatArray, components: int, shortest: int) -> FloatArray:
    """Low-pass FFT of the cycles laid end to end, replaying the reconstructed last cycle.

    Missing points are filled with their phase's median first. Frequencies whose period is
    shorter than ``shortest`` steps are dropped, and of the rest only the ``components``
    strongest (besides the mean) are kept. The result never goes below the history's
    minimum, since a usage forecast under anything ever observed is an artefact of ringing.
    """
    s, k, p = cycles.shape
    median = nanstats.nan_median(cycles.transpose(0, 2, 1))  # series, phase
    median = np.where(np.isfinite(median), median, 0.0)
    filled = np.where(np.isfinite(cycles), cycles, median[:, None, :]).reshape(s, k * p)
    spectrum = np.fft.rfft(filled, axis=1)
    n = k * p
    if shortest > 1:
        highest = n // shortest  # frequency index of the shortest period kept
        spectrum[:, highest + 1 :] = 0
    magnitude = np.abs(spectrum)
    magnitude[:, 0] = np.inf  # always keep the mean
    keep = min(components + 1, magnitude.shape[1])
    if keep < magnitude.shape[1]:
        threshold = -np.partition(-magnitude, keep - 1, axis=1)[:, keep - 1]
        spectrum = np.where(magnitude >= threshold[:, None], spectrum, 0)
    rebuilt = np.fft.irfft(spectrum, n=n, axis=1)[:, -p:]
    floor = np.fmin.reduce(filled, axis=1)
    return np.asarray(np.maximum(rebuilt, floor[:, None]), dtype=np.float64)
