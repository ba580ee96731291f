"""Daily node figures in the store: saved with their whole day, read back for idle-node detection.

The collector runs over the simulated cluster (real arrays, real SQL on SQLite and
PostgreSQL): a day's node rows commit with its workload rows and its completion mark, and
the idle pool of the bundled demo comes out idle from what was collected.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from kubecap.domain.hpa import HpaInfo
from kubecap.domain.node import NodeUsage
from kubecap.domain.window import DAY, DailyWindow, PeakWindow
from kubecap.domain.workload import WorkloadRef
from kubecap.errors import PrometheusUnreachable, StoreError
from kubecap.metrics.collector import Outcome, collect, plan_windows
from kubecap.metrics.simulated import SimulatedSource, demo_scenario, scenario_from_yaml
from kubecap.ports import NodeWindowUsage, WindowUsage
from kubecap.recommend.idle_nodes import IdleNodeSettings, IdleReason, idle_nodes
from kubecap.store import Store

from .builders import DAY1, DAY2, DAY3, profile, ref, window

GIB = 2.0**30


def node(name: str = "n-0", day: date = DAY1, cluster: str = "prod", **figures: object) -> NodeUsage:
    values: dict[str, object] = {
        "cpu_p99": 1.25,
        "mem_p99": 3.5 * GIB,
        "cpu_allocatable": 3.92,
        "mem_allocatable": 14 * GIB,
        "cpu_requests": 2.125,
        "mem_requests": 6 * GIB,
        "daemonset_only": False,
        "pool": "general",
    }
    values.update(figures)
    return NodeUsage(cluster, name, day, **values)  # type: ignore[arg-type]


def day_usage(day: date, nodes: list[NodeUsage], cluster: str = "prod") -> tuple[DailyWindow, WindowUsage]:
    whole = window(day, DAY)
    return whole, WindowUsage([profile(ref(cluster=cluster), on=whole)], queries=10, nodes=nodes)


async def test_node_rows_round_trip_and_filter(store: Store) -> None:
    blind = node("spare-0", cpu_p99=None, mem_p99=None, daemonset_only=True, pool=None)
    for day in (DAY1, DAY2, DAY3):
        await store.save_window(
            "prod", *day_usage(day, [node("n-0", day), node("n-1", day), replace(blind, day=day)])
        )
    await store.save_window("staging", *day_usage(DAY1, [node(cluster="staging")], "staging"))

    everything = await store.node_usage()
    assert len(everything) == 10
    assert [(n.cluster, n.node, n.day) for n in everything[:4]] == [
        ("prod", "n-0", DAY1),
        ("prod", "n-0", DAY2),
        ("prod", "n-0", DAY3),
        ("prod", "n-1", DAY1),
    ]
    assert everything[0] == node("n-0", DAY1)
    assert await store.node_usage("prod", DAY2, DAY2) == [
        node("n-0", DAY2),
        node("n-1", DAY2),
        replace(blind, day=DAY2),
    ]
    assert [n.day for n in await store.node_usage("prod", since=DAY3)] == [DAY3] * 3
    assert await store.node_usage(cluster="staging") == [node(cluster="staging")]
    assert await store.node_usage("nowhere") == []


async def test_saving_a_day_again_replaces_its_node_rows(store: Store) -> None:
    await store.save_window("prod", *day_usage(DAY1, [node("n-0"), node("n-1")]))
    again = node("n-0", cpu_p99=0.5, daemonset_only=True, pool=None)
    await store.save_window("prod", *day_usage(DAY1, [again]))
    assert await store.node_usage("prod") == [again, node("n-1")]


async def test_node_rows_that_do_not_belong_to_the_day_are_refused(store: Store) -> None:
    peak = window(DAY1)
    with pytest.raises(ValueError, match="node rows go with whole-day windows"):
        await store.save_window("prod", peak, WindowUsage([profile(on=peak)], nodes=[node()]))
    with pytest.raises(ValueError, match="does not belong to window day of 2026-03-02"):
        await store.save_window("prod", *day_usage(DAY1, [node(day=DAY2)]))
    with pytest.raises(ValueError, match="does not belong"):
        await store.save_window("prod", *day_usage(DAY1, [node(cluster="staging")]))
    with pytest.raises(ValueError, match="node 'n-0' appears twice"):
        await store.save_window("prod", *day_usage(DAY1, [node(), node(cpu_p99=2.0)]))
    assert await store.clusters() == []


async def test_a_node_row_the_database_refuses_stores_nothing_of_the_day(store: Store, backend: str) -> None:
    # The node rows are written after the workload rows: only the rollback can remove those.
    # SQLite stores NaN as NULL, which the NOT NULL column refuses; PostgreSQL refuses NUL in text.
    poisoned = node("bad", cpu_requests=math.nan) if backend == "sqlite" else node("bad\x00node")
    whole, usage = day_usage(DAY1, [node("good"), poisoned])
    with pytest.raises(StoreError, match="nothing of it was stored"):
        await store.save_window("prod", whole, usage)
    assert await store.usage() == []
    assert await store.node_usage() == []
    assert await store.completed_windows("prod", [DAY1]) == set()


POOLED = """
cluster: pooled
timezone: Asia/Shanghai
end: 2026-11-21T00:00
days: 3
node_pools:
  - {name: apps, count: 2, cpu: "4", memory: 16Gi}
  - {name: spare, count: 1, cpu: "2", memory: 8Gi}
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
    - kind: DaemonSet
      name: agent
      replicas: 3
      containers:
        - name: agent
          requests: {cpu: 10m, memory: 32Mi}
          cpu: {constant: 5m}
          memory: {constant: 20Mi}
"""
SHANGHAI_NOON_20TH = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
PEAK = PeakWindow.parse("10:00-11:30")


def pooled() -> SimulatedSource:
    return SimulatedSource(scenario_from_yaml(POOLED), now=SHANGHAI_NOON_20TH)


class NodesFailOnce:
    """The simulated source whose node query fails once, like a Prometheus that went away."""

    def __init__(self, source: SimulatedSource) -> None:
        self._source, self.failed = source, False

    @property
    def cluster(self) -> str:
        return self._source.cluster

    async def window_usage(self, window: DailyWindow) -> WindowUsage:
        return await self._source.window_usage(window)

    async def hpas(self, window: DailyWindow) -> list[HpaInfo]:
        return await self._source.hpas(window)

    async def workload_labels(self, window: DailyWindow) -> dict[WorkloadRef, dict[str, str]]:
        return await self._source.workload_labels(window)

    async def node_usage(self, window: DailyWindow) -> NodeWindowUsage:
        if not self.failed:
            self.failed = True
            raise PrometheusUnreachable("cannot reach Prometheus at http://127.0.0.1:1 (refused)")
        return await self._source.node_usage(window)


async def test_the_collector_stores_each_days_nodes_with_the_day(store: Store) -> None:
    source = pooled()
    windows = plan_windows(3, [PEAK], source.scenario.tz, SHANGHAI_NOON_20TH)
    report = await collect(source, store, windows, now=SHANGHAI_NOON_20TH)

    # Two whole days have ended (the 20th's has not): three nodes each, and only with them.
    done = [day for (day, name), o in report.outcomes.items() if name == DAY and o is Outcome.COLLECTED]
    assert done == [date(2026, 11, 18), date(2026, 11, 19)] and report.node_rows == 6
    stored = await store.node_usage("pooled")
    expected = [n for w in windows if w.name == DAY and w.day in done for n in source.nodes(w)[0]]
    assert stored == sorted(expected, key=lambda n: (n.node, n.day))
    assert [n.daemonset_only for n in stored if n.day == done[0]] == [False, False, True]
    assert {n.pool for n in stored} == {"apps", "spare"}


async def test_a_failed_node_query_leaves_the_day_incomplete_and_resumption_completes_it(
    store: Store,
) -> None:
    source = pooled()
    windows = plan_windows(2, [PEAK], source.scenario.tz, SHANGHAI_NOON_20TH, until=date(2026, 11, 19))
    failing = NodesFailOnce(source)
    with pytest.raises(PrometheusUnreachable):
        await collect(failing, store, windows, now=SHANGHAI_NOON_20TH)
    # The 18th's peak window was saved; its whole day failed on the node query: no row of it.
    first = date(2026, 11, 18)
    assert await store.completed_windows("pooled", [first]) == {(first, PEAK.name)}
    assert {p.window for p in await store.usage(cluster="pooled")} == {PEAK.name}
    assert await store.node_usage("pooled") == []

    resumed = await collect(failing, store, windows, now=SHANGHAI_NOON_20TH)
    assert resumed.count(Outcome.ALREADY_COMPLETE) == 1 and resumed.count(Outcome.COLLECTED) == 3
    assert [n.day for n in await store.node_usage("pooled", first, first)] == [first] * 3
    assert len(await store.node_usage("pooled")) == 6


async def test_the_demo_idle_pool_is_reported_idle_from_collected_data(store: Store) -> None:
    midnight = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)  # 2026-11-21 00:00 in Shanghai
    source = SimulatedSource(demo_scenario(), now=midnight)
    last = date(2026, 11, 20)
    windows = plan_windows(7, [], source.scenario.tz, midnight, until=last)
    report = await collect(source, store, windows, now=midnight)
    assert report.count(Outcome.COLLECTED) == 7 and report.warnings == []

    history = await store.node_usage("demo", last - timedelta(days=6), last)
    assert len(history) == 6 * 7
    found = idle_nodes(history, IdleNodeSettings(), last_day=last)
    assert [(n.node, n.pool, n.reason) for n in found] == [("batch-0", "batch", IdleReason.DAEMONSET_ONLY)]
    assert found[0].explanation.startswith("only DaemonSet pods ran on batch-0 on each of the 7 days")
