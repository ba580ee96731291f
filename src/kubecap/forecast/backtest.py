"""Choose estimators and margins per series by rolling-origin backtests.

No estimator wins everywhere: the per-phase maximum suits a series that repeats exactly,
a loss-optimal seasonal statistic one with bursts, a level-adjusted profile one that
grows. So each series is backtested: at the last ``origins`` points in time, one horizon
apart, every estimator forecasts the next horizon from the history before that point only,
and every margin is scored with the asymmetric error (older origins weigh ``recency``
times less than the next newer one). Each estimator keeps its best margin; the ``ensemble``
best estimators are averaged into the forecast. Averaging the few best rather than taking
the single best is the classic cure for selection noise: with three days of backtest the
winner is often a matter of luck (measured on the real traces, see docs/forecast.md).

The ratios actual/forecast of that average over the same backtests give the uncertainty
band — an empirical (split-conformal style) interval, no distribution assumed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kubecap.forecast import estimators, loss, nanstats
from kubecap.forecast.model import EstimatorSpec, FloatArray


@dataclass(frozen=True, slots=True)
class Selection:
    """Per series (rows): the forecast, its band and what produced it."""

    values: FloatArray
    lower: FloatArray
    upper: FloatArray
    members: NDArray[np.intp]
    """(rank, series): indices into the specs of the averaged estimators, best first; -1 = unused."""
    margins: FloatArray
    """(rank, series): the margin of each averaged estimator."""
    member_errors: FloatArray
    """(rank, series): each averaged estimator's weighted backtest error at its margin."""
    error: FloatArray
    """Weighted backtest error of the average itself; NaN where nothing could be scored."""
    origins: NDArray[np.intp]
    candidate_errors: FloatArray
    """(spec, series): each estimator's weighted backtest error at its best margin."""


def fold(values: FloatArray, period: int, cycles: int) -> FloatArray:
    """The last whole cycles (at most ``cycles``) as (series, cycle, phase)."""
    s, n = values.shape
    k = min(cycles, n // period)
    return values[:, n - k * period :].reshape(s, k, period)


def forecast_next(
    values: FloatArray, period: int, horizon: int, spec: EstimatorSpec, step: int
) -> FloatArray:
    """Base forecast (no margin) of the ``horizon`` points after ``values``, per series."""
    cycle = estimators.predict(spec, fold(values, period, spec.cycles), step)
    reps = -(-horizon // period)
    return np.tile(cycle, (1, reps))[:, :horizon] if reps > 1 else cycle[:, :horizon]


@dataclass(frozen=True, slots=True)
class _Origin:
    weight: float
    actual: FloatArray
    bases: FloatArray  # (spec, series, time)


def select(
    values: FloatArray,
    period: int,
    horizon: int,
    specs: tuple[EstimatorSpec, ...],
    margins: tuple[float, ...],
    *,
    origins: int,
    recency: float,
    ensemble: int,
    band: float,
    step: int,
) -> Selection:
    """Backtest every (estimator, margin) on ``values`` (series × time) and forecast with the best."""
    s, n = values.shape
    m = np.asarray(margins, dtype=np.float64)
    test = min(horizon, period)
    sums = np.zeros((len(specs), m.size, s))
    weights = np.zeros((len(specs), s))
    scored = np.zeros(s, dtype=np.intp)
    history: list[_Origin] = []
    for b in range(origins):
        origin = n - (b + 1) * test
        if origin < period:
            break
        weight = recency**b
        actual = values[:, origin : origin + test]
        bases = np.stack([forecast_next(values[:, :origin], period, test, spec, step) for spec in specs])
        for c in range(len(specs)):
            err, cnt = loss.margin_error_sums(actual, bases[c], m)
            sums[c] += weight * err
            weights[c] += weight * cnt
        scored += (np.isfinite(actual) & (actual > 0)).any(axis=1)
        history.append(_Origin(weight, actual, bases))

    mean = np.divide(
        sums, weights[:, None, :], out=np.full(sums.shape, np.inf), where=weights[:, None, :] > 0
    )
    best_margin = np.argmin(mean, axis=1)  # (spec, series)
    best_error = np.take_along_axis(mean, best_margin[:, None, :], axis=1)[:, 0, :]
    k = min(max(ensemble, 1), len(specs))
    ranked = np.argsort(best_error, axis=0, kind="stable")[:k]  # (rank, series)
    rows = np.arange(s)
    member_errors = best_error[ranked, rows]
    used = np.isfinite(member_errors)
    members = np.where(used, ranked, -1)
    member_margins = np.where(used, m[best_margin[ranked, rows]], np.nan)
    factors = np.where(used, 1.0 + np.nan_to_num(member_margins), 0.0)
    share = factors / np.maximum(used.sum(axis=0), 1)  # averaging weight × (1 + margin)

    def combine(bases: FloatArray) -> FloatArray:
        picked = bases[np.maximum(members, 0), rows]  # (rank, series, time)
        return np.asarray(np.sum(picked * share[..., None], axis=0), dtype=np.float64)

    finals = np.stack([forecast_next(values, period, horizon, spec, step) for spec in specs])
    point = combine(finals)
    ok = used[0]

    err_sum = np.zeros(s)
    err_weight = np.zeros(s)
    ratios = []
    for item in history:
        predicted = combine(item.bases)
        e, cnt = loss.margin_error_sums(item.actual, predicted, np.zeros(1))
        err_sum += item.weight * e[0]
        err_weight += item.weight * cnt
        good = np.isfinite(item.actual) & np.isfinite(predicted) & (predicted > 0)
        ratios.append(np.where(good, item.actual / np.where(good, predicted, 1.0), np.nan))
    error = np.divide(err_sum, err_weight, out=np.full(s, np.nan), where=err_weight > 0)
    lower, upper = _band(ratios, band, point)
    candidate = np.where(np.isfinite(best_error), best_error, np.nan)
    return Selection(
        values=np.where(ok[:, None], point, np.nan),
        lower=lower,
        upper=upper,
        members=members,
        margins=member_margins,
        member_errors=np.where(used, member_errors, np.nan),
        error=np.where(ok, error, np.nan),
        origins=scored,
        candidate_errors=candidate,
    )


def _band(ratios: list[FloatArray], band: float, point: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Quantiles of actual/forecast in the backtests, applied to the forecast (never excluding it).

    Each backtest origin gives its own quantiles and the band spans the widest of them: the
    points of one day are strongly correlated, so pooling days would understate how much
    a whole day can differ from the next.
    """
    if not ratios:
        return point.copy(), point.copy()
    lo = np.ones(point.shape[0])
    hi = np.ones(point.shape[0])
    for r in ratios:
        sorted_, n = nanstats.sorted_last(r)
        q_lo, q_hi = nanstats.quantiles_of_sorted(sorted_, n, [(1 - band) / 2, (1 + band) / 2])
        lo = np.fmin(lo, q_lo)
        hi = np.fmax(hi, q_hi)
    return point * lo[:, None], point * hi[:, None]
