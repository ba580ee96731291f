"""Idle nodes: DaemonSet-only nodes and nodes under every threshold for a week, by hand."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from kubecap.domain.node import NodeUsage
from kubecap.recommend.idle_nodes import IdleNodeSettings, IdleReason, idle_nodes

LAST = date(2026, 11, 18)
GIB = 2**30


def week(node: str, *, days: int = 7, **figures: object) -> list[NodeUsage]:
    values: dict[str, object] = {
        "cpu_p99": 0.2,
        "mem_p99": 1.0 * GIB,
        "cpu_allocatable": 4.0,
        "mem_allocatable": 16.0 * GIB,
        "cpu_requests": 0.4,
        "mem_requests": 2.0 * GIB,
        "daemonset_only": False,
    }
    values.update(figures)
    return [
        NodeUsage("prod", node, LAST - timedelta(days=n), **values)  # type: ignore[arg-type]
        for n in range(days)
    ]


def test_daemonset_only_and_underused_nodes_are_reported_with_their_cost() -> None:
    usages = (
        week("ds-only", daemonset_only=True, cpu_p99=0.5, cpu_requests=0.3)
        + week("quiet")
        + week("busy", cpu_p99=2.0)
        + week("new", days=6, daemonset_only=True)
    )
    found = idle_nodes(usages, IdleNodeSettings(), last_day=LAST)
    assert [(n.node, n.reason) for n in found] == [
        ("ds-only", IdleReason.DAEMONSET_ONLY),
        ("quiet", IdleReason.UNDERUSED),
    ]
    quiet = found[1]
    # 0.2 / 4 = 5 % CPU, 1/16 = 6.25 % memory; requests 10 % and 12.5 %.
    assert quiet.cpu_usage_share == pytest.approx(0.05)
    assert quiet.mem_requests_share == pytest.approx(0.125)
    # (4 cores × $0.031611 + 16 GiB × $0.004237) × 730 h.
    assert quiet.monthly_usd == pytest.approx((4 * 0.031611 + 16 * 0.004237) * 730)
    assert quiet.explanation.startswith("quiet's P99 usage stayed at or below 5% CPU and 6% memory")
    assert "each of the 7 days 2026-11-12 to 2026-11-18" in found[0].explanation


def test_one_busy_day_or_unknown_usage_keeps_a_node() -> None:
    busy_day = week("spiky")
    busy_day[3] = NodeUsage("prod", "spiky", busy_day[3].day, 3.0, GIB, 4.0, 16 * GIB, 0.4, 2 * GIB, False)
    unknown = week("blind", cpu_p99=None)
    assert idle_nodes(busy_day + unknown, IdleNodeSettings(), last_day=LAST) == []


def test_thresholds_are_settings() -> None:
    assert idle_nodes(week("quiet"), IdleNodeSettings(cpu_usage_percent=4), last_day=LAST) == []
