"""save_window: every figure survives, re-saving is an upsert, and a failure stores nothing."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, select

from kubecap.domain.usage import UsageProfile
from kubecap.domain.window import DAY
from kubecap.domain.workload import WorkloadKind
from kubecap.errors import StoreError
from kubecap.ports import UsageStore, WindowUsage
from kubecap.store import RunStatus, Store, normalise_url
from kubecap.store.schema import Workload
from kubecap.store.usage_repo import CHUNK_ROWS

from .builders import DAY1, DAY2, FIGURES, empty_profile, profile, ref, window


def test_the_store_is_a_usage_store(store: Store) -> None:
    port: UsageStore = store  # checked by mypy: Store honours the port
    assert port is store


async def test_every_figure_round_trips_including_none(store: Store) -> None:
    full = profile(ref("api"), "app", seed=3.5)
    huge = replace(profile(ref("api"), "sidecar"), mem_max=64 * 2.0**30 + 0.5, cpu_p99=1e-9)
    empty = empty_profile(ref("api", kind=WorkloadKind.STATEFULSET), "db")
    assert all(getattr(full, name) is not None for name in FIGURES)

    await store.save_window("prod", window(), WindowUsage([full, huge, empty]))

    assert await store.usage() == [full, huge, empty]
    stored_empty = (await store.usage(namespace="shop"))[2]
    assert all(getattr(stored_empty, name) is None for name in FIGURES if name != "samples")
    assert stored_empty.samples == 0


async def test_saving_the_same_window_twice_changes_nothing(store: Store) -> None:
    rows = [profile(ref(f"w{i}"), container, seed=i) for i in range(3) for container in ("app", "proxy")]
    await store.save_window("prod", window(), WindowUsage(rows, queries=9))
    first = await store.usage()
    await store.save_window("prod", window(), WindowUsage(list(reversed(rows)), queries=9))

    assert await store.usage() == first == sorted(rows, key=lambda p: (p.workload, p.container))
    runs = await store.runs("prod")
    assert [(r.day, r.window, r.status, r.rows, r.queries) for r in runs] == [
        (DAY1, "10:00-11:30", RunStatus.COMPLETE, 6, 9)
    ]


async def test_saving_again_replaces_the_old_figures(store: Store) -> None:
    before = profile(ref("api"), seed=1)
    other_day = profile(ref("api"), on=window(DAY2), seed=1)
    await store.save_window("prod", window(), WindowUsage([before]))
    await store.save_window("prod", window(DAY2), WindowUsage([other_day]))

    after = replace(before, cpu_p95=7.25, mem_limit=None, samples=1)
    await store.save_window("prod", window(), WindowUsage([after]))

    assert await store.usage() == [after, other_day]


async def test_a_failure_half_way_stores_nothing_and_marks_nothing(store: Store) -> None:
    # More rows than one statement takes, so the first chunk is written before the bad row
    # fails the CHECK (samples >= 0) in a later one: only the rollback can remove it.
    good = [profile(ref(f"w{i:05d}"), seed=1) for i in range(CHUNK_ROWS + 10)]
    bad = replace(profile(ref("zz-last")), samples=-1)
    with pytest.raises(StoreError) as caught:
        await store.save_window("prod", window(), WindowUsage([*good, bad]))

    message = str(caught.value)
    assert message.startswith(
        "saving window 10:00-11:30 of 2026-03-02 for cluster 'prod' failed on the database at"
    )
    assert message.endswith("; nothing of it was stored, and collecting it again retries it")
    assert "\n" not in message
    assert caught.value.__cause__ is not None
    assert await store.usage() == []
    assert await store.clusters() == []
    assert await store.runs("prod") == []
    assert await store.completed_windows("prod", [DAY1]) == set()


async def test_a_failed_resave_keeps_the_earlier_rows_and_their_completion(store: Store) -> None:
    earlier = [profile(ref(f"w{i:05d}"), seed=1) for i in range(CHUNK_ROWS + 10)]
    await store.save_window("prod", window(), WindowUsage(earlier, queries=4))
    runs_before = await store.runs("prod")

    changed = [replace(p, cpu_p95=99.0) for p in earlier]
    with pytest.raises(StoreError):
        await store.save_window(
            "prod", window(), WindowUsage([*changed, replace(profile(ref("zz")), samples=-1)])
        )

    assert await store.usage() == earlier
    assert await store.runs("prod") == runs_before


async def test_profiles_of_another_window_or_twice_the_same_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="does not belong to window"):
        await store.save_window("prod", window(), WindowUsage([profile(ref(cluster="staging"))]))
    with pytest.raises(ValueError, match="does not belong to window"):
        await store.save_window("prod", window(), WindowUsage([profile(on=window(DAY1, DAY))]))
    with pytest.raises(ValueError, match="appears twice"):
        await store.save_window("prod", window(), WindowUsage([profile(), profile(seed=2)]))
    assert await store.clusters() == []


async def test_an_empty_window_is_still_complete(store: Store) -> None:
    await store.save_window("prod", window(), WindowUsage([], queries=3, warnings=["no pods"]))
    assert await store.completed_windows("prod", [DAY1]) == {(DAY1, "10:00-11:30")}
    assert await store.clusters() == ["prod"]


async def test_workloads_remember_the_span_of_data_seen(store: Store, database_url: str) -> None:
    # Collected out of order, as a backfill may: the span only ever widens.
    late, early, earliest = window(DAY2), window(DAY1), window(DAY1, DAY)
    for each, span in (
        (late, (late.start, late.end)),
        (early, (early.start, late.end)),
        (earliest, (earliest.start, late.end)),
    ):
        await store.save_window("prod", each, WindowUsage([profile(on=each)]))
        assert await seen_span(database_url) == span


async def seen_span(database_url: str) -> tuple[datetime, datetime]:
    engine = create_engine(normalise_url(database_url)[0])
    try:
        with engine.connect() as connection:
            (span,) = connection.execute(select(Workload.first_seen, Workload.last_seen)).all()
    finally:
        engine.dispose()
    assert span[0].tzinfo is UTC
    return span[0], span[1]


async def test_concurrent_saves_of_different_windows_both_land(store: Store) -> None:
    one, two = window(DAY1), window(DAY2)
    rows_one = [profile(ref(f"a{i}"), on=one) for i in range(300)]
    rows_two = [profile(ref(f"a{i}"), on=two) for i in range(300)]
    await asyncio.gather(
        store.save_window("prod", one, WindowUsage(rows_one)),
        store.save_window("prod", two, WindowUsage(rows_two)),
    )
    assert len(await store.usage()) == 600
    assert await store.completed_windows("prod", [DAY1, DAY2]) == {(DAY1, one.name), (DAY2, two.name)}


async def test_fifty_thousand_rows_are_saved_in_one_window(store: Store) -> None:
    kinds = list(WorkloadKind)
    rows = [
        UsageProfile(
            ref(f"app-{i:05d}", namespace=f"team-{i % 40:02d}", kind=kinds[i % 3]),
            container,
            DAY1,
            DAY,
            cpu_p95=i / 1000,
            mem_max=float(i * 1024),
            samples=1440,
        )
        for i in range(10_000)
        for container in ("app", "istio-proxy", "log", "metrics", "init-sync")
    ]
    assert len(rows) == 50_000
    await store.save_window("prod", window(DAY1, DAY), WindowUsage(rows, queries=12))

    stored = await store.usage()
    assert len(stored) == 50_000
    assert sorted(rows, key=UsageProfile.key) == sorted(stored, key=UsageProfile.key)
    (run,) = await store.runs("prod")
    assert (run.status, run.rows, run.queries) == (RunStatus.COMPLETE, 50_000, 12)
