"""The numpy summaries equal the object-by-object ones to the last bit, and the cache follows the store."""

from __future__ import annotations

import random
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from kubecap.api import summary, views
from kubecap.api.cache import SummaryCache
from kubecap.domain.usage import UsageProfile
from kubecap.domain.usage_columns import UsageColumns
from kubecap.domain.window import DAY, DailyWindow, PeakWindow, day_bounds
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.ports import WindowUsage
from kubecap.store import Store
from tests.store.conftest import (  # noqa: F401 - fixtures: SQLite and PostgreSQL
    backend,
    database_url,
    postgres_database,
    postgres_server,
    store,
)

LAST = date(2026, 3, 20)
PEAKS = ("10:00-11:30", "20:00-21:00")


def value(rng: random.Random, scale: float) -> float | None:
    return None if rng.random() < 0.1 else rng.uniform(0, scale)


def profiles(seed: int, workloads: int = 30, days: int = 10) -> list[UsageProfile]:
    """Several containers, two peak windows, gaps and missing figures: every branch of summarise."""
    rng = random.Random(seed)
    rows = []
    for w in range(workloads):
        ref = WorkloadRef(f"c{w % 2}", f"ns-{w % 4}", list(WorkloadKind)[w % 3], f"app-{w}")
        containers = rng.sample(["app", "sidecar", "init-proxy", "zz"], rng.randint(1, 3))
        for container in containers:
            for d in range(days):
                day = LAST - timedelta(days=d)
                for window in (DAY, *PEAKS):
                    if rng.random() < 0.2:
                        continue
                    rows.append(
                        UsageProfile(
                            ref, container, day, window,
                            replicas_avg=value(rng, 5), cpu_p95=value(rng, 2), mem_p95=value(rng, 2**30),
                            cpu_request=value(rng, 2), mem_request=value(rng, 2**31),
                        )
                    )  # fmt: skip
    rows.sort(key=lambda p: (p.workload, p.container, p.day, p.window))
    return rows


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_numpy_summaries_equal_the_object_ones(seed: int) -> None:
    rows = profiles(seed)
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)  # the store hands columns over in no particular order
    columns = UsageColumns.from_profiles(shuffled, summary.FIGURES)
    since = LAST - timedelta(days=4)
    expected = views.summarise([p for p in rows if p.day >= since])
    got = summary.summarise(columns, since=since)
    assert [s.to_dict() for s in got] == [s.to_dict() for s in expected]
    assert summary.trend(columns) == views.trend(rows)


def test_empty_columns_give_no_summary() -> None:
    empty = UsageColumns.empty(summary.FIGURES)
    assert summary.summarise(empty) == []
    assert summary.trend(empty) == []


async def save_day(store: Store, day: date, cpu: float) -> None:  # noqa: F811 - the fixture's name
    ref = WorkloadRef("prod", "shop", WorkloadKind.DEPLOYMENT, "web")
    tz = ZoneInfo("UTC")
    peak = PeakWindow.parse(PEAKS[0])
    for name, (start, end) in ((peak.name, peak.bounds(day, tz)), (DAY, day_bounds(day, tz))):
        row = UsageProfile(
            ref, "app", day, name, replicas_avg=2, cpu_p95=cpu, mem_p95=1e9, cpu_request=1, mem_request=2e9
        )
        await store.save_window("prod", DailyWindow(day, name, start, end), WindowUsage([row]))


async def test_cache_recomputes_only_when_a_window_is_collected(store: Store) -> None:  # noqa: F811
    cache = SummaryCache()
    await save_day(store, LAST - timedelta(days=1), 0.5)
    first = await cache.get(store, "prod")
    again = await cache.get(store, None), await cache.get(store, "prod")
    assert again[1] is first and cache.computed == 2  # "prod" once, every cluster once
    assert first.rows[0]["cpu_peak"] == 0.5
    await save_day(store, LAST, 0.75)
    fresh = await cache.get(store, "prod")
    assert fresh is not first and fresh.rows[0]["cpu_peak"] == 0.75
    assert fresh.overview["workloads"] == 1 and len(fresh.overview["trend"]) == 2
