"""Every strategy against values computed by hand on small histories (tests/recommend/builders.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kubecap.domain.recommendation import Recommendation, Status
from kubecap.domain.usage import UsageProfile
from kubecap.recommend.engine import recommend
from kubecap.recommend.settings import EngineSettings
from kubecap.recommend.strategies.registry import default_registry

from .builders import GIB, MIB, days_of, flat, history, memory, ref, uniform

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def run(name: str, rows: list[UsageProfile], **settings: Any) -> list[Recommendation]:
    strategy = default_registry().get(name)
    chosen = strategy.settings_model(**settings)
    return recommend(history(rows), strategy, chosen, EngineSettings(), computed_at=NOW)


def one(name: str, rows: list[UsageProfile], **settings: Any) -> Recommendation:
    recs = run(name, rows, **settings)
    assert len(recs) == 1
    return recs[0]


# --- peak (KubeDoor) ------------------------------------------------------------------------------


def test_peak_takes_the_highest_daily_peak_window_p95_of_the_last_10_days() -> None:
    peak = [{**flat(0.1 + 0.02 * n), **memory(200 * MIB)} for n in range(12)]
    peak[7] = {**flat(0.34), **memory(200 * MIB)}  # the highest CPU day
    peak[1] = {**flat(0.9), **memory(300 * MIB)}  # older than 10 days: ignored
    peak[5] = {**flat(0.2), **memory(250 * MIB)}
    whole = [{**flat(0.9), **memory(900 * MIB)} for _ in range(12)]  # whole-day rows are not read
    rec = one("peak", days_of(ref(), "app", whole, peak=peak))
    assert rec.status is Status.OK
    assert rec.target.cpu_request == pytest.approx(0.340)
    assert rec.target.mem_request == 250 * MIB
    assert rec.target.cpu_limit is None and rec.target.mem_limit == 2 * GIB  # limits kept
    assert rec.explanation.startswith(
        "CPU request 340m = highest daily 10:00-11:30 P95 of the last 10 days (2026-11-08), no margin; "
        "no CPU limit: kept; Memory request 250Mi = highest daily 10:00-11:30 P95 of the last 10 days "
        "(2026-11-06), no margin; Memory limit 2Gi: kept."
    )
    assert rec.window == "10:00-11:30" and rec.days == 10 and rec.confidence == 1.0


def test_peak_margin_rounds_up_to_whole_millicores_and_mib() -> None:
    peak = [{**flat(0.3001), **memory(200.2 * MIB)} for _ in range(3)]
    rec = one("peak", days_of(ref(), "app", peak), margin_percent=10)
    # 0.3001 × 1.1 = 0.33011 → 331m; 200.2 Mi × 1.1 = 220.22 Mi → 221Mi.
    assert rec.target.cpu_request == pytest.approx(0.331)
    assert rec.target.mem_request == 221 * MIB
    assert "+10 % margin" in rec.explanation


# --- percentile (KRR simple, simple-limit) -------------------------------------------------------


def krr_days() -> list[dict[str, Any]]:
    days = [{**flat(0.2), **memory(300 * MIB), "cpu_limit": 2.0} for _ in range(10)]
    days[4] = {**flat(1.0), **memory(300 * MIB), "cpu_limit": 2.0}
    days[6] = {**flat(0.2), **memory(300 * MIB, peak=400 * MIB), "cpu_limit": 2.0}
    return days


def test_percentile_is_krr_simple() -> None:
    rec = one("percentile", days_of(ref(), "app", krr_days()))
    # 9 of 10 days at 0.2: only 90 % of the time is at or below 0.2, so P95 is 1.0.
    assert rec.target.cpu_request == pytest.approx(1.0)
    assert rec.target.cpu_limit is None
    # Memory: the highest maximum (400Mi) + 15 % = 460Mi, request = limit.
    assert rec.target.mem_request == rec.target.mem_limit == 460 * MIB
    assert "no CPU limit: removed (was 2): KRR sets no CPU limit" in rec.explanation
    assert (
        "Memory request 460Mi = highest daily memory maximum of the last 10 days (2026-11-07), +15 % margin"
        in (rec.explanation)
    )


def test_percentile_with_a_limit_percentile_is_krr_simple_limit() -> None:
    rec = one("percentile", days_of(ref(), "app", krr_days()), cpu_percentile=66, cpu_limit_percentile=96)
    assert rec.target.cpu_request == pytest.approx(0.2)
    assert rec.target.cpu_limit == pytest.approx(1.0)


def test_percentile_minimums_are_10m_and_100mi() -> None:
    rows = days_of(ref(), "app", [{**flat(0.001), **memory(10 * MIB)} for _ in range(3)])
    rec = one("percentile", rows)
    assert rec.target.cpu_request == pytest.approx(0.010)
    assert rec.target.mem_request == 100 * MIB
    assert "raised to the 10m minimum" in rec.explanation and "raised to the 100Mi minimum" in rec.explanation


# --- crane ---------------------------------------------------------------------------------------


def test_crane_is_p99_of_7_days_plus_15_percent_with_limits_kept() -> None:
    days = [{**flat(0.4), **memory(200 * MIB), "cpu_limit": 1.0} for _ in range(9)]
    days[1] = {**flat(5.0), **memory(900 * MIB), "cpu_limit": 1.0}  # outside the 7 days
    rec = one("crane", days_of(ref(), "app", days))
    assert rec.target.cpu_request == pytest.approx(0.46)
    assert rec.target.mem_request == 230 * MIB
    assert rec.target.cpu_limit == 1.0 and rec.target.mem_limit == 2 * GIB
    assert rec.explanation.startswith(
        "CPU request 460m = P99 of the CPU usage over the last 7 days, +15 % margin"
    )


# --- vpa -----------------------------------------------------------------------------------------


def vpa_rows() -> list[UsageProfile]:
    app = [
        {
            **flat(1.0),
            **memory(300 * MIB),
            "cpu_request": 0.5,
            "cpu_limit": 1.0,
            "mem_request": 256 * MIB,
            "mem_limit": 512 * MIB,
        },
        {
            **flat(0.5),
            **memory(200 * MIB),
            "cpu_request": 0.5,
            "cpu_limit": 1.0,
            "mem_request": 256 * MIB,
            "mem_limit": 512 * MIB,
        },
    ]
    sidecar = [
        {**flat(0.001), **memory(100 * MIB), "mem_request": 128 * MIB, "mem_limit": 256 * MIB},
        {
            **flat(0.001),
            **memory(250 * MIB),
            "mem_request": 128 * MIB,
            "mem_limit": 256 * MIB,
            "oom_kills": 1.0,
        },
    ]
    return days_of(ref(), "app", app) + days_of(ref(), "sidecar", sidecar)


def test_vpa_decaying_percentiles_bounds_oom_bump_and_split_minimums() -> None:
    app, sidecar = run("vpa", vpa_rows())
    # Day weights 2^-1.5 and 2^-0.5 (half-life 24 h, ages 1.5 and 0.5 days): a third on the
    # older day at 1.0, two thirds on the latest at 0.5. P90 = 1.0; + 15 % = 1.15.
    assert app.target.cpu_request == pytest.approx(1.15)
    assert app.bounds.cpu_low == pytest.approx(0.5 * 1.15 * (1 + 0.001 / 2) ** -2)
    assert app.bounds.cpu_high == pytest.approx(1.0 * 1.15 * (1 + 1 / 2))
    # Limits keep today's ratio (2): 2.3 cores.
    assert app.target.cpu_limit == pytest.approx(2.3)
    # Memory: daily peaks 300Mi (weight 1/3) and 200Mi (2/3): P90 = 300Mi, + 15 % = 345Mi, limit × 2.
    assert app.target.mem_request == 345 * MIB
    assert app.target.mem_limit == 690 * MIB
    # The sidecar's OOM day counts as max(256 + 100, 256 × 1.2) = 356Mi: P90 = 356Mi, × 1.15 → 410Mi.
    assert sidecar.target.mem_request == 410 * MIB
    # The limit keeps the ratio to the unrounded request: 409.4Mi × 2 = 818.8Mi → 819Mi.
    assert sidecar.target.mem_limit == 819 * MIB
    assert "OOM kills on 1 day(s) counted as peaks raised by 20 % (at least 100Mi)" in sidecar.explanation
    # 25m per pod split over two containers: 12.5m, rounded up to 13m.
    assert sidecar.target.cpu_request == pytest.approx(0.013)
    assert app.explanation.startswith(
        "CPU request 1150m = decaying-weight P90 of the CPU usage over the last 2 days (half-life 24 h), "
        "+15 % margin; CPU limit 2300m = the request × 2 (today's limit/request ratio)"
    )


# --- kubecap -------------------------------------------------------------------------------------


def test_kubecap_takes_the_two_week_p99_plus_10_percent_and_raises_a_throttling_limit() -> None:
    days = [
        {
            **flat(0.4),
            **memory(200 * MIB),
            "cpu_limit": 0.3,
            "mem_limit": 256 * MIB,
            "cpu_throttle_ratio": 0.05,
        }
        for _ in range(14)
    ]
    days[3] = {**days[3], **flat(0.6), "cpu_throttle_ratio": 0.2}
    rec = one("kubecap", days_of(ref(), "app", days))
    # 13 of 14 days at 0.4 is 92.9 % of the time: P99 = 0.6; + 10 % = 660m.
    assert rec.target.cpu_request == pytest.approx(0.66)
    assert rec.target.cpu_limit == pytest.approx(0.66)
    # Memory: 200Mi + 10 % = 220Mi, raised to the latest day's 200Mi + 15 % = 230Mi; limit + 25 % → 288Mi.
    assert rec.target.mem_request == 230 * MIB
    assert rec.target.mem_limit == 288 * MIB
    assert rec.explanation == (
        "CPU request 660m = P99 of the CPU usage over the last 14 days, +10 % margin; "
        "CPU limit 660m: raised to the request: usage reached 300m, throttled up to 20 % of its periods; "
        "Memory request 230Mi = highest daily memory maximum of the last 14 days (2026-11-01), +10 % margin, "
        "raised to the latest day's maximum 200Mi + 15 %; Memory limit 288Mi = the request + 25 %."
    )


def test_kubecap_follows_the_latest_day_when_it_is_higher() -> None:
    days = [{**flat(0.2), **memory(200 * MIB)} for _ in range(13)] + [{**uniform(1.0), **memory(200 * MIB)}]
    rec = one("kubecap", days_of(ref(), "app", days))
    # Mixed: 13/14 of the time at 0.2 and the latest day spread over [0, 1], so F(v) = 13/14 + v/14
    # above 0.2 and P99 = 0.86; the latest day's own P99 is 0.99, higher: 0.99 × 1.1 = 1089m.
    assert rec.target.cpu_request == pytest.approx(1.089)
    assert (
        "= P99 of the latest day's CPU usage (2026-11-14), above the 860m of the last 14 days"
        in rec.explanation
    )


def test_kubecap_adds_no_memory_limit_where_there_is_none() -> None:
    days = [{**flat(0.2), **memory(200 * MIB), "mem_limit": None} for _ in range(3)]
    rec = one("kubecap", days_of(ref(), "app", days))
    assert rec.target.mem_limit is None
    assert "no memory limit: kept (none today: adding one could only add OOM kills)" in rec.explanation


def test_every_strategy_says_not_enough_data_with_its_reason() -> None:
    rows = days_of(ref(), "app", [{**flat(0.2)}])
    for name in default_registry().names():
        rec = one(name, rows, min_days=2)
        assert rec.status is Status.NOT_ENOUGH_DATA
        assert rec.target == rec.current
        window = "peak-window usage" if name == "peak" else "usage"
        assert rec.explanation == (
            f"Not enough data: only 1 day with {window} in the day 2026-11-01, and the {name} strategy needs "
            f"at least 2: collect more days (kubecap collect --days {rec.settings['days']}); "
            "the current values are kept."
        )
        assert rec.savings.usd == 0.0


def test_a_container_without_requests_gets_values_and_one_sentence_instead_of_savings() -> None:
    days = [{**flat(0.2), "cpu_request": None, "mem_request": None} for _ in range(3)]
    for name in default_registry().names():
        rec = one(name, days_of(ref(), "app", days))
        assert rec.status is Status.OK
        assert rec.target.cpu_request is not None and rec.target.cpu_request > 0
        assert rec.savings.usd is None and rec.savings.cpu_core_hours is None
        assert rec.explanation.endswith(
            "No CPU or memory request is set today, so the scheduler reserves nothing for it and no saving can "
            "be computed: the recommended request reserves what the history needs."
        )
