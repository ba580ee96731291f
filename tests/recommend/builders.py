"""Small hand-made histories: every figure chosen, so that expected values can be computed by hand.

A history is built the way production builds it: UsageProfile rows → UsageColumns →
DailyHistory.from_columns (the pivot is exercised too).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from kubecap.domain.usage import UsageProfile
from kubecap.domain.usage_columns import UsageColumns
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.recommend.history import DailyHistory

PEAK = "10:00-11:30"
DAY = "day"
FIRST = date(2026, 11, 1)
MIB = 2**20
GIB = 2**30


def ref(
    name: str = "web", kind: WorkloadKind = WorkloadKind.DEPLOYMENT, namespace: str = "shop"
) -> WorkloadRef:
    return WorkloadRef("prod", namespace, kind, name)


def day(n: int) -> date:
    """Day ``n`` of the fixtures (0 = 2026-11-01)."""
    return FIRST + timedelta(days=n)


def flat(value: float) -> dict[str, float]:
    """CPU figures of a day whose usage stays at ``value`` all day."""
    return {"cpu_p50": value, "cpu_p90": value, "cpu_p95": value, "cpu_p99": value, "cpu_max": value}


def uniform(top: float) -> dict[str, float]:
    """CPU figures of a day whose usage is spread evenly over [0, top] (P0 extrapolates to 0)."""
    return {
        "cpu_p50": 0.5 * top,
        "cpu_p90": 0.9 * top,
        "cpu_p95": 0.95 * top,
        "cpu_p99": 0.99 * top,
        "cpu_max": top,
    }


def memory(value: float, peak: float | None = None) -> dict[str, float]:
    return {"mem_p95": value, "mem_max": value if peak is None else peak}


RESOURCES: dict[str, Any] = {
    "cpu_request": 1.0,
    "cpu_limit": None,
    "mem_request": 1 * GIB,
    "mem_limit": 2 * GIB,
}


def profile(
    workload: WorkloadRef,
    container: str,
    n: int,
    window: str = DAY,
    *,
    replicas: float = 2.0,
    samples: int = 1440,
    **figures: Any,
) -> UsageProfile:
    values: dict[str, Any] = {
        "replicas_min": replicas,
        "replicas_avg": replicas,
        "replicas_max": replicas,
        "oom_kills": 0.0,
        "restarts": 0.0,
        **RESOURCES,
        **flat(0.1),
        **memory(100 * MIB),
        "samples": samples,
    }
    values.update(figures)
    return replace(UsageProfile(workload, container, day(n), window), **values)


def days_of(
    workload: WorkloadRef,
    container: str,
    per_day: list[dict[str, Any]],
    *,
    peak: list[dict[str, Any]] | None = None,
) -> list[UsageProfile]:
    """Whole-day rows from ``per_day`` (one dict of figures a day, from day 0) and peak rows (same, or ``peak``)."""
    rows = []
    for n, figures in enumerate(per_day):
        rows.append(profile(workload, container, n, DAY, **figures))
        peak_figures = figures if peak is None else peak[n]
        rows.append(profile(workload, container, n, PEAK, samples=90, **peak_figures))
    return rows


def history(rows: list[UsageProfile], **kwargs: Any) -> DailyHistory:
    return DailyHistory.from_columns(UsageColumns.from_profiles(rows), **kwargs)
