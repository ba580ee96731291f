"""The recommender's store calls on both backends: history as columns, and the recommendations table."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import numpy as np
import pytest

from kubecap.domain.container import ContainerRef
from kubecap.domain.recommendation import (
    Bounds,
    Recommendation,
    ReplicaAdvice,
    Resources,
    Risk,
    Savings,
    Status,
)
from kubecap.domain.usage import UsageProfile
from kubecap.domain.window import DAY
from kubecap.domain.workload import WorkloadKind
from kubecap.errors import NotFoundError
from kubecap.ports import WindowUsage
from kubecap.store import Store

from .builders import DAY1, DAY2, DAY3, PEAK, empty_profile, profile, ref, window

AT = datetime(2026, 3, 5, 8, 30, tzinfo=UTC)


def recommendation(strategy: str = "kubecap", container: str = "app", **changes: object) -> Recommendation:
    rec = Recommendation(
        ref=ContainerRef(ref(), container),
        strategy=strategy,
        settings={"days": 14, "cpu_percentile": 99.0, "label": "ünïcode"},
        computed_at=AT,
        window=PEAK,
        first_day=DAY1,
        last_day=DAY3,
        days=3,
        status=Status.OK,
        target=Resources(0.34, None, 300 * 2**20, 400 * 2**20),
        current=Resources(1.0, 2.0, 2**30, None),
        bounds=Bounds(0.1, 0.5, None, None),
        confidence=0.25,
        explanation="CPU request 340m = highest daily 10:00-11:30 P95 of the last 3 days (2026-03-03), no margin.",
        savings=Savings(1234.5, -10.25, 38.9),
        risk=Risk(0.0125, 1, 0, 3, None, 2.0),
        replicas=ReplicaAdvice(current=3.0, replicas=2, explanation="peak total CPU 600m ... needs 2"),
    )
    return replace(rec, **changes)  # type: ignore[arg-type]


async def save_history(store: Store, rows: list[UsageProfile]) -> None:
    for day in sorted({r.day for r in rows}):
        for name in (PEAK, DAY):
            chosen = [r for r in rows if r.day == day and r.window == name]
            if chosen:
                await store.save_window("prod", window(day, name), WindowUsage(chosen))


async def test_recommendations_round_trip(store: Store) -> None:
    await save_history(store, [profile(on=window(DAY1))])
    hpa = recommendation(
        strategy="vpa",
        replicas=ReplicaAdvice(current=None, hpa_min=2, hpa_max=7, explanation="HPA web ..."),
        status=Status.NOT_ENOUGH_DATA,
    )
    plain = recommendation(replicas=None, bounds=Bounds(), savings=Savings())
    assert await store.save_recommendations([plain, hpa]) == 2
    assert await store.recommendations() == [plain, hpa]
    assert await store.recommendations(strategy="vpa") == [hpa]
    assert await store.recommendations(cluster="other") == []
    assert await store.recommendations(namespace="shop") == [plain, hpa]


async def test_a_new_run_of_a_strategy_replaces_its_rows_only(store: Store) -> None:
    await save_history(store, [profile(on=window(DAY1))])
    await store.save_recommendations([recommendation(), recommendation("peak")])
    newer = recommendation(computed_at=AT.replace(day=6), target=Resources(0.2, None, None, None))
    await store.save_recommendations([newer])
    assert await store.recommendations() == [newer, recommendation("peak")]


async def test_an_unknown_workload_is_refused_and_nothing_is_stored(store: Store) -> None:
    await save_history(store, [profile(on=window(DAY1))])
    stranger = replace(recommendation(), ref=ContainerRef(ref("nowhere"), "app"))
    with pytest.raises(NotFoundError, match="workload prod/shop/Deployment/nowhere has no usage history"):
        await store.save_recommendations([recommendation(), stranger])
    assert await store.recommendations() == []


async def test_usage_columns_hold_the_same_values_as_the_profiles(store: Store) -> None:
    rows = [
        profile(ref(name), container, window(day, name_w), seed=seed)
        for seed, (name, container, day, name_w) in enumerate(
            [
                ("web", "app", DAY1, PEAK),
                ("web", "app", DAY1, DAY),
                ("web", "proxy", DAY2, DAY),
                ("db", "postgres", DAY3, DAY),
            ],
            start=1,
        )
    ]
    rows.append(empty_profile(ref("web", kind=WorkloadKind.STATEFULSET), "app", window(DAY2)))
    await save_history(store, rows)
    columns = await store.usage_columns()
    assert len(columns) == len(rows)
    expected = {p.key(): p for p in rows}
    for i in range(len(columns)):
        container = columns.containers[columns.container[i]]
        day = columns.day[i].astype(date)
        key = (container.workload, container.container, day, columns.windows[columns.window[i]])
        for name in UsageProfile.figure_names():
            value = getattr(expected[key], name)
            stored = columns.figures[name][i]
            assert (np.isnan(stored) and value is None) or stored == value, (key, name)


async def test_usage_columns_filter_and_pick_figures(store: Store) -> None:
    rows = [
        profile(ref("web"), "app", window(day, name)) for day in (DAY1, DAY2, DAY3) for name in (PEAK, DAY)
    ]
    await save_history(store, rows)
    picked = await store.usage_columns(since=DAY2, until=DAY2, windows=[DAY], figures=["cpu_p95", "samples"])
    assert len(picked) == 1 and set(picked.figures) == {"cpu_p95", "samples"}
    assert picked.day[0] == np.datetime64(DAY2)
    assert len(await store.usage_columns(cluster="other")) == 0
    assert len(await store.usage_columns(namespace="shop", windows=[PEAK])) == 3
    assert await store.usage_span() == (DAY1, DAY3)
    assert await store.usage_span(cluster="other") is None
