"""Choose an estimator and a margin per series by rolling-origin backtests.

No estimator wins everywhere: the per-phase maximum suits a series that repeats exactly,
a seasonal quantile one with bursts, a level-adjusted profile one that grows. So each series
is backtested: at the last ``origins`` points in time, one horizon apart, every estimator
forecasts the next horizon from the history before that point only, and each margin is
scored with the asymmetric error. The (estimator, margin) pair with the lowest mean error is
used from the full history. The ratios actual/forecast seen in those backtests give the
uncertainty band — an empirical (split-conformal style) interval, no distribution assumed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kubecap.forecast import estimators, loss, nanstats
from kubecap.forecast.model import EstimatorSpec, FloatArray


@dataclass(frozen=True, slots=True)
class Selection:
    """Per series (rows): the chosen forecast, band and backtest figures."""

    values: FloatArray
    lower: FloatArray
    upper: FloatArray
    estimator: NDArray[np.intp]
    """Index into the specs; -1 where no backtest could be scored."""
    margin: FloatArray
    error: FloatArray
    origins: NDArray[np.intp]
    candidate_errors: FloatArray
    """(spec, series): mean backtest error of each estimator at its best margin."""


def fold(values: FloatArray, period: int, cycles: int) -> FloatArray:
    """The last whole cycles (at most ``cycles``) as (series, cycle, phase)."""
    s, n = values.shape
    k = min(cycles, n // period)
    return values[:, n - k * period :].reshape(s, k, period)


def forecast_next(values: FloatArray, period: int, horizon: int, spec: EstimatorSpec, step: int) -> FloatArray:
    """Base forecast (no margin) of the ``horizon`` points after ``values``, per series."""
    cycle = estimators.predict(spec, fold(values, period, spec.cycles), step)
    reps = -(-horizon // period)
    return np.tile(cycle, (1, reps))[:, :horizon] if reps > 1 else cycle[:, :horizon]


def select(
    values: FloatArray,
    period: int,
    horizon: int,
    specs: tuple[EstimatorSpec, ...],
    margins: tuple[float, ...],
    origins: int,
    band: float,
    step: int,
) -> Selection:
    """Backtest every (estimator, margin) on ``values`` (series × time) and forecast with the best."""
    s, n = values.shape
    m = np.asarray(margins, dtype=np.float64)
    test = min(horizon, period)
    sums = np.zeros((len(specs), m.size, s))
    counts = np.zeros((len(specs), s))
    scored = np.zeros(s, dtype=np.intp)
    history_bases: list[tuple[FloatArray, FloatArray]] = []  # (actual, bases (spec, series, time))
    for b in range(1, origins + 1):
        origin = n - b * test
        if origin < period:
            break
        history = values[:, :origin]
        actual = values[:, origin : origin + test]
        bases = np.stack([forecast_next(history, period, test, spec, step) for spec in specs])
        for c in range(len(specs)):
            err, cnt = loss.margin_error_sums(actual, bases[c], m)
            sums[c] += err
            counts[c] += cnt
        scored += (np.isfinite(actual) & (actual > 0)).any(axis=1)
        history_bases.append((actual, bases))

    mean = np.divide(sums, counts[:, None, :], out=np.full(sums.shape, np.inf), where=counts[:, None, :] > 0)
    flat = mean.reshape(len(specs) * m.size, s)
    best = np.argmin(flat, axis=0)
    best_error = flat[best, np.arange(s)]
    ok = np.isfinite(best_error)
    chosen_spec = np.where(ok, best // m.size, -1)
    chosen_margin = np.where(ok, m[best % m.size], np.nan)
    candidate_errors = np.where(np.isfinite(mean.min(axis=1)), mean.min(axis=1), np.nan)

    finals = np.stack([forecast_next(values, period, horizon, spec, step) for spec in specs])
    rows = np.arange(s)
    spec_index = np.maximum(chosen_spec, 0)
    factor = 1.0 + np.nan_to_num(chosen_margin)
    point = finals[spec_index, rows] * factor[:, None]

    lower, upper = _band(history_bases, spec_index, factor, band, point)
    return Selection(
        values=np.where(ok[:, None], point, np.nan),
        lower=lower,
        upper=upper,
        estimator=chosen_spec,
        margin=chosen_margin,
        error=np.where(ok, best_error, np.nan),
        origins=scored,
        candidate_errors=candidate_errors,
    )


def _band(
    history: list[tuple[FloatArray, FloatArray]],
    spec_index: NDArray[np.intp],
    factor: FloatArray,
    band: float,
    point: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Quantiles of actual/forecast in the backtests, applied to the forecast."""
    rows = np.arange(point.shape[0])
    if not history:
        return point.copy(), point.copy()
    ratios = []
    for actual, bases in history:
        predicted = bases[spec_index, rows] * factor[:, None]
        good = np.isfinite(actual) & np.isfinite(predicted) & (predicted > 0)
        ratios.append(np.where(good, actual / np.where(good, predicted, 1.0), np.nan))
    pooled = np.concatenate(ratios, axis=1)
    sorted_, n = nanstats.sorted_last(pooled)
    lo, hi = nanstats.quantiles_of_sorted(sorted_, n, [(1 - band) / 2, (1 + band) / 2])
    lo = np.where(np.isfinite(lo), lo, 1.0)
    hi = np.where(np.isfinite(hi), hi, 1.0)
    return point * np.minimum(lo, 1.0)[:, None], point * np.maximum(hi, 1.0)[:, None]
