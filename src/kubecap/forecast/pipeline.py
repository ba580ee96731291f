"""The forecasting pipeline: regularise → check → cut → detect → backtest → forecast.

``forecast`` handles one series and raises ``CannotForecast``; ``forecast_many`` handles a
``Batch`` (many series on one grid), processes it in chunks of ``chunk_size`` rows with
every step vectorised across the rows of a chunk, and returns one ``Forecast`` or
``CannotForecast`` per series. ``detect_period``/``detect_periods`` stop after period
detection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from kubecap.errors import ConfigError
from kubecap.forecast import backtest, period, regularise
from kubecap.forecast.errors import CannotForecast, Reason
from kubecap.forecast.model import (
    APERIODIC_ESTIMATORS,
    DAY,
    Batch,
    FloatArray,
    Forecast,
    ForecastConfig,
    Period,
    PeriodReport,
    Series,
    format_seconds,
)

Outcome = Forecast | CannotForecast


def series_to_batch(series: Series, config: ForecastConfig) -> Batch:
    """One raw series on its regular grid (the last ``history`` seconds), as a batch of one."""
    step = config.step or regularise.infer_step(series.timestamps)
    start, values = regularise.to_grid(series, step, config.history)
    return Batch(values[None, :], start, step, (series.name,))


@dataclass(slots=True)
class _Chunk:
    """Rows of a batch after cleaning, on the working grid."""

    names: tuple[str, ...]
    values: FloatArray
    weights: FloatArray
    within: FloatArray
    start: float
    step: int
    end: float
    history_start: FloatArray
    failures: list[CannotForecast | None]
    detection: period.Detection | None = None


def _duration(seconds: float) -> str:
    return format_seconds(round(seconds))


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _prepare(values: FloatArray, start: float, step: int, names: tuple[str, ...], config: ForecastConfig) -> _Chunk:
    """Window, fill, check, downsample and cut the rows of one chunk."""
    s, n = values.shape
    keep = max(1, config.history // step)
    if n > keep:
        start += (n - keep) * step
        values = values[:, n - keep :]
        n = keep
    end = start + n * step
    x = np.where(np.isfinite(values) & (values >= 0), values, np.nan)
    x = regularise.fill_gaps(x, config.max_fill // step)
    failures: list[CannotForecast | None] = [None] * s
    shortest = min(config.periods)
    needed = (config.min_cycles + 1) * shortest
    valid = np.isfinite(x)
    counts = valid.sum(axis=1)
    stale = regularise.stale_tail(x)
    first = np.where(valid.any(axis=1), np.argmax(valid, axis=1), n)
    with np.errstate(invalid="ignore"):
        top = np.fmax.reduce(x, axis=1)
        bottom = np.fmin.reduce(x, axis=1)
    for r in range(s):
        name = names[r]
        span = (n - first[r]) * step
        if counts[r] == 0:
            failures[r] = CannotForecast(name, Reason.EMPTY, "it has no finite, non-negative sample")
        elif stale[r] * step > config.max_fill:
            failures[r] = CannotForecast(
                name,
                Reason.GAPS,
                f"it has no data for the last {_duration(stale[r] * step)}; "
                f"forecasts need data up to at most {_duration(config.max_fill)} ago",
            )
        elif span < needed:
            failures[r] = CannotForecast(
                name,
                Reason.TOO_SHORT,
                f"it holds {_duration(span)} of history; at least {_duration(needed)} are needed",
            )
        elif counts[r] < config.min_coverage * (n - first[r]):
            failures[r] = CannotForecast(
                name,
                Reason.GAPS,
                f"only {counts[r] / (n - first[r]):.0%} of its history has data (gaps longer than "
                f"{_duration(config.max_fill)} stay empty); at least {config.min_coverage:.0%} is needed",
            )
        elif top[r] == 0:
            failures[r] = CannotForecast(name, Reason.ALL_ZERO, "all its values are zero")
        elif top[r] - bottom[r] <= 1e-12 * max(abs(top[r]), 1.0):
            failures[r] = CannotForecast(name, Reason.CONSTANT, f"it is constant at {top[r]:g}")

    working = config.working_step or step
    if working % step:
        raise ConfigError(f"working_step {working}s must be a multiple of the series step {step}s")
    down = regularise.downsample(x, working // step)
    xw = down.values
    origin = start + down.trimmed * step
    m = xw.shape[1]
    cut = regularise.level_shift_cut(xw, max(1, DAY // working), config.level_shift_ratio)
    history_start = origin + cut * working
    for r in np.flatnonzero(cut > 0):
        xw[r, : cut[r]] = np.nan
        remaining = (m - cut[r]) * working
        if failures[r] is None and remaining < needed:
            failures[r] = CannotForecast(
                names[r],
                Reason.LEVEL_SHIFT,
                f"its level shifted around {_when(history_start[r])}, leaving {_duration(remaining)} of "
                f"comparable history; at least {_duration(needed)} are needed",
            )
    return _Chunk(names, xw, down.weights, down.within, origin, working, end, history_start, failures)


def _detect(chunk: _Chunk, config: ForecastConfig) -> FloatArray:
    """Run period detection on the chunk; returns the outlier-cleaned values to forecast from."""
    cleaned, _ = regularise.remove_outliers(chunk.values, config.outlier_threshold)
    chunk.detection = period.detect(cleaned, chunk.step, config, chunk.weights, chunk.within)
    recleaned, _ = regularise.remove_outliers(chunk.values, config.outlier_threshold, chunk.detection.chosen)
    return np.where(np.isfinite(chunk.values), recleaned, np.nan)


def _reports(chunk: _Chunk) -> list[PeriodReport | CannotForecast]:
    assert chunk.detection is not None
    out: list[PeriodReport | CannotForecast] = []
    for r, name in enumerate(chunk.names):
        failure = chunk.failures[r]
        if failure is not None:
            out.append(failure)
            continue
        steps = int(chunk.detection.chosen[r])
        chosen = next((c for c in chunk.detection.candidates[r] if c.seconds == steps * chunk.step), None)
        out.append(PeriodReport(name, chosen, tuple(chunk.detection.candidates[r]), chunk.detection.reasons[r]))
    return out


def _horizon_steps(horizon: int | timedelta, step: int) -> int:
    seconds = horizon.total_seconds() if isinstance(horizon, timedelta) else float(horizon)
    if seconds <= 0:
        raise ConfigError(f"forecast horizon must be positive, got {seconds:g}s")
    return max(1, math.ceil(seconds / step))


def _forecast_chunk(chunk: _Chunk, horizon: int | timedelta, config: ForecastConfig) -> list[Outcome]:
    cleaned = _detect(chunk, config)
    assert chunk.detection is not None
    steps = _horizon_steps(horizon, chunk.step)
    out: list[Outcome | None] = list(chunk.failures)
    chosen = chunk.detection.chosen
    groups: dict[int, NDArray[np.intp]] = {}
    for r in range(len(chunk.names)):
        if out[r] is not None:
            continue
        if chosen[r] > 0:
            groups.setdefault(int(chosen[r]), []).append(r)  # type: ignore[arg-type]
        elif config.allow_aperiodic:
            groups.setdefault(0, []).append(r)  # type: ignore[arg-type]
        else:
            out[r] = CannotForecast(
                chunk.names[r],
                Reason.NOT_PERIODIC,
                f"it is not periodic: {chunk.detection.reasons[r]}; use reactive scaling for it",
            )
    for p, row_list in groups.items():
        rows = np.asarray(row_list, dtype=np.intp)
        specs = config.estimators if p > 0 else APERIODIC_ESTIMATORS
        cycle = p if p > 0 else max(1, DAY // chunk.step)
        sel = backtest.select(
            cleaned[rows], cycle, steps, specs, config.margins, config.backtest_origins, config.band, chunk.step
        )
        for i, r in enumerate(rows):
            name = chunk.names[r]
            if sel.estimator[i] < 0:
                out[r] = CannotForecast(
                    name,
                    Reason.TOO_SHORT,
                    "no backtest could be scored on its history (too few positive values "
                    "after the first cycle); collect more history",
                )
                continue
            found = next((c for c in chunk.detection.candidates[r] if c.seconds == p * chunk.step), None)
            out[r] = Forecast(
                name=name,
                start=chunk.end,
                step=chunk.step,
                values=sel.values[i],
                lower=sel.lower[i],
                upper=sel.upper[i],
                coverage=config.band,
                period=found,
                estimator=specs[sel.estimator[i]].name,
                margin=float(sel.margin[i]),
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


def _chunks(batch: Batch, config: ForecastConfig) -> list[tuple[int, int]]:
    s = batch.values.shape[0]
    return [(i, min(i + config.chunk_size, s)) for i in range(0, s, config.chunk_size)]


def forecast_many(
    batch: Batch, horizon: int | timedelta, config: ForecastConfig | None = None
) -> list[Forecast | CannotForecast]:
    """Forecast every series of ``batch`` for ``horizon`` (seconds or timedelta) after its end."""
    cfg = config or ForecastConfig()
    out: list[Outcome] = []
    for lo, hi in _chunks(batch, cfg):
        chunk = _prepare(batch.values[lo:hi], batch.start, batch.step, batch.names[lo:hi], cfg)
        out.extend(_forecast_chunk(chunk, horizon, cfg))
    return out


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
    out: list[PeriodReport | CannotForecast] = []
    for lo, hi in _chunks(batch, cfg):
        chunk = _prepare(batch.values[lo:hi], batch.start, batch.step, batch.names[lo:hi], cfg)
        _detect(chunk, cfg)
        out.extend(_reports(chunk))
    return out


def detect_period(series: Series, config: ForecastConfig | None = None) -> PeriodReport:
    """Period report for one series; raises ``CannotForecast`` for unusable input."""
    cfg = config or ForecastConfig()
    (result,) = detect_periods(series_to_batch(series, cfg), cfg)
    if isinstance(result, CannotForecast):
        raise result
    return result


__all__ = ["Period", "detect_period", "detect_periods", "forecast", "forecast_many", "series_to_batch"]
