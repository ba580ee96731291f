"""The pure window figures of the simulated source and their pooling, against hand-computed fixtures.

Samples every 60 s at t = 0 … 600; the window is (300, 600], so the points are 360 … 600.
Workload a's container has pod A (all along, 0.5 cores until 300 then 1 core) and
pod B (born at 450: samples from 480, 0.5 cores — a new pod of a rollout, with a bigger CPU
request). Workload b's has pod C (0.2 cores, gone after its sample at 300). The expected numbers
were worked out by hand from Prometheus 2.x's rules; the comments show the arithmetic.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest

from kubecap.domain.pooling import Replicas, pool
from kubecap.domain.window import DailyWindow
from kubecap.domain.workload import WorkloadKind
from kubecap.metrics.sim_profile import (
    SeriesFigures,
    WindowSamples,
    latest,
    quantiles_over_time,
    rate,
    series_figures,
)

TIMES = np.arange(0, 601, 60, dtype=np.int64)
POINTS = np.arange(360, 601, 60, dtype=np.int64)


def _fixture() -> WindowSamples:
    t = TIMES.astype(np.float64)
    present = np.array([np.ones(11, bool), t >= 480, t <= 300])
    cpu = np.array([np.where(t <= 300, 0.5 * t, 150 + (t - 300)), 0.5 * (t - 450), 100 + 0.2 * t])
    memory = np.array([np.where(t <= 420, 100.0, 200.0), np.full(11, 50.0), np.full(11, 30.0)])
    periods = np.array([10 * t, 10 * (t - 450), np.zeros(11)])
    throttled = np.array([1 * t, np.zeros(11), np.zeros(11)])
    restarts = np.array([np.where(t <= 420, 0.0, 2.0), np.where(t <= 480, 0.0, 1.0), np.full(11, 3.0)])
    oom = np.array([t >= 480, np.zeros(11, bool), np.zeros(11, bool)])
    resources = np.array([[0.5, np.nan, 2**27, np.nan], [0.75, np.nan, 2**27, np.nan], [np.nan] * 4])
    replicas = np.array([np.where(t <= 420, 1.0, 2.0), np.ones(11)])
    replicas_present = np.array([np.ones(11, bool), t <= 300])
    return WindowSamples(
        times=TIMES,
        present=present,
        cpu=cpu,
        memory=memory,
        cfs=np.array([True, True, False]),
        periods=periods,
        throttled=throttled,
        restarts=restarts,
        oom=oom & present,
        resources=resources,
        row=np.array([0, 0, 1]),
        row_workload=np.array([0, 1]),
        replicas=replicas,
        replicas_present=replicas_present,
    )


def test_rate_follows_prometheus_extrapolation() -> None:
    s = _fixture()
    got = rate(s.times, s.cpu, s.present, POINTS)
    # A covers every range: plain increase / 300 (e.g. at 360: 0.5*240 + 1*60 = 180 -> 0.6).
    assert got[0] == pytest.approx([0.6, 0.7, 0.8, 0.9, 1.0])
    # B at 540: samples 480, 540 (15, 45): increase 30 over 60 s; the start is 240 s away but the
    # counter's zero point is 60*15/30 = 30 s away -> extrapolate 30 s: 30*90/60/300 = 0.15.
    # B at 600: samples 15, 45, 75: zero point 120*15/60 = 30 s -> 60*150/120/300 = 0.25.
    assert np.isnan(got[1, :3]).all()
    assert got[1, 3:] == pytest.approx([0.15, 0.25])
    # C ends at 300. At 360: 5 samples, end 60 s away (< 1.1*60) -> extrapolated fully: 0.2.
    # At 420: 4 samples, increase 36 over 180 s, end 120 s away -> only 30 s: 36*210/180/300.
    # At 480: 24*150/120/300 = 0.1; at 540: 12*90/60/300 = 0.06; at 600: one sample, no rate.
    assert got[2, :4] == pytest.approx([0.2, 36 * 210 / 180 / 300, 0.1, 0.06])
    assert np.isnan(got[2, 4])


def test_rate_adds_back_counter_resets() -> None:
    times = np.array([0, 60, 120, 180], dtype=np.int64)
    values = np.array([[10.0, 20.0, 5.0, 15.0]])
    got = rate(times, values, np.ones((1, 4), bool), np.array([180], dtype=np.int64))
    # increase = 15 - 10 + 20 = 25; start 120 s away, zero point 180*10/25 = 72 s, both over
    # 1.1*60 -> half a spacing (30 s): 25 * 210/180 / 300.
    assert got[0, 0] == pytest.approx(25 * 210 / 180 / 300)


def test_latest_uses_a_closed_five_minute_lookback() -> None:
    times = np.array([0, 60], dtype=np.int64)
    values = np.array([[7.0, 9.0]])
    got = latest(times, values, np.array([[True, True]]), np.array([30, 60, 360, 361], dtype=np.int64))
    assert got[0, :3].tolist() == [7.0, 9.0, 9.0]
    assert np.isnan(got[0, 3])


def test_quantiles_are_prometheus_quantile_over_time() -> None:
    values = np.array([[0.525, 0.6, np.nan, 0.625, 0.7, 0.8], [np.nan] * 6])
    got = quantiles_over_time(values, (0.5, 0.9, 0.95, 0.99))
    assert got[0] == pytest.approx([0.625, 0.76, 0.78, 0.796])
    assert got[0] == pytest.approx(np.quantile(values[0, ~np.isnan(values[0])], [0.5, 0.9, 0.95, 0.99]))
    assert np.isnan(got[1]).all()


def _pooled(f: SeriesFigures) -> list[dict[str, object]]:
    """Rows from the per-series figures, the way both usage sources make them."""
    keys = [("ns", WorkloadKind.DEPLOYMENT, name, "app") for name in ("a", "a", "b")]
    pods = f.pods(keys)
    replicas = {
        ("ns", WorkloadKind.DEPLOYMENT, name): Replicas(
            float(f.replicas_min[i]), float(f.replicas_avg[i]), float(f.replicas_max[i])
        )
        for i, name in enumerate(("a", "b"))
    }
    window = DailyWindow(
        date(1970, 1, 1),
        "window",
        datetime(1970, 1, 1, 0, 5, tzinfo=UTC),
        datetime(1970, 1, 1, 0, 10, tzinfo=UTC),
    )
    return [vars_of(p) for p in pool("c", window, pods, replicas)]


def vars_of(profile: object) -> dict[str, object]:
    return {name: getattr(profile, name) for name in profile.__slots__}  # type: ignore[attr-defined]


def test_series_figures_by_hand() -> None:
    f = series_figures(_fixture(), POINTS)
    # A: 0.6 … 1.0 at 5 points; B: 0.15, 0.25 at 2; C: 0.2, 0.14, 0.1, 0.06 at 4.
    assert f.cpu_points.tolist() == [5, 2, 4]
    assert f.cpu_quantiles[0] == pytest.approx([0.8, 0.96, 0.98, 0.996])
    assert f.cpu_quantiles[1] == pytest.approx([0.2, 0.24, 0.245, 0.249])
    assert f.cpu_quantiles[2, 0] == pytest.approx(0.12)  # rank 1.5 of 0.06, 0.1, 0.14, 0.2
    assert f.cpu_max.tolist() == pytest.approx([1.0, 0.25, 0.2])
    # Memory: A 100, 100, 200, 200, 200; B 50 from 480; C stays visible through the lookback (30).
    assert f.mem_points.tolist() == [5, 3, 5]
    assert f.mem_quantiles[:, 0] == pytest.approx([200.0, 50.0, 30.0])
    # Requests per series while seen; never set -> NaN.
    assert f.resources[1, 0] == 0.75 and np.isnan(f.resources[2]).all()
    # Replicas per workload: 1, 1, 2, 2, 2; the second's gauge ends at 300 but stays visible by lookback.
    assert (f.replicas_min[0], f.replicas_avg[0], f.replicas_max[0]) == (1.0, pytest.approx(1.6), 2.0)
    # Restarts: A +2 (OOMKilled), B +1 (no OOM reason); C stays at 3.
    assert f.restarts.tolist() == [2.0, 1.0, 0.0]
    assert f.oom_seen[0] == 1.0 and np.isnan(f.oom_seen[1:]).all()


def test_pooled_rows_by_hand() -> None:
    a, b = _pooled(series_figures(_fixture(), POINTS))
    # Quantiles weighted by points: p50 (0.8*5 + 0.2*2)/7, p95 (0.98*5 + 0.245*2)/7.
    assert a["samples"] == 7 and b["samples"] == 4
    assert a["cpu_p50"] == pytest.approx(4.4 / 7)
    assert a["cpu_p95"] == pytest.approx(5.39 / 7)
    assert a["cpu_max"] == pytest.approx(1.0)
    assert b["cpu_p50"] == pytest.approx(0.12)
    assert a["mem_p95"] == pytest.approx((200 * 5 + 50 * 3) / 8)
    assert (a["mem_max"], b["mem_max"]) == (200.0, 30.0)
    # Requests: the highest of any pod (B's 0.75); never set -> None.
    assert a["cpu_request"] == 0.75 and a["mem_request"] == 2**27
    assert a["cpu_limit"] is None and b["cpu_request"] is None
    assert (a["replicas_min"], a["replicas_max"]) == (1.0, 2.0)
    # Throttling: A throttles 1 of 10 periods/s at 5 points; B has periods at 540 (3/s) and
    # 600 (5/s) with the same extrapolation as its CPU, none throttled: 5 / (50 + 3 + 5).
    assert a["cpu_throttle_ratio"] == pytest.approx(5 / 58)
    assert b["cpu_throttle_ratio"] is None
    assert (a["restarts"], a["oom_kills"]) == (3.0, 2.0)
    assert (b["restarts"], b["oom_kills"]) == (0.0, 0.0)


def test_a_window_outside_the_samples_has_no_points() -> None:
    f = series_figures(_fixture(), np.array([1300, 1360], dtype=np.int64))
    assert f.cpu_points.tolist() == [0, 0, 0]
    assert _pooled(f) == []
