"""The collector over a real SQLite store and the simulated source: order, skips, failure and resumption."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from kubecap.domain.hpa import HpaInfo
from kubecap.domain.window import DailyWindow, PeakWindow
from kubecap.domain.workload import WorkloadRef
from kubecap.errors import PrometheusUnreachable
from kubecap.metrics.collector import Outcome, collect, plan_windows
from kubecap.metrics.simulated import SimulatedSource, scenario_from_yaml
from kubecap.ports import NodeWindowUsage, WindowUsage
from kubecap.store import Store

SCENARIO = """
cluster: small
timezone: Asia/Shanghai
end: 2026-11-21T00:00
days: 3
namespaces:
  shop:
    - kind: Deployment
      name: web
      replicas: 2
      containers:
        - name: app
          requests: {cpu: 100m, memory: 128Mi}
          cpu: {trace: crane_daily, low: 10m, high: 200m}
          memory: {constant: 64Mi}
"""
SHANGHAI_NOON_20TH = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


class FailingAfter:
    """The simulated source, failing like an unreachable Prometheus after ``good`` windows."""

    def __init__(self, source: SimulatedSource, good: int) -> None:
        self._source, self._good = source, good

    @property
    def cluster(self) -> str:
        return self._source.cluster

    async def window_usage(self, window: DailyWindow) -> WindowUsage:
        if self._good == 0:
            raise PrometheusUnreachable("cannot reach Prometheus at http://127.0.0.1:1 (refused)")
        self._good -= 1
        return await self._source.window_usage(window)

    async def node_usage(self, window: DailyWindow) -> NodeWindowUsage:
        return await self._source.node_usage(window)

    async def hpas(self, window: DailyWindow) -> list[HpaInfo]:
        return await self._source.hpas(window)

    async def workload_labels(self, window: DailyWindow) -> dict[WorkloadRef, dict[str, str]]:
        return await self._source.workload_labels(window)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite:///{tmp_path / 'k.db'}")
    yield opened
    await opened.close()


def source() -> SimulatedSource:
    return SimulatedSource(scenario_from_yaml(SCENARIO), now=SHANGHAI_NOON_20TH)


def windows() -> list[DailyWindow]:
    scenario = source().scenario
    return plan_windows(3, [PeakWindow.parse("10:00-11:30")], scenario.tz, SHANGHAI_NOON_20TH)


def test_plan_is_oldest_first_and_ends_today() -> None:
    planned = windows()
    assert [(w.day, w.name) for w in planned][:2] == [
        (date(2026, 11, 18), "10:00-11:30"),
        (date(2026, 11, 18), "day"),
    ]
    assert planned[-1].day == date(2026, 11, 20)
    until = plan_windows(2, [], source().scenario.tz, SHANGHAI_NOON_20TH, until=date(2026, 11, 1))
    assert [w.day for w in until] == [date(2026, 10, 31), date(2026, 11, 1)]


async def test_windows_that_have_not_ended_are_skipped(store: Store) -> None:
    report = await collect(source(), store, windows(), now=SHANGHAI_NOON_20TH)
    # Noon in Shanghai on the 20th: that day's peak window is over, its whole day is not.
    assert report.outcomes[(date(2026, 11, 20), "10:00-11:30")] is Outcome.COLLECTED
    assert report.outcomes[(date(2026, 11, 20), "day")] is Outcome.NOT_ENDED
    assert report.count(Outcome.COLLECTED) == 5 and report.rows == 5
    again = await collect(source(), store, windows(), now=SHANGHAI_NOON_20TH)
    assert again.count(Outcome.ALREADY_COMPLETE) == 5 and again.rows == 0


async def test_a_failed_run_resumes_where_it_stopped(store: Store) -> None:
    with pytest.raises(PrometheusUnreachable):
        await collect(FailingAfter(source(), good=2), store, windows(), now=SHANGHAI_NOON_20TH)
    assert len(await store.completed_windows("small", [date(2026, 11, 18), date(2026, 11, 19)])) == 2
    failed = [r for r in await store.runs("small") if r.status == "failed"]
    assert len(failed) == 1 and "cannot reach Prometheus" in failed[0].message
    resumed = await collect(source(), store, windows(), now=SHANGHAI_NOON_20TH)
    assert resumed.count(Outcome.ALREADY_COMPLETE) == 2 and resumed.count(Outcome.COLLECTED) == 3
    rows_after_resume = await store.usage(cluster="small")
    assert len(rows_after_resume) == 5


async def test_force_collects_again_without_duplicates(store: Store) -> None:
    await collect(source(), store, windows(), now=SHANGHAI_NOON_20TH)
    before = await store.usage(cluster="small")
    forced = await collect(source(), store, windows(), now=SHANGHAI_NOON_20TH, force=True)
    assert forced.count(Outcome.COLLECTED) == 5
    assert await store.usage(cluster="small") == before


async def test_a_window_without_data_is_recorded_and_retried(store: Store) -> None:
    early = plan_windows(1, [], source().scenario.tz, SHANGHAI_NOON_20TH, until=date(2026, 10, 1))
    report = await collect(source(), store, early, now=SHANGHAI_NOON_20TH)
    assert report.outcomes == {(date(2026, 10, 1), "day"): Outcome.EMPTY}
    assert await store.completed_windows("small", [date(2026, 10, 1)]) == set()
