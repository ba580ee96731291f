"""Mixtures of daily distributions, against values computed by hand."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from kubecap.recommend.distribution import (
    CPU_LEVELS,
    MEMORY_LEVELS,
    Mixture,
    cpu_knots,
    memory_knots,
    weighted_quantile,
)


def knots(*days: list[float]) -> npt.NDArray[np.float64]:
    return np.array([list(days)], dtype=float)


def test_constant_days_mix_into_steps() -> None:
    # Half the time at 1, half at 3: the median is 1, P95 is 3, half the time is above 2.
    mix = Mixture.build(knots([1.0] * 6, [3.0] * 6), CPU_LEVELS, np.ones((1, 2)))
    assert mix.quantile(0.5)[0] == pytest.approx(1.0)
    assert mix.quantile(0.95)[0] == pytest.approx(3.0)
    assert mix.share_above(np.array([2.0]))[0] == pytest.approx(0.5)
    assert mix.share_above(np.array([3.0]))[0] == pytest.approx(0.0)


def test_one_day_spread_evenly_is_its_own_quantile_function() -> None:
    mix = Mixture.build(knots(list(CPU_LEVELS)), CPU_LEVELS, np.ones((1, 1)))
    for q in (0.3, 0.5, 0.9, 0.95, 0.97, 0.99, 1.0):
        assert mix.quantile(q)[0] == pytest.approx(q)
    assert mix.share_above(np.array([0.9]))[0] == pytest.approx(0.1)


def test_two_even_days_of_different_height() -> None:
    # U(0, 1) and U(0, 2) in equal parts: F(v) = v/2 + v/4 = 0.75 v below 1, so the median is 2/3.
    mix = Mixture.build(knots(list(CPU_LEVELS), list(2 * CPU_LEVELS)), CPU_LEVELS, np.ones((1, 2)))
    assert mix.quantile(0.5)[0] == pytest.approx(2 / 3)
    assert mix.share_at_or_below(np.array([1.0]))[0] == pytest.approx(0.75)
    assert mix.quantile(0.75)[0] == pytest.approx(1.0)


def test_weights_move_the_mass() -> None:
    # Three times the weight on the day at 3: only a quarter of the time is at 1.
    mix = Mixture.build(knots([1.0] * 6, [3.0] * 6), CPU_LEVELS, np.array([[1.0, 3.0]]))
    assert mix.quantile(0.2)[0] == pytest.approx(1.0)
    assert mix.quantile(0.5)[0] == pytest.approx(3.0)


def test_days_without_data_or_weight_are_left_out_and_empty_rows_give_nan() -> None:
    values = np.array([[[1.0] * 6, [np.nan] * 6], [[np.nan] * 6, [np.nan] * 6]])
    mix = Mixture.build(values, CPU_LEVELS, np.ones((2, 2)))
    assert mix.quantile(0.99)[0] == pytest.approx(1.0)
    assert np.isnan(mix.quantile(0.99)[1])
    assert np.isnan(mix.share_above(np.array([0.5, 0.5]))[1])


def test_cpu_knots_extend_the_p50_p90_slope_down_to_zero_and_keep_order() -> None:
    window = {"cpu_p50": np.array([[1.0]]), "cpu_p90": np.array([[1.4]]), "cpu_p95": np.array([[1.5]])}
    window |= {"cpu_p99": np.array([[1.6]]), "cpu_max": np.array([[1.55]])}  # max below P99: one pod's view
    values = cpu_knots(window)[0, 0]
    # P0 = 1.0 - (1.4 - 1.0) × 0.5 / 0.4 = 0.5; the maximum is raised to the P99.
    assert values.tolist() == pytest.approx([0.5, 1.0, 1.4, 1.5, 1.6, 1.6])


def test_memory_puts_the_lower_95_percent_at_p95() -> None:
    window = {"mem_p95": np.array([[100.0]]), "mem_max": np.array([[200.0]])}
    mix = Mixture.build(memory_knots(window), MEMORY_LEVELS, np.ones((1, 1)))
    # P99 lies 4/5 of the way from P95 to the maximum.
    assert mix.quantile(0.99)[0] == pytest.approx(180.0)
    assert mix.quantile(0.5)[0] == pytest.approx(100.0)


def test_weighted_quantile_of_discrete_values() -> None:
    values = np.array([[4.0, 1.0, 3.0, 2.0], [np.nan, np.nan, np.nan, np.nan]])
    weights = np.ones((2, 4))
    assert weighted_quantile(values, weights, 0.5)[0] == 2.0
    assert weighted_quantile(values, weights, 0.9)[0] == 4.0
    assert np.isnan(weighted_quantile(values, weights, 0.5)[1])
    # Half the weight on 4 (weights 3, 1, 1, 1 for 4, 1, 3, 2): 1, 2, 3 reach 3/6 at 3.
    assert weighted_quantile(values[:1], np.array([[3.0, 1.0, 1.0, 1.0]]), 0.5)[0] == 3.0
    assert weighted_quantile(values[:1], np.array([[3.0, 1.0, 1.0, 1.0]]), 0.51)[0] == 4.0
