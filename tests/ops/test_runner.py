"""Tasks end to end on SQLite and PostgreSQL: submit, claim, execute on the in-memory cluster,
record runs and audit events; retries, misses, temporary scales, cancel/pause/resume."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kubecap.cluster.port import ClusterForbidden, ClusterUnreachable, WorkloadNotFound, forbidden_message
from kubecap.domain.audit import AuditFilter, AuditResult
from kubecap.domain.resources import ContainerResources
from kubecap.domain.tasks import Operation, OperationSpec, RunState, TaskError, TaskState
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.errors import ConfigError, NotFoundError
from kubecap.ops.runner import TaskRunner
from kubecap.ops.service import TaskService
from kubecap.store import Store
from kubecap.testing.cluster import InMemoryCluster
from tests.ops.conftest import START, Clock

WEB = WorkloadRef("c", "shop", WorkloadKind.DEPLOYMENT, "web")


def scale(replicas: int, **kwargs: object) -> OperationSpec:
    return OperationSpec(Operation.SCALE, WEB, replicas=replicas, **kwargs)  # type: ignore[arg-type]


async def test_a_scale_now_runs_once_and_is_audited(
    service: TaskService, runner: TaskRunner, cluster: InMemoryCluster, store: Store
) -> None:
    task = await service.submit(scale(2), actor="alice", cluster=cluster)
    runs = await runner.run_task(task.id)
    assert [(r.state, r.attempt) for r in runs] == [(RunState.SUCCEEDED, 1)]
    assert runs[0].result == {"replicas_before": 5, "replicas": 2}
    assert await runner.run_once() == []  # nothing left to do
    assert [c.argument for c in cluster.calls_for("scale")] == ["2"]
    assert (await store.task(task.id)).state is TaskState.DONE
    events = await store.audit_events(AuditFilter(action="scale"))
    assert [(e.actor, e.result, e.before, e.after) for e in events] == [
        ("alice", AuditResult.OK, {"replicas": 5}, {"replicas": 2})
    ]
    assert [e.action for e in await store.audit_events(AuditFilter(actor="alice"))] == ["task.add", "scale"]


async def test_restart_and_apply_resources(
    service: TaskService, runner: TaskRunner, cluster: InMemoryCluster
) -> None:
    await service.submit(OperationSpec(Operation.RESTART, WEB), actor="a")
    wanted = ContainerResources("app", {"cpu": "300m"}, {"memory": "1Gi"})
    await service.submit(OperationSpec(Operation.APPLY, WEB, resources=(wanted,)), actor="a")
    runs = await runner.run_once()
    assert [r.state for r in runs] == [RunState.SUCCEEDED, RunState.SUCCEEDED]
    workload = await cluster.get_workload(WEB)
    assert workload.template_annotations["kubectl.kubernetes.io/restartedAt"] == START.isoformat()
    assert workload.container("app") == wanted


async def test_bad_input_is_refused_before_anything_is_stored(
    service: TaskService, cluster: InMemoryCluster, store: Store
) -> None:
    with pytest.raises(WorkloadNotFound, match="nope"):
        await service.submit(
            OperationSpec(
                Operation.SCALE, WorkloadRef("c", "shop", WorkloadKind.DEPLOYMENT, "nope"), replicas=1
            ),
            actor="a",
            cluster=cluster,
        )
    with pytest.raises(TaskError, match="replicas must be 0 or more"):
        await service.submit(scale(-1), actor="a")
    with pytest.raises(TaskError, match="invalid cron"):
        await service.submit(scale(1), actor="a", cron="every night")
    with pytest.raises(TaskError, match="in the past"):
        await service.submit(scale(1), actor="a", at=START - timedelta(minutes=1))
    with pytest.raises(TaskError, match="unknown time zone"):
        await service.submit(scale(1), actor="a", cron="0 22 * * *", timezone="Moon/Base")
    assert await store.tasks() == []


async def test_a_daily_cron_runs_once_per_fire_time(
    service: TaskService, runner: TaskRunner, cluster: InMemoryCluster, clock: Clock
) -> None:
    task = await service.submit(scale(0), actor="a", cron="0 22 * * *", timezone="Europe/Berlin")
    fire = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
    assert task.next_run_at == fire
    clock.now = fire - timedelta(seconds=1)
    assert await runner.run_once() == []
    clock.now = fire + timedelta(seconds=3)
    assert [r.scheduled_for for r in await runner.run_once()] == [fire]
    assert await runner.run_once() == []
    clock.now = fire + timedelta(days=1, seconds=2)
    assert [r.scheduled_for for r in await runner.run_once()] == [fire + timedelta(days=1)]
    assert len(cluster.calls_for("scale")) == 2
    history = await service.history(task.id)
    assert history.task.state is TaskState.ACTIVE
    assert history.task.next_run_at == fire + timedelta(days=2)


async def test_runs_missed_while_down_follow_the_policy(
    service: TaskService, runner: TaskRunner, cluster: InMemoryCluster, clock: Clock, store: Store
) -> None:
    daily = await service.submit(scale(0), actor="a", cron="0 22 * * *", timezone="UTC")
    once = await service.submit(scale(1), actor="a", at=START + timedelta(hours=1))
    clock.now = datetime(2026, 11, 23, 22, 10, tzinfo=UTC)  # down for three days; 10 min late
    runs = await runner.run_once()
    by_task = {(r.task_id, r.state) for r in runs}
    assert by_task == {
        (daily.id, RunState.MISSED),
        (daily.id, RunState.SUCCEEDED),
        (once.id, RunState.MISSED),
    }
    missed = next(r for r in runs if r.task_id == daily.id and r.state is RunState.MISSED)
    assert "3 runs from 2026-11-20T22:00:00+00:00 were missed" in missed.message
    assert [c.argument for c in cluster.calls_for("scale")] == ["0"]  # caught up once, not four times
    assert (await store.task(once.id)).state is TaskState.MISSED
    assert len(await store.audit_events(AuditFilter(result=AuditResult.MISSED))) == 2


async def test_an_unreachable_cluster_is_retried_with_backoff_then_recorded_failed(
    service: TaskService, runner: TaskRunner, cluster: InMemoryCluster, clock: Clock, store: Store
) -> None:
    cluster.fail_next("scale", ClusterUnreachable("cannot reach the apiserver of cluster 'c'"), times=3)
    task = await service.submit(scale(2), actor="a", max_attempts=3)
    first = await runner.run_once()
    assert [(r.state, r.attempt) for r in first] == [(RunState.RETRY, 1)]
    assert "attempt 1 of 3 failed: cannot reach the apiserver" in first[0].message
    assert first[0].retry_at == START + timedelta(seconds=30)
    assert await runner.run_once() == []  # not before its retry time
    clock.advance(timedelta(seconds=30))
    assert [(r.state, r.attempt) for r in await runner.run_once()] == [(RunState.RETRY, 2)]
    clock.advance(timedelta(minutes=2))
    last = await runner.run_once()
    assert [(r.state, r.attempt) for r in last] == [(RunState.FAILED, 3)]
    assert last[0].message.startswith("failed after 3 attempts: cannot reach the apiserver")
    assert cluster.calls_for("scale") == []
    assert (await store.task(task.id)).state is TaskState.FAILED
    assert len(await store.task_runs(task.id)) == 1  # one run, three attempts


async def test_a_transient_failure_then_success(
    service: TaskService, runner: TaskRunner, cluster: InMemoryCluster, clock: Clock
) -> None:
    cluster.fail_next("scale", ClusterUnreachable("down"))
    await service.submit(scale(2), actor="a")
    await runner.run_once()
    clock.advance(timedelta(minutes=1))
    assert [(r.state, r.attempt) for r in await runner.run_once()] == [(RunState.SUCCEEDED, 2)]
    assert len(cluster.calls_for("scale")) == 1


async def test_forbidden_fails_at_once_naming_the_missing_permission(
    service: TaskService, runner: TaskRunner, cluster: InMemoryCluster
) -> None:
    message = forbidden_message("c", "patch", "deployments/scale", "shop")
    cluster.fail_next("scale", ClusterForbidden(message, verb="patch", resource="deployments/scale"))
    await service.submit(scale(2), actor="a")
    runs = await runner.run_once()
    assert [r.state for r in runs] == [RunState.FAILED]
    assert "grant the verb 'patch' on 'deployments/scale'" in runs[0].message


async def test_a_temporary_scale_scales_back_at_its_expiry(
    service: TaskService, runner: TaskRunner, cluster: InMemoryCluster, clock: Clock, store: Store
) -> None:
    until = START + timedelta(hours=2)
    await service.submit(scale(10, revert_at=until), actor="a")
    await runner.run_once()
    follow_up = [t for t in await store.tasks() if t.note]
    assert [(t.spec.replicas, t.next_run_at) for t in follow_up] == [(5, until)]
    clock.now = until
    await runner.run_once()
    assert [c.argument for c in cluster.calls_for("scale")] == ["10", "5"]


async def test_cancel_pause_resume(
    service: TaskService, runner: TaskRunner, cluster: InMemoryCluster, clock: Clock
) -> None:
    task = await service.submit(scale(0), actor="a", cron="0 * * * *")
    paused = await service.pause(task.id, actor="b")
    assert paused.state is TaskState.PAUSED
    clock.advance(timedelta(hours=3))
    assert await runner.run_once() == []  # paused: fire times are skipped
    resumed = await service.resume(task.id, actor="b")
    assert resumed.next_run_at == datetime(
        2026, 11, 20, 16, 0, tzinfo=UTC
    )  # the next one, not the skipped ones
    cancelled = await service.cancel(task.id, actor="b")
    assert (cancelled.state, cancelled.next_run_at) == (TaskState.CANCELLED, None)
    clock.advance(timedelta(days=1))
    assert await runner.run_once() == []
    with pytest.raises(ConfigError, match=r"task \d+ is cancelled; only active tasks can become paused"):
        await service.pause(task.id, actor="b")
    with pytest.raises(NotFoundError, match="task 999 does not exist"):
        await service.cancel(999, actor="b")
    assert cluster.calls == []
