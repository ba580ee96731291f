"""Costs checked against hand calculations on small fixtures, and bad prices refused."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from kubecap.cost import (
    FORECAST,
    RECENT_MEAN,
    Level,
    Price,
    Prices,
    container_costs,
    daily_totals,
    idle_costs,
    next_month,
    roll_up,
)
from kubecap.domain.node import NodeUsage
from kubecap.domain.usage import UsageProfile
from kubecap.domain.window import DAY
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.errors import ConfigError

GIB = 2.0**30
WEB = WorkloadRef("prod", "shop", WorkloadKind.DEPLOYMENT, "web")
DB = WorkloadRef("prod", "data", WorkloadKind.STATEFULSET, "db")
D1, D2 = date(2026, 11, 1), date(2026, 11, 2)
PRICES = Prices(Price(cpu=0.5, memory=0.25))


def profile(ref: WorkloadRef, day: date, **figures: float) -> UsageProfile:
    return UsageProfile(ref, "app", day, DAY, **figures)  # type: ignore[arg-type]


def test_request_above_usage_and_usage_above_request_over_two_days() -> None:
    rows = [
        # Day 1: request (1 core, 2 GiB) above usage: 2 replicas x 1 core x 24 h x $0.5 = $24,
        # 2 x 2 GiB x 24 h x $0.25 = $24.
        profile(WEB, D1, replicas_avg=2, cpu_request=1, cpu_p95=0.4, mem_request=2 * GIB, mem_p95=GIB),
        # Day 2: usage (1.5 cores, 3 GiB) above request: 1 x 1.5 x 24 x 0.5 = $18; 1 x 3 x 24 x 0.25 = $18.
        profile(WEB, D2, replicas_avg=1, cpu_request=1, cpu_p95=1.5, mem_request=2 * GIB, mem_p95=3 * GIB),
        # Peak-window rows and rows without replicas are not charged.
        UsageProfile(WEB, "app", D1, "10:00-11:30", replicas_avg=9, cpu_request=9),
        profile(WEB, D2, cpu_request=100),
    ]
    costs = container_costs(rows, PRICES)
    assert [(c.day, c.cpu_usd, c.memory_usd) for c in costs] == [(D1, 24.0, 24.0), (D2, 18.0, 18.0)]
    (line,) = roll_up(costs, Level.WORKLOAD)
    assert (line.key, line.days, line.usd) == (str(WEB), 2, 84.0)
    assert line.monthly_usd == pytest.approx(84.0 / 48 * 730)
    assert daily_totals(costs) == {D1: 48.0, D2: 36.0}


def test_roll_up_per_namespace_and_cluster_with_a_cluster_price() -> None:
    rows = [profile(WEB, D1, replicas_avg=1, cpu_request=1), profile(DB, D1, replicas_avg=1, cpu_p95=2)]
    prices = Prices(Price(cpu=0.5, memory=0.25), clusters={"prod": Price(cpu=1.0, memory=0.0)})
    costs = container_costs(rows, prices)
    assert [(ln.key, ln.usd) for ln in roll_up(costs, Level.NAMESPACE)] == [
        ("prod/data", 48.0),
        ("prod/shop", 24.0),
    ]
    assert [(ln.key, ln.usd) for ln in roll_up(costs, Level.CLUSTER)] == [("prod", 72.0)]


def node(name: str, pool: str | None, cpu_requests: float, mem_requests: float) -> NodeUsage:
    return NodeUsage("prod", name, D1, 0.1, GIB, 4.0, 16 * GIB, cpu_requests, mem_requests, False, pool)


def test_idle_node_priced_by_its_pool() -> None:
    prices = Prices(Price(cpu=0.5, memory=0.25), pools={"gpu": Price(cpu=2.0, memory=1.0)})
    idle = idle_costs([node("a", None, 1.0, 4 * GIB), node("b", "gpu", 4.0, 20 * GIB)], prices)
    # a: 3 idle cores x 24 x 0.5 = 36; 12 idle GiB x 24 x 0.25 = 72.
    assert (idle[0].idle_cores, idle[0].cpu_usd, idle[0].memory_usd) == (3.0, 36.0, 72.0)
    # b: fully requested (memory over-requested counts as 0 idle, not negative).
    assert (idle[1].idle_cores, idle[1].idle_gib, idle[1].usd) == (0.0, 0.0, 0.0)
    prices.check_pools(["gpu", None])


@pytest.mark.parametrize("value", [-0.01, math.inf, math.nan])
def test_invalid_price_is_one_sentence(value: float) -> None:
    with pytest.raises(ConfigError, match=r"price .* is invalid"):
        Price(cpu=value)


def test_unknown_pool_is_refused() -> None:
    with pytest.raises(ConfigError, match="node pool 'gpux' matches no stored node pool"):
        Prices(pools={"gpux": Price()}).check_pools(["gpu", None])


def test_next_month_falls_back_to_the_last_seven_days_on_short_history() -> None:
    daily = {D1 + timedelta(days=i): float(i) for i in range(10)}
    outlook = next_month(daily)
    assert outlook is not None and outlook.method == RECENT_MEAN and "cannot forecast" in outlook.reason
    assert outlook.monthly_usd == pytest.approx(6.0 / 24 * 730)  # mean of 3..9
    assert next_month({}) is None


def test_next_month_forecasts_a_weekly_cycle() -> None:
    daily = {D1 + timedelta(days=i): 10.0 + 5.0 * (i % 7 == 5) for i in range(42)}
    outlook = next_month(daily)
    assert outlook is not None and outlook.method == FORECAST
    # The cycle averages 10 + 5/7 a day; the forecast provisions at or a little above it.
    assert 10.0 / 24 * 730 < outlook.monthly_usd < 13.0 / 24 * 730


def test_saved_overrides_win_over_the_settings_and_a_bad_scope_is_refused() -> None:
    base = Prices(Price(0.5, 0.25), clusters={"prod": Price(0.1, 0.1)}, pools={"gpu": Price(2.0, 1.0)})
    merged = base.with_overrides([("cluster", "prod", Price(1.0, 0.5)), ("pool", "arm", Price(0.2, 0.1))])
    assert merged.for_cluster("prod") == Price(1.0, 0.5) and merged.for_cluster("dev") == Price(0.5, 0.25)
    assert merged.for_node("prod", "gpu") == Price(2.0, 1.0) and merged.for_node("prod", "arm") == Price(
        0.2, 0.1
    )
    with pytest.raises(ConfigError, match="price scope 'team' is unknown"):
        base.with_overrides([("team", "x", Price())])
