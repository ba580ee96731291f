"""The asymmetric forecast error that decides which estimator a series gets.

Capacity is cheap to over-provision a little and expensive to under-provision: a pod that
runs out of CPU throttles, one that runs out of memory dies. Crane's DSP predictor scores
forecasts so (its `PredictionError`), and kubecap keeps the same scale so that its figures
can be put beside Crane's:

- over-prediction (p ≥ a) costs its relative size ``(p − a)/a``, linearly;
- under-prediction ``e = (a − p)/a`` costs ``−ln(1 − e)/ln(1.25)``, so 20 % too low costs
  1.0 — as much as 100 % too high — and the cost grows without bound as p → 0.

Two edge cases that Crane leaves undefined are fixed here:

- ``e ≥ 1`` (a prediction of zero or less under a positive actual) is counted as
  ``e = MAX_UNDER`` (0.99), a finite cost of ln(100)/ln(1.25) ≈ 20.6 per point, so one bad
  point cannot make a whole backtest infinite or NaN;
- an actual of zero or less (and a missing actual) has no relative error: the point is left
  out of the mean (Crane instead switches the whole window to the absolute error when any
  actual is below 0.001, which mixes units). A window without any positive actual has an
  undefined (NaN) error.

Under this loss the best constant forecast of a tight distribution is about its 82nd
percentile (the slopes are 1/a above and 1/(a·ln 1.25) ≈ 4.5/a below), which is why the
estimators look at upper quantiles rather than at means.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

MAX_UNDER = 0.99
"""Relative under-prediction at which the cost stops growing (about 20.6)."""

LN_125 = math.log(1.25)
"""The under-prediction scale: 20 % too low costs 1."""


def asymmetric_error(actual: ArrayLike, predicted: ArrayLike) -> NDArray[np.float64]:
    """Pointwise asymmetric error; NaN where the actual is missing, zero or negative."""
    a = np.asarray(actual, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    valid = np.isfinite(a) & (a > 0) & np.isfinite(p)
    safe_a = np.where(valid, a, 1.0)
    safe_p = np.where(valid, p, 1.0)
    over = (safe_p - safe_a) / safe_a
    shortfall = np.minimum((safe_a - safe_p) / safe_a, MAX_UNDER)
    under = -np.log1p(-np.maximum(shortfall, 0.0)) / LN_125
    out = np.where(safe_p >= safe_a, over, under)
    return np.where(valid, out, np.nan)


def mean_error(errors: NDArray[np.float64], axis: int | tuple[int, ...] | None = None) -> NDArray[np.float64]:
    """Mean over the valid (non-NaN) points; NaN where there is none, without warnings."""
    ok = np.isfinite(errors)
    total = np.sum(np.where(ok, errors, 0.0), axis=axis)
    count = np.sum(ok, axis=axis)
    return np.asarray(
        np.divide(total, count, out=np.full(np.shape(total), np.nan), where=count > 0), dtype=np.float64
    )


def asymmetric_mape(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Mean asymmetric error of one forecast window (NaN when no actual is positive)."""
    return float(mean_error(asymmetric_error(actual, predicted)))


def margin_error_sums(
    actual: NDArray[np.float64], base: NDArray[np.float64], margins: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Summed asymmetric errors of ``base × (1 + margin)`` for every margin at once.

    ``actual`` and ``base`` are (series, time); returns the sums (margin, series) over valid
    points and the number of valid points per series — the same figures as
    ``asymmetric_error`` but from one ratio per point, which matters when thousands of series
    are backtested with several estimators and margins.
    """
    valid = np.isfinite(actual) & (actual > 0) & np.isfinite(base)
    ratio = np.where(valid, base / np.where(valid, actual, 1.0), 1.0)
    log_ratio = np.log(np.maximum(ratio, 1e-300))
    floor = math.log(1.0 - MAX_UNDER)
    sums = np.empty((margins.size, actual.shape[0]))
    for i, margin in enumerate(margins):
        log_p = log_ratio + math.log1p(float(margin))
        err = np.where(log_p >= 0, ratio * (1.0 + margin) - 1.0, -np.maximum(log_p, floor) / LN_125)
        sums[i] = np.sum(np.where(valid, err, 0.0), axis=1)
    return sums, valid.sum(axis=1).astype(np.float64)
