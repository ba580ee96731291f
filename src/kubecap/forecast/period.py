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

Candidates are the configured periods (1 d and 7 d) and, optionally, the strongest peak
of the periodogram (with at least ``MIN_CYCLES_OTHER`` cycles). No randomness is
involved, so results are deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kubecap.forecast import nanstats
from kubecap.forecast.model import FloatArray, ForecastConfig, Period

MIN_CYCLES_OTHER = 4
"""Cycles a periodogram-found period needs (configured periods need ``min_cycles``)."""

_OTHER_PEAKS = 1
_MIN_OTHER_STEPS = 4


@dataclass(frozen=True, slots=True)
class Evaluated:
    """A candidate period over a group of series: its strength and cycles per series."""

    steps: int
    rows: NDArray[np.intp]
    strength: FloatArray
    cycles: NDArray[np.intp]


def moving_average(values: FloatArray, length: int) -> FloatArray:
    """Centred NaN-aware moving average over ``length`` points (edges use the nearest values)."""
    ok = np.isfinite(values)
    total = nanstats.moving_sum(np.where(ok, values, 0.0), length)
    weight = nanstats.moving_sum(ok.astype(np.float64), length)
    return np.asarray(
        np.divide(total, weight, out=np.full(values.shape, np.nan), where=weight > 0.5), dtype=np.float64
    )


def loo_errors(values: FloatArray, steps: int) -> FloatArray:
    """Squared error of predicting each point by the median of its phase in the other cycles.

    Works on the last ``k·steps`` points (k whole cycles); the result is aligned to the end
    of ``values`` and NaN where there is no prediction or no value. The leave-one-out median
    needs no ranks: with the phase's c finite values sorted as v, removing a value x leaves
    a median made of v's middle elements, which ones depending only on where x sits.
    """
    s, n = values.shape
    k = n // steps
    out = np.full((s, n), np.nan)
    if k < 2:
        return out
    start = n - k * steps
    cycles = values[:, start:].reshape(s, k, steps).transpose(0, 2, 1)  # series, phase, cycle
    ordered = np.sort(cycles, axis=-1)  # NaNs last
    c = nanstats.count(cycles, -1)[..., None]  # finite values per phase

    def at(index: NDArray[np.intp]) -> FloatArray:
        return np.take_along_axis(ordered, np.clip(index, 0, k - 1), axis=-1)

    half = c // 2
    # c even: the other c-1 values have one middle element, v[c/2] or v[c/2-1]
    even = np.where(cycles <= at(half - 1), at(half), at(half - 1))
    # c odd (h = (c-1)/2): the middle pair is (v[h], v[h+1]), (v[h-1], v[h+1]) or (v[h-1], v[h])
    mid, below, above = at(half), at(half - 1), at(half + 1)
    odd = np.where(
        cycles < mid, (mid + above) / 2, np.where(cycles > mid, (below + mid) / 2, (below + above) / 2)
    )
    prediction = np.where(c % 2 == 0, even, odd)
    usable = np.isfinite(cycles) & (c >= 2)
    error = np.where(usable, (cycles - prediction) ** 2, np.nan)
    out[:, start:] = error.transpose(0, 2, 1).reshape(s, k * steps)
    return out


def evaluate(
    values: FloatArray, rows: NDArray[np.intp], steps: int, weights: FloatArray, within: FloatArray
) -> Evaluated:
    """Strength of one candidate period, and its cycles with data, for the given rows."""
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
    folded = np.isfinite(x[:, n - k * steps :]).reshape(rows.size, k, steps)
    cycles = np.sum(folded.mean(axis=2) >= 0.5, axis=1).astype(np.intp)
    return Evaluated(steps, rows, strength, cycles)


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
    lookup: dict[tuple[int, int], tuple[float, int]] = {}
    for p, ev in results.items():
        for i, r in enumerate(ev.rows):
            lookup[(int(r), p)] = (float(ev.strength[i]), int(ev.cycles[i]))

    chosen = np.zeros(s, dtype=np.intp)
    candidates: list[list[Period]] = []
    reasons: list[str] = []
    families: dict[int, list[int]] = {}
    for r in range(s):
        tried = sorted(
            ((p, *lookup[(r, p)]) for p in per_row[r] if np.isfinite(lookup[(r, p)][0])), key=lambda c: -c[1]
        )
        candidates.append([Period(p * step, round(strength, 4), cycles) for p, strength, cycles in tried])
        claimed = [c for c in tried if c[1] >= config.min_strength]
        reasons.append("" if claimed else _no_period(candidates[r], config.min_strength))
        if not claimed:
            continue
        best = claimed[0][0]
        family = sorted(c[0] for c in claimed if c[0] % best == 0 or best % c[0] == 0)
        chosen[r] = family[0]
        if len(family) > 1:
            families[r] = family

    # between nested periods prefer the shorter unless the longer predicts clearly better;
    # the raw leave-one-out errors that decide it are computed only for those rows
    raw: dict[tuple[int, int], FloatArray] = {}
    for p in sorted({p for family in families.values() for p in family}):
        rows = np.array([r for r, family in families.items() if p in family], dtype=np.intp)
        errors = loo_errors(values[rows], p) * w[rows]
        for i, r in enumerate(rows):
            raw[(int(r), p)] = errors[i]
    for r, family in families.items():
        current = family[0]
        for longer in family[1:]:
            if longer % current == 0 and _raw_gain(raw[(r, longer)], raw[(r, current)]) >= config.nested_gain:
                current = longer
        chosen[r] = current
    for row in np.flatnonzero(chosen):
        steps = int(chosen[row])
        strength, cycles = lookup[(int(row), steps)]
        how = "configured" if steps in configured else "periodogram"
        reasons[row] = (
            f"period {Period(steps * step, round(strength, 4), cycles)} ({how}) explains {strength:.0%}"
        )
    return Detection(chosen, candidates, reasons)


def _no_period(candidates: list[Period], min_strength: float) -> str:
    if not candidates:
        return "the history is too short for any candidate period"
    best = candidates[0]
    share = max(best.strength, 0.0)
    return f"no period explains {min_strength:.0%} of the variance (best: {best} at {share:.0%})"


def _raw_gain(longer: FloatArray, shorter: FloatArray) -> float:
    """Share by which the longer period's leave-one-out error undercuts the shorter one's."""
    both = np.isfinite(longer) & np.isfinite(shorter)
    if not both.any():
        return -np.inf
    base = float(np.sum(shorter[both]))
    if base <= 0:
        return -np.inf
    return 1.0 - float(np.sum(longer[both])) / base
