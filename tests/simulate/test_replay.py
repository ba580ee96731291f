"""The what-if replay on a history small enough to follow by hand."""

from __future__ import annotations

import numpy as np
import pytest

from kubecap.recommend.history import DailyHistory
from kubecap.recommend.settings import EngineSettings
from kubecap.recommend.strategies.registry import default_registry
from kubecap.simulate.replay import replay, sample_evaluator
from tests.recommend.builders import GIB, MIB, days_of, flat, history, memory, ref


def four_days() -> DailyHistory:
    days = [
        {**flat(0.2), **memory(100 * MIB)},
        {**flat(0.2), **memory(100 * MIB)},
        {**flat(0.4), **memory(100 * MIB)},
        {**flat(0.2), **memory(100 * MIB, peak=150 * MIB)},
    ]
    return history(days_of(ref(), "app", days))


def test_each_day_is_scored_with_values_from_the_days_before() -> None:
    peak = default_registry().get("peak")
    outcome = replay(four_days(), peak, peak.default_settings(), EngineSettings(), start=2)
    assert outcome.days.tolist() == [2, 3]
    # Day 2 is scored with the peak of days 0-1 (200m) and is at 400m all day: always above.
    # Day 3 is scored with the peak of days 0-2 (400m) and stays at 200m: never above.
    assert outcome.cpu_request[0].tolist() == pytest.approx([0.2, 0.4])
    assert outcome.cpu_above[0].tolist() == pytest.approx([1.0, 0.0])
    # Memory request 100Mi (the peak-window P95); day 3 reaches 150Mi: above the request, below the 2Gi limit.
    assert outcome.mem_over_request[0].tolist() == [False, True]
    assert not outcome.mem_over_limit.any()
    summary = outcome.summary()
    assert summary.cpu_time_above_request == pytest.approx(0.5)
    assert summary.cpu_request_reduction == pytest.approx(((1 - 0.2) + (1 - 0.4)) / 2)
    assert summary.mem_request_reduction == pytest.approx(1 - 100 * MIB / GIB)
    assert (summary.mem_days_above_request, summary.mem_days_above_limit, summary.container_days) == (1, 0, 2)
    # Savings a month: (1 - 0.3 cores on average) × $0.031611 × 730 + (1 GiB - 100 MiB) × $0.004237 × 730.
    expected = (0.7 * 0.031611 + (GIB - 100 * MIB) / GIB * 0.004237) * 730
    assert summary.monthly_savings_usd == pytest.approx(expected)


def test_not_enough_data_keeps_the_current_values() -> None:
    kubecap = default_registry().get("kubecap")
    outcome = replay(four_days(), kubecap, kubecap.settings_model(min_days=3), EngineSettings(), start=2)
    assert outcome.ok[0].tolist() == [False, True]
    assert outcome.cpu_request[0, 0] == 1.0  # the current request, kept
    assert outcome.summary().not_enough_data_days == 1


def test_raw_samples_score_exactly() -> None:
    cpu = [[np.zeros(0), np.zeros(0), np.array([0.1, 0.3, 0.5, 0.7]), np.array([0.1])]]
    memory_points = [[np.zeros(0), np.zeros(0), np.array([1.0, 2.0]), np.array([3.0])]]
    peak = default_registry().get("peak")
    outcome = replay(
        four_days(),
        peak,
        peak.default_settings(),
        EngineSettings(),
        start=2,
        evaluate=sample_evaluator(cpu, memory_points),
    )
    # 200m against 0.1, 0.3, 0.5, 0.7: three of four points above.
    assert outcome.cpu_above[0].tolist() == pytest.approx([0.75, 0.0])
    assert outcome.mem_max[0].tolist() == [2.0, 3.0]


def test_a_replay_needs_a_day_to_learn_from() -> None:
    peak = default_registry().get("peak")
    with pytest.raises(ValueError, match="between day 1 and day 4"):
        replay(four_days(), peak, peak.default_settings(), EngineSettings(), start=0)
