"""Collection runs: which windows are complete, and failures that never undo a completion."""

from __future__ import annotations

from datetime import UTC

from kubecap.domain.window import DAY
from kubecap.ports import WindowUsage
from kubecap.store import CollectionRun, RunStatus, Store

from .builders import DAY1, DAY2, DAY3, PEAK, profile, window


async def test_completed_windows_lists_only_complete_windows_of_the_asked_days(store: Store) -> None:
    for day in (DAY1, DAY2, DAY3):
        await store.save_window("prod", window(day), WindowUsage([profile(on=window(day))]))
    await store.save_window("prod", window(DAY1, DAY), WindowUsage([]))
    await store.save_window("staging", window(DAY2, DAY), WindowUsage([]))
    await store.record_failure("prod", window(DAY2, DAY), "Prometheus timed out")

    assert await store.completed_windows("prod", [DAY1, DAY2]) == {(DAY1, PEAK), (DAY1, DAY), (DAY2, PEAK)}
    assert await store.completed_windows("prod", [DAY3, DAY3]) == {(DAY3, PEAK)}
    assert await store.completed_windows("prod", []) == set()
    assert await store.completed_windows("staging", [DAY1, DAY2, DAY3]) == {(DAY2, DAY)}
    assert await store.completed_windows("nowhere", [DAY1]) == set()


async def test_runs_record_counts_warnings_and_utc_times(store: Store) -> None:
    rows = [profile(container=c) for c in ("app", "proxy")]
    await store.save_window(
        "prod", window(), WindowUsage(rows, queries=11, warnings=["no kube-state-metrics", "gap"])
    )

    (run,) = await store.runs("prod")
    assert (run.cluster, run.day, run.window, run.status) == ("prod", DAY1, PEAK, RunStatus.COMPLETE)
    assert (run.rows, run.queries, run.message) == (2, 11, "no kube-state-metrics\ngap")
    assert run.started_at.tzinfo is UTC and run.finished_at.tzinfo is UTC
    assert run.started_at <= run.finished_at
    assert await store.runs("nowhere") == []


async def test_a_failure_is_recorded_and_a_later_success_replaces_it(store: Store) -> None:
    await store.record_failure("prod", window(), "Prometheus at http://prom:9090 is unreachable")
    (failed,) = await store.runs("prod")
    assert (failed.status, failed.rows, failed.message) == (
        RunStatus.FAILED,
        0,
        "Prometheus at http://prom:9090 is unreachable",
    )
    assert await store.completed_windows("prod", [DAY1]) == set()

    await store.record_failure("prod", window(), "still unreachable")
    assert [r.message for r in await store.runs("prod")] == ["still unreachable"]

    await store.save_window("prod", window(), WindowUsage([profile()], queries=5))
    (done,) = await store.runs("prod")
    assert (done.status, done.rows, done.queries, done.message) == (RunStatus.COMPLETE, 1, 5, "")
    assert await store.completed_windows("prod", [DAY1]) == {(DAY1, PEAK)}


async def test_a_failed_retry_never_downgrades_a_complete_window(store: Store) -> None:
    rows = [profile()]
    await store.save_window("prod", window(), WindowUsage(rows, queries=5))
    (complete,) = await store.runs("prod")

    await store.record_failure("prod", window(), "Prometheus timed out")

    (after,) = await store.runs("prod")
    assert after == CollectionRun(
        cluster=complete.cluster,
        day=complete.day,
        window=complete.window,
        status=RunStatus.COMPLETE,
        started_at=complete.started_at,
        finished_at=complete.finished_at,
        rows=complete.rows,
        queries=complete.queries,
        message="latest retry failed: Prometheus timed out",
    )
    assert await store.completed_windows("prod", [DAY1]) == {(DAY1, PEAK)}
    assert await store.usage() == rows


async def test_a_failure_of_a_new_cluster_registers_the_cluster(store: Store) -> None:
    await store.record_failure("edge", window(DAY2, DAY), "no series")
    assert await store.clusters() == ["edge"]
    assert [(r.day, r.window, r.status) for r in await store.runs("edge")] == [(DAY2, DAY, RunStatus.FAILED)]
