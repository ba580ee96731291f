"""Which period, if any, a series repeats with — judged by how well it predicts.

Crane accepts only exact 1-day and 7-day periods, found as periodogram peaks above 100
random shuffles and confirmed by an autocorrelation peak. Significance is not the question
that matters for capacity, though: with weeks of minute data almost any faint daily ripple
is "significant". kubecap asks instead how much of the series a period *predicts*:

- **strength** of a period P: remove the level with a centred moving average of length P
  (which cancels anything of period P), fold the rest into cycles, predict each cycle's
  points by the median of the same phase in the *other* cycles (leave-one-cycle-out) and
  report ``1 − error/variance``. Noise scores about 0 or below, a perfectly repeated shape 1.
  It is measured at the series' own step: if the work runs on a coarser grid, the variance
  hidden inside its bins counts as unexplained.
- a period is **claimed** when its strength reaches ``min_strength`` (0.4) with at least
  ``min_cycles`` cycles; otherwise the series is not periodic and forecasting abstains.
- **which** period: the strongest claimed one, except that between nested periods (1 d and
  7 d) the longer is chosen only if its leave-one-out error on the raw series is lower by
  ``nested_gain`` — a weekly profile estimated from two weeks is noisy, and must earn its
  place against a daily one estimated from fourteen days.

Candidates are the configured periods (1 d and 7 d) and, optionally, the two strongest
peaks of the periodogram (with at least ``MIN_CYCLES_OTHER`` cycles). No randomness is
involved, so results are deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import uniform_filter1d

from kubecap.forecast import nanstats
from kubecap.forecast.model import FloatArray, ForecastConfig, Period

MIN_CYCLES_OTHER = 4
"""Cycles a periodogram-found period needs (configured periods need ``min_cycles``)."""

_OTHER_PEAKS = 2
_MIN_OTHER_STEPS = 4


@dataclass(frozen=True, slots=True)
class Evaluated:
    """A candidate period over a group of series: strength and raw leave-one-out errors."""

    steps: int
    rows: NDArray[np.intp]
    strength: FloatArray
    cycles: NDArray[np.intp]
    raw_errors: FloatArray
    """Squared leave-one-out errors of the raw series, aligned to the end (NaN where none)."""


def moving_average(values: FloatArray, length: int) -> FloatArray:
    """Centred NaN-aware moving average over ``length`` points (edges use the nearest values)."""
    ok = np.isfinite(values)
    total = uniform_filter1d(np.where(ok, values, 0.0), length, axis=1, mode="nearest")
    weight = uniform_filter1d(ok.astype(np.float64), length, axis=1, mode="nearest")
    return np.divide(total, weight, out=np.full(values.shape, np.nan), where=weight > 1e-9)


def loo_errors(values: FloatArray, steps: int) -> FloatArray:
    """Squared error of predicting each point by the median of its phase in the other cycles.

    Works on the last ``k·steps`` points (k whole cycles); the result is aligned to the end
    of ``values`` and NaN where there is no prediction or no value.
    """
    s, n = values.shape
    k = n // steps
    out = np.full((s, n), np.nan)
    if k < 2:
        return out
    start = n - k * steps
    cycles = values[:, start:].reshape(s, k, steps).transpose(0, 2, 1)  # series, phase, cycle
    order = np.argsort(cycles, axis=-1)  # NaNs last
    ordered = np.take_along_axis(cycles, order, axis=-1)
    finite = nanstats.count(cycles, -1)  # series, phase
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(k), order.shape), axis=-1)
    remaining = finite[..., None] - 1  # finite values left when one finite value is held out
    lo = np.maximum(remaining - 1, 0) // 2
    hi = remaining // 2

    def pick(position: NDArray[np.intp]) -> FloatArray:
        index = np.where(position < rank, position, position + 1)
        return np.take_along_axis(ordered, np.minimum(index, k - 1), axis=-1)

    prediction = (pick(lo) + pick(hi)) / 2
    usable = np.isfinite(cycles) & (remaining >= 1)
    error = np.where(usable, (cycles - prediction) ** 2, np.nan)
    out[:, start:] = error.transpose(0, 2, 1).reshape(s, k * steps)
    return out


def evaluate(
    values: FloatArray, rows: NDArray[np.intp], steps: int, weights: FloatArray, within: FloatArray
) -> Evaluated:
    """Strength and raw errors of one candidate period for the given rows."""
    x = values[rows]
    w = weights[rows]
    n = x.shape[1]
    k = n // steps
    residual = x - moving_average(x, steps)
    seasonal = loo_errors(residual, steps)
    usable = np.isfinite(seasonal)
    flat = np.where(usable, residual * residual, 0.0)
    explained_error = np.sum(np.where(usable, seasonal * w, 0.0), axis=1) + within[rows]
    total = np.sum(flat * w, axis=1) + within[rows]
    strength = np.where(total > 0, 1.0 - explained_error / np.maximum(total, 1e-300), 0.0)
    # the period must be seen at least twice at most of its phases, or it was not observed
    observed = np.sum(usable, axis=1) >= 0.5 * np.maximum(np.sum(np.isfinite(x), axis=1), 1)
    strength = np.where(observed, strength, -np.inf)
    raw = loo_errors(x, steps) * w
    cycles = np.full(rows.size, k, dtype=np.intp)
    return Evaluated(steps, rows, strength, cycles, raw)


def periodogram_peaks(values: FloatArray, count: int, min_cycles: int) -> NDArray[np.intp]:
    """Periods (in steps) of the ``count`` strongest periodogram peaks per series; 0 = none."""
    s, n = values.shape
    x = values - nanstats.nan_mean(values, -1)[:, None]
    x = np.where(np.isfinite(x), x, 0.0)
    power = np.abs(np.fft.rfft(x, axis=1)) ** 2
    freqs = np.arange(power.shape[1])
    lowest = min_cycles  # at least min_cycles cycles in the window
    highest = n // _MIN_OTHER_STEPS
    power[:, :lowest] = 0.0
    power[:, highest + 1 :] = 0.0
    # local maxima only, so one broad peak does not fill every slot
    left = np.concatenate([np.zeros((s, 1)), power[:, :-1]], axis=1)
    right = np.concatenate([power[:, 1:], np.zeros((s, 1))], axis=1)
    peaks = np.where((power > left) & (power >= right), power, 0.0)
    top = np.argsort(-peaks, axis=1)[:, :count]
    strong = np.take_along_axis(peaks, top, axis=1) > 0
    period = np.where(strong, np.rint(n / np.maximum(freqs[top], 1)), 0).astype(np.intp)
    return period


@dataclass(frozen=True, slots=True)
class Detection:
    """Period detection for a batch: chosen period steps per row (0 = none) and reports data."""

    chosen: NDArray[np.intp]
    candidates: list[list[Period]]
    reasons: list[str]


def detect(
    values: FloatArray,
    step: int,
    config: ForecastConfig,
    weights: FloatArray | None = None,
    within: FloatArray | None = None,
) -> Detection:
    """Detect the period of every row of ``values`` (series × time on a grid of ``step``)."""
    s, n = values.shape
    w = weights if weights is not None else np.isfinite(values).astype(np.float64)
    wi = within if within is not None else np.zeros(s)
    all_rows = np.arange(s)
    # candidate periods per row, in steps
    per_row: list[set[int]] = [set() for _ in range(s)]
    for seconds in config.periods:
        p = seconds // step
        if seconds % step == 0 and p >= 2 and n // p >= config.min_cycles:
            for r in range(s):
                per_row[r].add(p)
    configured = {seconds // step for seconds in config.periods if seconds % step == 0}
    if config.search_other_periods:
        for r, row in enumerate(periodogram_peaks(values, _OTHER_PEAKS, MIN_CYCLES_OTHER)):
            per_row[r].update(int(p) for p in row if p >= _MIN_OTHER_STEPS and n // p >= MIN_CYCLES_OTHER)
    # evaluate each distinct period once over the rows that try it
    results: dict[int, Evaluated] = {}
    for p in sorted({p for row in per_row for p in row}):
        rows = np.array([r for r in all_rows if p in per_row[r]], dtype=np.intp)
        results[p] = evaluate(values, rows, p, w, wi)
    lookup: dict[tuple[int, int], tuple[float, int, FloatArray]] = {}
    for p, ev in results.items():
        for i, r in enumerate(ev.rows):
            lookup[(int(r), p)] = (float(ev.strength[i]), int(ev.cycles[i]), ev.raw_errors[i])

    chosen = np.zeros(s, dtype=np.intp)
    candidates: list[list[Period]] = []
    reasons: list[str] = []
    for r in range(s):
        tried = sorted(
            ((p, *lookup[(r, p)]) for p in per_row[r] if np.isfinite(lookup[(r, p)][0])), key=lambda c: -c[1]
        )
        periods = [Period(p * step, round(strength, 4), cycles) for p, strength, cycles, _ in tried]
        candidates.append(periods)
        claimed = [c for c in tried if c[1] >= config.min_strength]
        if not claimed:
            if not tried:
                reasons.append("the history is too short for any candidate period")
            else:
                best = periods[0]
                reasons.append(
                    f"no period explains {config.min_strength:.0%} of the variance "
                    f"(best: {best} at {max(best.strength, 0.0):.0%})"
                )
            continue
        best_p = claimed[0][0]
        nested = [c for c in claimed if c[0] % best_p == 0 or best_p % c[0] == 0]
        nested.sort(key=lambda c: c[0])
        # between nested periods prefer the shorter unless the longer predicts clearly better
        current = nested[0]
        for cand in nested[1:]:
            if cand[0] % current[0]:
                continue
            if _raw_gain(cand[3], current[3]) >= config.nested_gain:
                current = cand
        chosen[r] = current[0]
        how = "configured" if current[0] in configured else "periodogram"
        reasons.append(f"period {Period(current[0] * step, current[1], current[2])} ({how}) explains {current[1]:.0%}")
    return Detection(chosen, candidates, reasons)


def _raw_gain(longer: FloatArray, shorter: FloatArray) -> float:
    """Share by which the longer period's leave-one-out error undercuts the shorter one's."""
    both = np.isfinite(longer) & np.isfinite(shorter)
    if not both.any():
        return -np.inf
    base = float(np.sum(shorter[both]))
    if base <= 0:
        return -np.inf
    return 1.0 - float(np.sum(longer[both])) / base
