import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubecap.forecast import EstimatorSpec
from kubecap.forecast.estimators import loss_optimal, predict

samples = st.lists(st.floats(min_value=0.01, max_value=1000.0), min_size=1, max_size=25)


def total_error(values: np.ndarray, p: float) -> float:
    """The asymmetric error without its cap on under-prediction (which would make it non-convex)."""
    over = np.maximum(p - values, 0) / values
    under = np.log(np.maximum(values / p, 1.0)) / np.log(1.25)
    return float(np.sum(over + under))


@settings(max_examples=60)
@given(samples)
def test_loss_optimal_is_the_minimum_of_the_uncapped_asymmetric_error(values: list[float]) -> None:
    a = np.array(values)
    best = float(loss_optimal(a[None, :])[0])
    grid = np.linspace(a.min(), a.max(), 2001)
    brute = min(total_error(a, p) for p in grid)
    assert total_error(a, best) <= brute + 1e-9 * max(1.0, brute)
    assert a.min() <= best <= a.max()


@given(samples, st.floats(min_value=0.01, max_value=100.0))
def test_loss_optimal_scales_with_the_data(values: list[float], factor: float) -> None:
    a = np.array(values)[None, :]
    assert loss_optimal(a * factor)[0] == pytest.approx(loss_optimal(a)[0] * factor, rel=1e-9)


def test_loss_optimal_by_hand() -> None:
    # two samples 1 and 2: slope just above 1 is 1/1 - 1/(1·ln 1.25) < 0, and between them
    # the minimum is at #{a>p}/(ln 1.25 · Σ 1/a) = 1/(0.2231·1) = 4.48 -> clipped to 2
    assert loss_optimal(np.array([[1.0, 2.0]]))[0] == pytest.approx(2.0)
    # ten samples of 1 and one of 10: too rare to chase, the forecast stays at 1
    assert loss_optimal(np.array([[1.0] * 10 + [10.0]]))[0] == pytest.approx(1.0)
    # missing, zero and negative samples are ignored; none left gives NaN
    assert loss_optimal(np.array([[np.nan, 0.0, -1.0, 3.0]]))[0] == pytest.approx(3.0)
    assert np.isnan(loss_optimal(np.array([[np.nan, 0.0]]))[0])


def cycles(*rows: list[float]) -> np.ndarray:
    return np.array([rows], dtype=np.float64)  # (series=1, cycle, phase)


def test_max_and_quantile_per_phase() -> None:
    c = cycles([1, 5, 3], [4, 2, np.nan], [2, 3, 6])
    assert predict(EstimatorSpec("max"), c, 60)[0].tolist() == [4, 5, 6]
    assert predict(EstimatorSpec("seasonal", q=0.5), c, 60)[0].tolist() == [2, 3, 4.5]
    assert predict(EstimatorSpec("max", cycles=1), c, 60)[0].tolist() == [2, 3, 6]


def test_phase_window_pools_neighbours() -> None:
    c = cycles([0.0, 10.0, 0.0, 0.0])
    pooled = predict(EstimatorSpec("seasonal", q=1.0, phase_window=60), c, 60)[0]
    assert pooled.tolist() == [10, 10, 10, 0]


def test_profile_keeps_the_shape_at_the_latest_level() -> None:
    # same shape, level doubling each cycle: the profile forecasts the last level's shape
    c = cycles([1, 3], [2, 6], [4, 12])
    assert predict(EstimatorSpec("profile", q=0.5), c, 60)[0] == pytest.approx([4, 12])


def test_lowpass_fft_replays_a_smooth_cycle() -> None:
    phase = np.arange(288)
    day = 10 + 5 * np.sin(2 * np.pi * phase / 288)
    c = np.tile(day, (1, 7, 1))
    out = predict(EstimatorSpec("fft", components=3), c, 300)[0]
    assert out == pytest.approx(day, abs=1e-6)


def test_lowpass_never_goes_below_the_history() -> None:
    square = np.where(np.arange(288) < 144, 1.0, 100.0)
    out = predict(EstimatorSpec("fft", components=2), np.tile(square, (1, 3, 1)), 300)[0]
    assert out.min() >= 1.0


def test_flat_is_one_constant() -> None:
    out = predict(EstimatorSpec("flat", q=1.0, cycles=2), cycles([1, 2], [3, 9]), 60)[0]
    assert out.tolist() == [9, 9]
