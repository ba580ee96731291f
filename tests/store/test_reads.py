"""Reads: clusters and usage history with filters, in one stable order on both backends."""

from __future__ import annotations

import random
from collections.abc import Callable

from kubecap.domain.usage import UsageProfile
from kubecap.domain.window import DAY
from kubecap.domain.workload import WorkloadKind
from kubecap.ports import WindowUsage
from kubecap.store import Store

from .builders import DAY1, DAY2, DAY3, PEAK, profile, ref, window

KINDS = list(WorkloadKind)


def history() -> list[UsageProfile]:
    """Two clusters, names that sort differently by bytes and by locale, three days, two windows."""
    rows = []
    for cluster in ("prod", "edge-b", "edge"):
        for day in (DAY1, DAY2, DAY3):
            for name in (PEAK, DAY):
                for namespace in ("shop", "Shop-2", "shop-1"):
                    for kind in KINDS:
                        for workload in ("web", "web-a", "weba", "Web"):
                            for container in ("app", "app-x", "appx"):
                                rows.append(
                                    profile(
                                        ref(workload, namespace, kind, cluster), container, window(day, name)
                                    )
                                )
    return rows


def byte_order(p: UsageProfile) -> tuple[str, str, str, str, str, str, str]:
    w = p.workload
    return (w.cluster, w.namespace, w.kind.value, w.name, p.container, p.day.isoformat(), p.window)


async def save(store: Store, rows: list[UsageProfile]) -> None:
    groups: dict[tuple[str, object, str], list[UsageProfile]] = {}
    for row in rows:
        groups.setdefault((row.workload.cluster, row.day, row.window), []).append(row)
    for (cluster, _, _), group in groups.items():
        await store.save_window(cluster, window(group[0].day, group[0].window), WindowUsage(group))


async def test_usage_is_ordered_by_cluster_namespace_kind_name_container_day_window(store: Store) -> None:
    rows = history()
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    await save(store, shuffled)

    stored = await store.usage()
    assert stored == sorted(rows, key=byte_order)
    assert await store.clusters() == ["edge", "edge-b", "prod"]


async def test_usage_filters_combine(store: Store) -> None:
    rows = history()
    await save(store, rows)

    def expect(keep: Callable[[UsageProfile], bool]) -> list[UsageProfile]:
        return sorted(filter(keep, rows), key=byte_order)

    assert await store.usage(cluster="edge") == expect(lambda r: r.workload.cluster == "edge")
    assert await store.usage(namespace="shop-1") == expect(lambda r: r.workload.namespace == "shop-1")
    assert await store.usage(window=DAY) == expect(lambda r: r.window == DAY)
    assert await store.usage(since=DAY2) == expect(lambda r: r.day >= DAY2)
    assert await store.usage(until=DAY2) == expect(lambda r: r.day <= DAY2)
    assert await store.usage(since=DAY2, until=DAY2) == expect(lambda r: r.day == DAY2)
    assert await store.usage(cluster="prod", namespace="Shop-2", window=PEAK, since=DAY3) == expect(
        lambda r: (
            (r.workload.cluster, r.workload.namespace, r.window) == ("prod", "Shop-2", PEAK) and r.day >= DAY3
        )
    )
    assert await store.usage(cluster="nowhere") == []
    assert await store.usage(since=DAY3, until=DAY1) == []


async def test_an_empty_store_reads_empty(store: Store) -> None:
    assert await store.clusters() == []
    assert await store.usage() == []
