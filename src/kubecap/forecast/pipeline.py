"""The forecasting pipeline: grid → check → cut → clean → detect → backtest → forecast.

``forecast`` handles one series and raises ``CannotForecast``; ``forecast_many`` handles a
``Batch`` (many series on one grid) in chunks of ``chunk_size`` rows, every step vectorised
across the rows of a chunk, and returns one ``Forecast`` or ``CannotForecast`` per series.
``detect_period``/``detect_periods`` stop after period detection and ``regularise`` shows
the cleaned series the estimators work on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from kubecap.errors import ConfigError
from kubecap.forecast import backtest, period
from kubecap.forecast import regularise as clean
from kubecap.forecast.errors import CannotForecast, Reason
from kubecap.forecast.model import (
    APERIODIC_ESTIMATORS,
    DAY,
    Batch,
    FloatArray,
    Forecast,
    ForecastConfig,
    Member,
    PeriodReport,
    Regularised,
    Series,
    format_seconds,
)

T = TypeVar("T")


def series_to_batch(series: Series, config: ForecastConfig) -> Batch:
    """One raw series on its regular grid (the last ``history`` seconds), as a batch of one."""
    step = config.step or clean.infer_step(series.timestamps)
    start, values = clean.to_grid(series, step, config.history)
    return Batch(values[None, :], start, step, (series.name,))


@dataclass(slots=True)
class _Chunk:
    """Rows of a batch checked and cut, on the working grid, then cleaned and analysed."""

    names: tuple[str, ...]
    values: FloatArray
    weights: FloatArray
    within: FloatArray
    start: float
    step: int
    end: float
    history_start: FloatArray
    shifted: NDArray[np.bool_]
    filled: NDArray[np.intp]
    failures: list[CannotForecast | None]
    cleaned: FloatArray | None = None
    outliers: NDArray[np.intp] | None = None
    detection: period.Detection | None = None


def _duration(seconds: float) -> str:
    return format_seconds(round(seconds))


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _check(
    x: FloatArray, step: int, names: tuple[str, ...], config: ForecastConfig
) -> list[CannotForecast | None]:
    """Why each row cannot be used, or None: empty, stale, short, gappy, zero, constant."""
    s, n = x.shape
    needed = (config.min_cycles + 1) * min(config.periods)
    valid = np.isfinite(x)
    counts = valid.sum(axis=1)
    stale = clean.stale_tail(x)
    first = np.where(valid.any(axis=1), np.argmax(valid, axis=1), n)
    top = np.fmax.reduce(x, axis=1)
    bottom = np.fmin.reduce(x, axis=1)
    out: list[CannotForecast | None] = [None] * s
    for r in range(s):
        span = int(n - first[r]) * step
        if counts[r] == 0:
            out[r] = CannotForecast(names[r], Reason.EMPTY, "it has no finite, non-negative sample")
        elif stale[r] * step > config.max_fill:
            out[r] = CannotForecast(
                names[r],
                Reason.GAPS,
                f"it has no data for the last {_duration(stale[r] * step)}; "
                f"forecasts need data up to at most {_duration(config.max_fill)} ago",
            )
        elif span < needed:
            out[r] = CannotForecast(
                names[r],
                Reason.TOO_SHORT,
                f"it holds {_duration(span)} of history; at least {_duration(needed)} are needed",
            )
        elif counts[r] < config.min_coverage * (n - first[r]):
            out[r] = CannotForecast(
                names[r],
                Reason.GAPS,
                f"only {counts[r] / (n - first[r]):.0%} of its history has data (gaps longer than "
                f"{_duration(config.max_fill)} stay empty); at least {config.min_coverage:.0%} is needed",
            )
        elif top[r] == 0:
            out[r] = CannotForecast(names[r], Reason.ALL_ZERO, "all its values are zero")
        elif top[r] - bottom[r] <= 1e-12 * max(abs(top[r]), 1.0):
            out[r] = CannotForecast(names[r], Reason.CONSTANT, f"it is constant at {top[r]:g}")
    return out


def _prepare(
    values: NDArray[np.floating[Any]], start: float, step: int, names: tuple[str, ...], config: ForecastConfig
) -> _Chunk:
    """Window, fill, check, downsample and cut the rows of one chunk."""
    n = values.shape[1]
    keep = max(1, config.history // step)
    if n > keep:
        start += (n - keep) * step
        values = values[:, n - keep :]
        n = keep
    end = start + n * step
    x = np.array(values, dtype=np.float64)  # a private copy, cleaned in place
    x[~(np.isfinite(x) & (x >= 0))] = np.nan
    missing = np.sum(np.isnan(x), axis=1)
    x = clean.fill_gaps(x, config.max_fill // step)
    filled = missing - np.sum(np.isnan(x), axis=1)
    failures = _check(x, step, names, config)

    working = config.working_step or step
    if working % step:
        raise ConfigError(f"working_step {working}s must be a multiple of the series step {step}s")
    down = clean.downsample(x, working // step)
    xw = down.values
    origin = start + down.trimmed * step
    cut = clean.level_shift_cut(xw, max(1, DAY // working), config.level_shift_ratio)
    history_start = np.asarray(origin + cut * working, dtype=np.float64)
    needed = (config.min_cycles + 1) * min(config.periods)
    for r in np.flatnonzero(cut > 0):
        xw[r, : cut[r]] = np.nan
        remaining = int(xw.shape[1] - cut[r]) * working
        if failures[r] is None and remaining < needed:
            failures[r] = CannotForecast(
                names[r],
                Reason.LEVEL_SHIFT,
                f"its level shifted around {_when(history_start[r])}, leaving {_duration(remaining)} of "
                f"comparable history; at least {_duration(needed)} are needed",
            )
    return _Chunk(
        names, xw, down.weights, down.within, origin, working, end, history_start, cut > 0, filled, failures
    )


def _analyse(chunk: _Chunk, config: ForecastConfig) -> None:
    """Detect periods, then clean outliers knowing them.

    Detection comes first and sees the outliers: its medians shrug off glitches, while
    cleaning without the period would erase spikes that recur every cycle (NAB's hourly
    autoscaling-group spikes are the period).
    """
    chunk.detection = period.detect(chunk.values, chunk.step, config, chunk.weights, chunk.within)
    cleaned, outliers = clean.remove_outliers(chunk.values, config.outlier_threshold, chunk.detection.chosen)
    chunk.cleaned = np.where(np.isfinite(chunk.values), cleaned, np.nan)
    chunk.outliers = outliers


def _bridge(row: FloatArray) -> FloatArray:
    """A forecast with its holes filled from its neighbours.

    A phase the history never saw (a nightly gap longer than ``max_fill`` in every cycle)
    has no estimate; callers get the values on either side of it rather than NaN.
    """
    ok = np.isfinite(row)
    if ok.all() or not ok.any():
        return row
    index = np.arange(row.size)
    return np.interp(index, index[ok], row[ok])


def _horizon_steps(horizon: int | timedelta, step: int) -> int:
    seconds = horizon.total_seconds() if isinstance(horizon, timedelta) else float(horizon)
    if seconds <= 0:
        raise ConfigError(f"forecast horizon must be positive, got {seconds:g}s")
    return max(1, math.ceil(seconds / step))


def _forecast_chunk(chunk: _Chunk, horizon: int | timedelta, config: ForecastConfig) -> list[Outcome]:
    _analyse(chunk, config)
    assert chunk.detection is not None and chunk.cleaned is not None
    detection = chunk.detection
    steps = _horizon_steps(horizon, chunk.step)
    out: list[Outcome | None] = list(chunk.failures)
    groups: dict[int, list[int]] = {}
    for r in range(len(chunk.names)):
        if out[r] is not None:
            continue
        if detection.chosen[r] > 0:
            groups.setdefault(int(detection.chosen[r]), []).append(r)
        elif config.allow_aperiodic:
            groups.setdefault(0, []).append(r)
        else:
            out[r] = CannotForecast(
                chunk.names[r],
                Reason.NOT_PERIODIC,
                f"it is not periodic — {detection.reasons[r]}; scale it reactively",
            )
    for p, row_list in groups.items():
        rows = np.asarray(row_list, dtype=np.intp)
        specs = config.estimators if p > 0 else APERIODIC_ESTIMATORS
        sel = backtest.select(
            chunk.cleaned[rows],
            p if p > 0 else max(1, DAY // chunk.step),
            steps,
            specs,
            config.margins,
            origins=config.backtest_origins,
            recency=config.recency,
            ensemble=config.ensemble,
            band=config.band,
            step=chunk.step,
        )
        for i, r in enumerate(rows):
            if not np.isfinite(sel.error[i]):
                out[r] = CannotForecast(
                    chunk.names[r],
                    Reason.TOO_SHORT,
                    "no backtest could be scored on its history (too few positive values after its "
                    "first cycle); collect more history",
                )
                continue
            values, lower, upper = (_bridge(a[i]) for a in (sel.values, sel.lower, sel.upper))
            members = tuple(
                Member(specs[c].name, float(sel.margins[j, i]), float(sel.member_errors[j, i]))
                for j, c in enumerate(sel.members[:, i])
                if c >= 0
            )
            out[r] = Forecast(
                name=chunk.names[r],
                start=chunk.end,
                step=chunk.step,
                values=values,
                lower=lower,
                upper=upper,
                coverage=config.band,
                period=next((c for c in detection.candidates[r] if c.seconds == p * chunk.step), None),
                members=members,
                backtest_error=float(sel.error[i]),
                backtest_origins=int(sel.origins[i]),
                history_start=float(chunk.history_start[r]),
                candidates={
                    spec.name: float(sel.candidate_errors[c, i])
                    for c, spec in enumerate(specs)
                    if np.isfinite(sel.candidate_errors[c, i])
                },
            )
    return [o for o in out if o is not None]


Outcome = Forecast | CannotForecast


def forecast_many(
    batch: Batch, horizon: int | timedelta, config: ForecastConfig | None = None
) -> list[Forecast | CannotForecast]:
    """Forecast every series of ``batch`` for ``horizon`` (seconds or timedelta) after its end."""
    cfg = config or ForecastConfig()
    _horizon_steps(horizon, cfg.working_step or batch.step)

    def one(lo: int) -> list[Outcome]:
        hi = lo + cfg.chunk_size
        chunk = _prepare(batch.values[lo:hi], batch.start, batch.step, batch.names[lo:hi], cfg)
        return _forecast_chunk(chunk, horizon, cfg)

    return _map_chunks(one, batch, cfg)


def _map_chunks(work: Callable[[int], list[T]], batch: Batch, config: ForecastConfig) -> list[T]:
    """``work`` over the chunk offsets of ``batch``, in order, on ``config.workers`` threads."""
    offsets = range(0, batch.values.shape[0], config.chunk_size)
    if config.workers == 1 or len(offsets) == 1:
        return [item for lo in offsets for item in work(lo)]
    with ThreadPoolExecutor(max_workers=config.workers) as pool:
        return [item for part in pool.map(work, offsets) for item in part]


def forecast(series: Series, horizon: int | timedelta, config: ForecastConfig | None = None) -> Forecast:
    """Forecast one series for ``horizon`` after its last sample; raises ``CannotForecast``."""
    cfg = config or ForecastConfig()
    (result,) = forecast_many(series_to_batch(series, cfg), horizon, cfg)
    if isinstance(result, CannotForecast):
        raise result
    return result


def detect_periods(batch: Batch, config: ForecastConfig | None = None) -> list[PeriodReport | CannotForecast]:
    """Period report (or why the series cannot be analysed) for every series of ``batch``."""
    cfg = config or ForecastConfig()

    def one(lo: int) -> list[PeriodReport | CannotForecast]:
        hi = lo + cfg.chunk_size
        chunk = _prepare(batch.values[lo:hi], batch.start, batch.step, batch.names[lo:hi], cfg)
        _analyse(chunk, cfg)
        assert chunk.detection is not None
        out: list[PeriodReport | CannotForecast] = []
        for r, name in enumerate(chunk.names):
            failure = chunk.failures[r]
            if failure is not None:
                out.append(failure)
                continue
            seconds = int(chunk.detection.chosen[r]) * chunk.step
            candidates = tuple(chunk.detection.candidates[r])
            chosen = next((c for c in candidates if c.seconds == seconds), None)
            out.append(PeriodReport(name, chosen, candidates, chunk.detection.reasons[r]))
        return out

    return _map_chunks(one, batch, cfg)


def detect_period(series: Series, config: ForecastConfig | None = None) -> PeriodReport:
    """Period report for one series; raises ``CannotForecast`` for unusable input."""
    cfg = config or ForecastConfig()
    (result,) = detect_periods(series_to_batch(series, cfg), cfg)
    if isinstance(result, CannotForecast):
        raise result
    return result


def regularise(series: Series, config: ForecastConfig | None = None) -> Regularised:
    """The series as the estimators see it; raises ``CannotForecast`` for unusable input."""
    cfg = config or ForecastConfig()
    batch = series_to_batch(series, cfg)
    chunk = _prepare(batch.values, batch.start, batch.step, batch.names, cfg)
    failure = chunk.failures[0]
    if failure is not None:
        raise failure
    _analyse(chunk, cfg)
    assert chunk.cleaned is not None and chunk.outliers is not None
    return Regularised(
        name=series.name,
        start=chunk.start,
        step=chunk.step,
        values=chunk.cleaned[0],
        filled=int(chunk.filled[0]),
        outliers=int(chunk.outliers[0]),
        level_shift_at=float(chunk.history_start[0]) if chunk.shifted[0] else None,
    )
