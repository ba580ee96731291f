from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubecap.errors import ConfigError, KubecapError
from kubecap.forecast import (
    DAY,
    HOUR,
    Batch,
    CannotForecast,
    Forecast,
    ForecastConfig,
    Reason,
    Series,
    asymmetric_mape,
    forecast,
    forecast_many,
    regularise,
)

from .helpers import START, daily_sine, grid, noisy


def test_a_pure_sine_is_forecast_almost_exactly() -> None:
    history = daily_sine(days=14)
    fc = forecast(history, DAY)
    assert fc.period is not None and fc.period.seconds == DAY
    assert fc.start == history.timestamps[-1] + 300
    assert fc.step == 300 and fc.values.size == DAY // 300
    truth = 10 + 5 * np.sin(2 * np.pi * (fc.timestamps - START) / DAY)
    assert asymmetric_mape(truth, fc.values) < 0.01
    assert np.all(fc.lower <= fc.values) and np.all(fc.values <= fc.upper)
    assert fc.backtest_origins == 3 and fc.backtest_error < 0.01
    assert 1 <= len(fc.members) <= 3 and fc.estimator
    assert set(fc.candidates) >= {"max(7c)", "fft(100f,>1h,7c)"}
    peak_time, peak = fc.peak()
    assert (peak_time - START) % DAY == pytest.approx(6 * HOUR, abs=600)
    assert peak == pytest.approx(15, rel=0.02)


def test_a_noisy_daily_load_is_forecast_better_than_yesterday_replayed() -> None:
    s = noisy(daily_sine(days=15), 0.1, seed=2)
    history = Series(s.timestamps[: 14 * 288], s.values[: 14 * 288])
    actual = s.values[14 * 288 :]
    fc = forecast(history, timedelta(days=1))
    assert asymmetric_mape(actual, fc.values) < asymmetric_mape(actual, history.values[-288:])
    inside = (actual >= fc.lower) & (actual <= fc.upper)
    assert inside.mean() > 0.7  # nominal 90 %


def test_phases_never_observed_are_bridged_not_left_empty() -> None:
    s = daily_sine()
    seconds_of_day = (s.timestamps - START) % DAY
    keep = (seconds_of_day < 2 * HOUR) | (seconds_of_day >= 4 * HOUR)  # 02:00-04:00 never seen
    fc = forecast(Series(s.timestamps[keep], s.values[keep]), DAY)
    assert np.isfinite(fc.values).all() and np.isfinite(fc.lower).all() and np.isfinite(fc.upper).all()
    night = ((fc.timestamps - START) % DAY >= 2 * HOUR) & ((fc.timestamps - START) % DAY < 4 * HOUR)
    assert fc.values[night].min() >= fc.values[~night].min()


def test_horizons_longer_than_the_period_repeat_it() -> None:
    fc = forecast(daily_sine(), 2 * DAY + 1)
    assert fc.values.size == 2 * 288 + 1
    assert fc.values[:288] == pytest.approx(fc.values[288:576])


@settings(max_examples=5, deadline=None)
@given(st.floats(min_value=1e-3, max_value=1e4))
def test_forecasts_scale_with_the_series(factor: float) -> None:
    s = noisy(daily_sine(days=10), 0.1, seed=4)
    base = forecast(s, 6 * HOUR)
    scaled = forecast(Series(s.timestamps, s.values * factor), 6 * HOUR)
    assert scaled.values == pytest.approx(base.values * factor, rel=1e-6)
    assert scaled.estimator == base.estimator


def cannot(series: Series, config: ForecastConfig | None = None) -> CannotForecast:
    with pytest.raises(CannotForecast) as info:
        forecast(series, DAY, config)
    return info.value


def test_bad_series_get_a_typed_reason_and_one_sentence() -> None:
    t = grid(14)
    flat = cannot(Series(t, np.full(t.size, 3.0), "flat"))
    assert flat.reason is Reason.CONSTANT
    assert str(flat) == "cannot forecast series 'flat': it is constant at 3"
    assert isinstance(flat, KubecapError)
    assert cannot(Series(t, np.zeros(t.size))).reason is Reason.ALL_ZERO
    assert cannot(Series(t[:500], np.arange(500.0))).reason is Reason.TOO_SHORT
    assert cannot(Series(t, np.full(t.size, np.nan))).reason is Reason.EMPTY
    rng = np.random.default_rng(0)
    noise = cannot(Series(t, 1 + rng.random(t.size), "noise"))
    assert noise.reason is Reason.NOT_PERIODIC
    assert "scale it reactively" in str(noise)


def test_long_gaps_and_stale_data_are_refused() -> None:
    s = daily_sine()
    sparse = np.zeros(s.values.size, dtype=bool)
    sparse[::2016] = True  # a point a week apart: each gap far longer than max_fill
    sparse[-300:] = True
    assert cannot(Series(s.timestamps[sparse], s.values[sparse])).reason is Reason.GAPS
    batch = Batch(np.concatenate([s.values[:-48], np.full(48, np.nan)])[None, :], s.timestamps[0], 300)
    (stale,) = forecast_many(batch, DAY)
    assert isinstance(stale, CannotForecast) and stale.reason is Reason.GAPS
    assert "no data for the last 4h" in str(stale)


def test_a_level_shift_cuts_the_history_and_may_leave_too_little() -> None:
    s = daily_sine(days=14)
    two_days = np.where(s.timestamps >= START + 12 * DAY, 4 * s.values, s.values)
    assert forecast(Series(s.timestamps, two_days), DAY).history_start == s.timestamps[0]  # not yet
    three_days = np.where(s.timestamps >= START + 11 * DAY, 4 * s.values, s.values)
    recent = cannot(Series(s.timestamps, three_days), ForecastConfig(min_cycles=3))
    assert recent.reason is Reason.LEVEL_SHIFT
    assert "leaving 3d of comparable history; at least 4d are needed" in str(recent)
    older = np.where(s.timestamps >= START + 7 * DAY, 4 * s.values, s.values)
    fc = forecast(Series(s.timestamps, older), DAY)
    assert fc.history_start == START + 7 * DAY
    assert fc.values.max() == pytest.approx(60, rel=0.05)


def test_aperiodic_series_get_a_flat_forecast_when_allowed() -> None:
    rng = np.random.default_rng(1)
    t = grid(7)
    values = 1 + rng.random(t.size)
    fc = forecast(Series(t, values), 6 * HOUR, ForecastConfig(allow_aperiodic=True))
    assert fc.period is None
    assert np.ptp(fc.values) == 0 and 1.5 < fc.values[0] <= 2.0 * 1.5


def test_a_batch_keeps_the_order_of_its_series_and_threads_change_nothing() -> None:
    sine = daily_sine().values
    rows = np.stack([sine, np.full(sine.size, 2.0), 3 * sine, np.zeros(sine.size)])
    batch = Batch(rows.astype(np.float32), START, 300, ("a", "b", "c", "d"))
    one = forecast_many(batch, DAY, ForecastConfig(chunk_size=1))
    two = forecast_many(batch, DAY, ForecastConfig(chunk_size=1, workers=2))
    assert [type(r) for r in one] == [Forecast, CannotForecast, Forecast, CannotForecast]
    assert [r.name for r in one] == ["a", "b", "c", "d"]
    assert isinstance(one[0], Forecast) and isinstance(two[0], Forecast) and isinstance(one[2], Forecast)
    assert np.array_equal(one[0].values, two[0].values)
    assert one[2].values == pytest.approx(3 * one[0].values)


def test_a_coarser_working_grid_gives_the_same_shape() -> None:
    s = daily_sine(step=60)
    fine = forecast(s, DAY)
    coarse = forecast(s, DAY, ForecastConfig(working_step=900))
    assert coarse.step == 900 and coarse.values.size == 96
    assert coarse.values == pytest.approx(fine.values.reshape(96, 15).mean(axis=1), rel=0.02)


def test_regularise_shows_what_the_estimators_see() -> None:
    s = daily_sine(step=60, days=4)
    values = s.values.copy()
    values[1000] = 500.0  # a glitch
    keep = np.ones(values.size, dtype=bool)
    keep[2000:2010] = False  # a ten-minute gap
    r = regularise(Series(s.timestamps[keep], values[keep]))
    assert r.step == 60 and r.filled == 10 and r.outliers == 1
    assert r.values[1000] == pytest.approx(s.values[1000], rel=0.01)
    assert r.level_shift_at is None


@pytest.mark.parametrize(
    ("settings_", "fragment"),
    [
        ({"history": 0}, "history must be positive"),
        ({"band": 1.0}, "band within (0, 1)"),
        ({"margins": (-0.1,)}, "margins non-negative"),
        ({"level_shift_ratio": 1.0}, "level_shift_ratio must exceed 1"),
    ],
)
def test_bad_settings_are_refused_with_one_sentence(settings_: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match="invalid forecast settings") as info:
        ForecastConfig(**settings_)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_bad_calls_are_refused() -> None:
    with pytest.raises(ConfigError, match="one value per timestamp"):
        Series(np.arange(3.0), np.arange(4.0))
    with pytest.raises(ConfigError, match="horizon must be positive"):
        forecast(daily_sine(), 0)
    with pytest.raises(ConfigError, match="multiple of the series step"):
        forecast(daily_sine(), DAY, ForecastConfig(working_step=400))
