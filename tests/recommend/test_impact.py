"""Savings and risk against hand-computed figures."""

from __future__ import annotations

import numpy as np
import pytest

from kubecap.recommend.impact import replicas_now, risk, savings
from kubecap.recommend.settings import EngineSettings

from .builders import GIB, MIB, days_of, flat, history, memory, ref, uniform


def test_savings_are_delta_request_times_replicas_times_price_times_730_hours() -> None:
    saved = savings(
        cpu_now=np.array([1.0, np.nan]),
        cpu_new=np.array([0.5, 0.2]),
        mem_now=np.array([2.0 * GIB, np.nan]),
        mem_new=np.array([1.0 * GIB, 0.5 * GIB]),
        replicas=np.array([2.0, 3.0]),
        settings=EngineSettings(),
    )
    # 0.5 cores × 2 × 730 h = 730 core-hours; 1 GiB × 2 × 730 h = 1460 GiB-hours.
    assert saved.cpu_core_hours[0] == pytest.approx(730.0)
    assert saved.mem_gib_hours[0] == pytest.approx(1460.0)
    assert saved.usd[0] == pytest.approx(730 * 0.031611 + 1460 * 0.004237)
    # Nothing requested today: no saving can be computed.
    assert np.isnan(saved.usd[1]) and np.isnan(saved.cpu_core_hours[1])


def test_prices_are_settings() -> None:
    saved = savings(
        np.array([1.0]),
        np.array([0.0]),
        np.array([0.0]),
        np.array([0.0]),
        np.array([1.0]),
        EngineSettings(cpu_price=1.0, memory_price=0.0),
    )
    assert saved.usd[0] == pytest.approx(730.0)


def test_risk_reads_the_history() -> None:
    days = [
        {**uniform(1.0), **memory(100 * MIB, peak=300 * MIB), "cpu_throttle_ratio": 0.1},
        {**uniform(1.0), **memory(100 * MIB, peak=500 * MIB), "cpu_throttle_ratio": 0.3, "oom_kills": 2.0},
        {**flat(0.2), **memory(100 * MIB, peak=200 * MIB)},
    ]
    h = history(days_of(ref(), "app", days))
    found = risk(h, np.array([0.8]), np.array([250 * MIB]), np.array([400 * MIB]))
    # Two days spread over [0, 1] are above 0.8 a fifth of their time; the flat day never: 2/15.
    assert found.cpu_time_above_request[0] == pytest.approx(2 / 15)
    assert found.mem_days_above_request[0] == 2
    assert found.mem_days_above_limit[0] == 1
    assert found.days[0] == 3
    assert found.throttle_max[0] == pytest.approx(0.3)
    assert found.oom_kills[0] == 2.0


def test_replicas_now_is_the_average_over_the_days() -> None:
    days = [{**flat(0.1), "replicas_avg": r} for r in (2.0, 4.0)]
    assert replicas_now(history(days_of(ref(), "app", days)))[0] == pytest.approx(3.0)
