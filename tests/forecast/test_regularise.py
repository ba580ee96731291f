import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubecap.forecast import CannotForecast, Reason, Series
from kubecap.forecast.regularise import (
    downsample,
    fill_gaps,
    infer_step,
    level_shift_cut,
    remove_outliers,
    stale_tail,
    to_grid,
)

NAN = np.nan


def test_step_is_inferred_and_snapped_to_one_that_divides_a_day() -> None:
    assert infer_step(np.array([0.0, 60, 120, 181, 240])) == 60
    assert infer_step(np.array([0.0, 58, 119, 178])) == 60
    assert infer_step(np.array([0.0, 290, 600, 900])) == 300
    assert infer_step(np.array([5.0])) == 60


def test_samples_are_averaged_into_epoch_aligned_bins() -> None:
    t = np.array([125.0, 150, 250, 420, 430])  # bins of 60 s from 120: 0, 0, 2, 5, 5
    v = np.array([1.0, 3, 5, 7, 9])
    start, values = to_grid(Series(t, v), 60, history=10_000)
    assert start == 120
    assert np.array_equal(values, [2.0, NAN, 5.0, NAN, NAN, 8.0], equal_nan=True)


def test_grid_keeps_only_the_history_and_drops_bad_samples() -> None:
    t = np.arange(0, 600, 60.0)
    v = np.arange(10.0)
    v[3] = -1  # negative usage is not usage
    v[4] = np.inf
    start, values = to_grid(Series(t, v), 60, history=300)
    assert start == 300 and values.tolist() == [5, 6, 7, 8, 9]
    _, values = to_grid(Series(t, v), 60, history=10_000)
    assert np.isnan(values[3]) and np.isnan(values[4])


def test_a_series_without_usable_sample_cannot_be_gridded() -> None:
    with pytest.raises(CannotForecast) as info:
        to_grid(Series(np.array([1.0, 2.0]), np.array([np.nan, -3.0]), "web"), 60, 600)
    assert info.value.reason is Reason.EMPTY
    assert str(info.value).startswith("cannot forecast series 'web':")


def test_short_gaps_are_interpolated_long_ones_kept() -> None:
    x = np.array([[1.0, NAN, 3.0, NAN, NAN, NAN, 7.0, NAN]])
    out = fill_gaps(x, max_steps=2)
    assert out[0, 1] == 2.0
    assert np.isnan(out[0, 3:6]).all()  # a gap of 3 > 2 stays
    assert np.isnan(out[0, 7])  # nothing after it to interpolate to


@given(st.lists(st.one_of(st.floats(0, 100), st.just(NAN)), min_size=1, max_size=60), st.integers(0, 5))
def test_filling_never_changes_observed_values(values: list[float], max_steps: int) -> None:
    x = np.array([values])
    out = fill_gaps(x, max_steps)
    seen = np.isfinite(x)
    assert np.array_equal(out[seen], x[seen])


def test_downsampling_keeps_the_variance_it_hides() -> None:
    x = np.array([[0.0, 1, 2, 3, 10, 10, 4, NAN]])
    down = downsample(x, 2)  # aligned to the end: (0,1) (2,3) (10,10) (4,nan)
    assert down.values.tolist() == [[0.5, 2.5, 10.0, 4.0]]
    assert down.weights.tolist() == [[2, 2, 2, 1]]
    assert down.within[0] == pytest.approx(0.25 * 2 + 0.25 * 2)
    odd = downsample(np.arange(7.0)[None, :], 3)
    assert odd.trimmed == 1 and odd.values.tolist() == [[2.0, 5.0]]


def test_isolated_spikes_are_outliers_but_plateaus_are_not() -> None:
    rng = np.random.default_rng(1)
    x = 10 + 0.1 * rng.standard_normal((1, 200))
    x[0, 50] = 40  # one point
    x[0, 100:102] = 40  # two points
    x[0, 150:153] = 40  # three points: a plateau, kept
    cleaned, count = remove_outliers(x, threshold=8)
    assert count[0] == 3
    assert cleaned[0, 50] == pytest.approx(10, abs=0.5)
    assert cleaned[0, 100:102] == pytest.approx([10, 10], abs=0.5)
    assert cleaned[0, 150:153].tolist() == [40, 40, 40]


def test_a_spike_that_recurs_every_period_is_kept() -> None:
    x = np.full((1, 100), 5.0) + 0.01 * np.sin(np.arange(100))
    x[0, [7, 27, 47, 67, 88]] = 50  # every 20 steps, one a step late
    _, without_period = remove_outliers(x, threshold=8)
    cleaned, with_period = remove_outliers(x, threshold=8, period=np.array([20]))
    assert without_period[0] == 5
    assert with_period[0] == 0 and cleaned[0, 88] == 50


def test_a_sustained_level_shift_cuts_the_history() -> None:
    day = 24
    x = np.concatenate([np.full(5 * day, 1.0), np.full(4 * day, 5.0)])[None, :]
    x = x * (1 + 0.3 * np.sin(np.arange(x.shape[1]) * 2 * np.pi / day))  # a daily shape on top
    assert level_shift_cut(x, day, ratio=2.0).tolist() == [5 * day]


def test_one_busy_day_is_not_a_level_shift() -> None:
    day = 24
    levels = [1.0] * 8 + [5.0] + [1.0] * 3
    x = np.repeat(levels, day)[None, :]
    assert level_shift_cut(x, day, ratio=2.0).tolist() == [0]
    recent = np.repeat([1.0] * 8 + [5.0, 5.0], day)[None, :]  # two days: not yet a regime
    assert level_shift_cut(recent, day, ratio=2.0).tolist() == [0]
    weekend = np.repeat([1.0] * 5 + [0.2, 0.2], day)[None, :]  # a quiet weekend after a week
    assert level_shift_cut(weekend, day, ratio=2.0).tolist() == [0]


def test_small_changes_and_growth_are_not_shifts() -> None:
    day = 24
    weekly = np.repeat([1.0, 1, 1, 1, 1, 0.7, 0.7] * 2, day)[None, :]
    assert level_shift_cut(weekly, day, ratio=2.0).tolist() == [0]


def test_stale_tail_counts_missing_points_at_the_end() -> None:
    x = np.array([[1.0, NAN, 2.0, NAN, NAN], [NAN, NAN, NAN, NAN, NAN], [1.0, 2, 3, 4, 5]])
    assert stale_tail(x).tolist() == [2, 5, 0]
