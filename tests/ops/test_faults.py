"""Apiserver faults as a task run sees them: the task runner over the lightkube adapter and the
fake apiserver on 127.0.0.1 (409 retried, 403 naming the missing permission, unreachable
recorded and retried per policy), on a real store."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from kubecap.cluster.kube import KubeCluster, KubeOptions
from kubecap.domain.tasks import Operation, OperationSpec, RunState, TaskState
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.ops.runner import TaskRunner
from kubecap.ops.service import TaskService
from kubecap.store import Store
from kubecap.testing.apiserver import FakeApiServer
from tests.ops.conftest import START, Clock

WEB = WorkloadRef("c", "shop", WorkloadKind.DEPLOYMENT, "web")


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer() as running:
        running.add_workload("shop", "web", replicas=5)
        yield running


def options(kubeconfig: Path) -> KubeOptions:
    return KubeOptions(cluster="c", kubeconfig=kubeconfig, retries=1, backoff_s=0.01)


@pytest.fixture
async def kube(server: FakeApiServer, tmp_path: Path) -> AsyncIterator[KubeCluster]:
    async with KubeCluster.connect(options(server.write_kubeconfig(tmp_path / "kc"))) as cluster:
        yield cluster


async def test_a_conflict_is_retried_and_the_scale_lands_once(
    store: Store, service: TaskService, clock: Clock, server: FakeApiServer, kube: KubeCluster
) -> None:
    server.fail("PATCH", r"/deployments/web/scale$", 409)
    runner = TaskRunner(store, lambda _name: kube, clock=clock)
    await service.submit(OperationSpec(Operation.SCALE, WEB, replicas=2), actor="a")
    first = await runner.run_once()
    assert [r.state for r in first] == [RunState.RETRY]
    assert "changed during the update" in first[0].message
    clock.advance(timedelta(minutes=1))
    assert [(r.state, r.attempt) for r in await runner.run_once()] == [(RunState.SUCCEEDED, 2)]
    assert server.get("deployments", "shop", "web")["spec"]["replicas"] == 2


async def test_a_forbidden_annotation_names_the_missing_permission(
    store: Store, service: TaskService, clock: Clock, server: FakeApiServer, kube: KubeCluster
) -> None:
    server.fail("PATCH", r"/deployments/web$", 403)
    runner = TaskRunner(store, lambda _name: kube, clock=clock)
    spec = OperationSpec(Operation.SCALE, WEB, replicas=9, revert_at=START + timedelta(hours=1))
    task = await service.submit(spec, actor="a")
    runs = await runner.run_once()
    assert [r.state for r in runs] == [RunState.FAILED]
    assert "grant the verb 'patch' on 'deployments'" in runs[0].message
    assert server.get("deployments", "shop", "web")["spec"]["replicas"] == 5  # nothing half done
    assert [t.id for t in await store.tasks(state=TaskState.ACTIVE)] == []  # and nothing to end later
    assert (await store.task(task.id)).state is TaskState.FAILED


async def test_an_unreachable_apiserver_is_recorded_and_retried_per_policy(
    store: Store, service: TaskService, clock: Clock, tmp_path: Path
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    kubeconfig = tmp_path / "kc"
    with FakeApiServer() as other:  # a kubeconfig format we trust, pointed at a port nobody serves
        other.write_kubeconfig(kubeconfig)
    kubeconfig.write_text(kubeconfig.read_text().replace(other.url, f"http://127.0.0.1:{port}"))
    async with KubeCluster.connect(options(kubeconfig)) as kube:
        runner = TaskRunner(store, lambda _name: kube, clock=clock)
        task = await service.submit(OperationSpec(Operation.RESTART, WEB), actor="a", max_attempts=2)
        first = await runner.run_once()
        assert [r.state for r in first] == [RunState.RETRY]
        assert "cannot reach the apiserver of cluster 'c'" in first[0].message
        clock.advance(timedelta(minutes=5))
        last = await runner.run_once()
    assert [(r.state, r.attempt) for r in last] == [(RunState.FAILED, 2)]
    assert last[0].message.startswith("failed after 2 attempts: cannot reach the apiserver")
    assert (await store.task(task.id)).state is TaskState.FAILED
