"""The loops' steps against a real SQLite store: collection resumes and recommends once per news,
due tasks run exactly once across two replicas' runners, the plan lists what is enabled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kubecap import wiring
from kubecap.background import plan
from kubecap.background.steps import Collection, StepFailed, each, refresh_all
from kubecap.cluster.port import ClusterError
from kubecap.config import BackgroundSettings, load_settings
from kubecap.domain.tasks import Operation, OperationSpec
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.ops.runner import TaskRunner
from kubecap.ops.service import TaskService
from kubecap.store import Store, upgrade_database
from kubecap.testing.scenario_cluster import scenario_cluster


def now() -> datetime:
    return datetime.now(UTC)


async def test_collection_collects_new_windows_once_and_recommends_after_news(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kubecap.db'}"
    upgrade_database(url)
    settings = load_settings(None, database_url=url, clusters=[wiring.demo_cluster()])
    refreshed: list[int] = []

    async def refresh() -> None:
        refreshed.append(1)

    async with await Store.open(url) as store:
        step = Collection(
            store, list(settings.clusters), 2, "kubecap", wiring.usage_source, now, refresh_hook=refresh
        )
        await step.collect()
        assert step.collected >= 2  # yesterday's peak window and whole day at least
        await step.recommend()
        first = await store.recommendations(strategy="kubecap")
        assert first and step.collected == 0
        await step.refresh()
        await step.collect()  # nothing new has ended: nothing collected again
        assert step.collected == 0
        await step.recommend()  # and nothing recomputed
        assert [r.computed_at for r in await store.recommendations(strategy="kubecap")] == [
            r.computed_at for r in first
        ]
        assert refreshed == [1]


async def test_a_due_task_runs_exactly_once_across_two_runners(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kubecap.db'}"
    upgrade_database(url)
    cluster = scenario_cluster(wiring.scenario(wiring.DEMO_SCENARIO))
    target = WorkloadRef(cluster.name, "shop", WorkloadKind.DEPLOYMENT, "frontend")
    async with await Store.open(url) as store:
        task = await TaskService(store).submit(
            OperationSpec(Operation.SCALE, target, replicas=7), actor="tests"
        )
        runners = [TaskRunner(store, lambda _name: cluster, runner_id=f"r{i}") for i in range(2)]
        parts = [plan.Parts(run_tasks=r.run_once) for r in runners]
        loops = [plan.loops(BackgroundSettings(), p)[0] for p in parts]
        for loop in loops:
            for step in loop.steps:
                await step.run()
        runs = await store.task_runs(task.id)
        assert [r.state.value for r in runs] == ["succeeded"]
        assert cluster.workloads[target].replicas == 7
        assert loops[0].name == "tasks" and loops[0].leader_only


def test_the_plan_lists_enabled_loops_with_parts() -> None:
    async def nothing() -> None:
        return None

    settings = BackgroundSettings.model_validate(
        {"tasks": {"interval_seconds": 2}, "node_load": {"enabled": False}}
    )
    loops = plan.loops(settings, plan.Parts(run_tasks=nothing, node_loads={"x": object()}))  # type: ignore[dict-item]
    assert [(loop.name, loop.interval_s) for loop in loops] == [("tasks", 2.0)]
    assert timedelta(seconds=settings.leader.lease_seconds) > timedelta(seconds=settings.leader.renew_seconds)


class Round:
    def __init__(self, failures: dict[str, str] | None = None, error: Exception | None = None) -> None:
        self.failures = failures or {}
        self.error = error
        self.calls = 0

    async def run_once(self) -> Round:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self

    async def refresh(self, *, force: bool = False) -> None:
        await self.run_once()


async def test_taint_rounds_and_node_load_refreshes_name_every_failing_cluster() -> None:
    good, reported, raised = Round(), Round({"list-nodes": "forbidden"}), Round(error=ClusterError("gone"))
    with pytest.raises(StepFailed) as failed:
        await each({"a": good, "b": reported, "c": raised})
    assert (good.calls, reported.calls, raised.calls) == (1, 1, 1)  # one failure does not skip the others
    assert str(failed.value) == "cluster 'b', step list-nodes: forbidden; cluster 'c': gone"
    await each({"a": good})
    with pytest.raises(StepFailed, match="node load: cluster 'c': gone"):
        await refresh_all({"a": good, "c": raised})


def test_the_taint_loop_runs_only_when_enabled_and_only_on_the_leader() -> None:
    parts = plan.Parts(taints={"prod": Round()})
    assert plan.loops(BackgroundSettings(), parts) == []
    enabled = BackgroundSettings.model_validate({"taints": {"enabled": True}})
    (loop,) = plan.loops(enabled, parts)
    assert (loop.name, loop.leader_only, [s.name for s in loop.steps]) == ("taints", True, ["taint-round"])


def test_collection_runs_on_the_leader_and_summaries_on_every_replica() -> None:
    async def nothing() -> None:
        return None

    step = Collection(None, [], 1, "kubecap", wiring.usage_source, now)  # type: ignore[arg-type]
    loops = plan.loops(BackgroundSettings(), plan.Parts(collection=step, refresh_summaries=nothing))
    assert [(loop.name, loop.leader_only) for loop in loops] == [("collection", True), ("summaries", False)]
    assert [s.name for s in loops[0].steps] == ["collect", "recommend", "refresh-summaries"]


def test_predictive_replicas_run_on_the_leader_when_a_cluster_api_is_there() -> None:
    rounds: list[int] = []

    async def predict_round() -> None:
        rounds.append(1)

    assert plan.loops(BackgroundSettings(), plan.Parts()) == []
    (loop,) = plan.loops(BackgroundSettings(), plan.Parts(predict_round=predict_round))
    assert (loop.name, loop.leader_only, loop.interval_s) == ("predict", True, 300.0)
    assert [s.name for s in loop.steps] == ["predict-round"]
    off = BackgroundSettings.model_validate({"predict": {"enabled": False}})
    assert plan.loops(off, plan.Parts(predict_round=predict_round)) == []
