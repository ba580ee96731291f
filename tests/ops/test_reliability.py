"""Reliability on PostgreSQL: runners racing, a runner killed mid-run, a notification endpoint down.

These run against the real PostgreSQL server (see tests/store/conftest.py) and real
processes and sockets on 127.0.0.1; they assert on task_runs and on what reached the cluster.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from kubecap.cluster.kube import KubeCluster, KubeOptions
from kubecap.domain.audit import AuditFilter, AuditResult
from kubecap.domain.notifications import Channel
from kubecap.domain.tasks import Operation, OperationSpec, RunState
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.ops.notify import Notifier
from kubecap.ops.runner import RunnerOptions, TaskRunner
from kubecap.ops.service import TaskService
from kubecap.store import Store
from kubecap.testing.apiserver import FakeApiServer
from kubecap.testing.cluster import InMemoryCluster

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("backend", ["postgresql"])]
TASKS = 300


async def test_two_runners_racing_execute_every_run_exactly_once(database_url: str) -> None:
    cluster = InMemoryCluster(name="c")
    refs = [cluster.add_workload("race", f"w{i:03d}", replicas=3) for i in range(TASKS)]
    now = datetime.now(UTC)
    async with await Store.open(database_url) as setup:
        service = TaskService(setup, clock=lambda: now - timedelta(minutes=1))
        for index, ref in enumerate(refs):
            operation = Operation.SCALE if index % 2 else Operation.RESTART
            replicas = index % 4 if operation is Operation.SCALE else None
            await service.submit(OperationSpec(operation, ref, replicas=replicas), actor="race")
    # Two runners, each with its own engine and connections, as two replicas would have.
    async with await Store.open(database_url) as one, await Store.open(database_url) as two:
        runners = [
            TaskRunner(store, lambda _name: cluster, runner_id=name, clock=lambda: now)
            for store, name in ((one, "runner-one"), (two, "runner-two"))
        ]
        results = await asyncio.gather(*(r.run_once() for r in runners))
        runs = [run for result in results for run in result]
        assert len(runs) == TASKS
        assert all(r.state is RunState.SUCCEEDED for r in runs)
        assert {r.runner for r in runs} == {"runner-one", "runner-two"}  # both really took part
        stored = [run for task in await one.tasks() for run in await one.task_runs(task.id)]
    assert len(stored) == TASKS
    assert Counter(r.task_id for r in stored).most_common(1)[0][1] == 1
    assert all(r.state is RunState.SUCCEEDED and r.attempt == 1 for r in stored)
    reached = Counter(c.target for c in cluster.calls)
    assert len(reached) == TASKS and set(reached.values()) == {1}


def kubecap(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBECAP_")}
    return subprocess.Popen(
        [sys.executable, "-m", "kubecap.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_a_runner_killed_mid_run_never_runs_it_twice(database_url: str, tmp_path: Path) -> None:
    with FakeApiServer() as server:
        for name in ("a", "b", "c"):
            server.add_workload("shop", name, replicas=4)
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        now = datetime.now(UTC)
        async with await Store.open(database_url) as store:
            service = TaskService(store, clock=lambda: now - timedelta(seconds=5))
            tasks = [
                await service.submit(
                    OperationSpec(
                        Operation.SCALE, WorkloadRef("c", "shop", WorkloadKind.DEPLOYMENT, n), replicas=1
                    ),
                    actor="test",
                )
                for n in ("a", "b", "c")
            ]
            # The runner process gets stuck in the middle of the first scale; we kill it there.
            hold = server.hold("PATCH", r"/deployments/a/scale$")
            process = kubecap(
                "tasks", "run", "--once", "--cluster", "c", "--kubeconfig", str(kubeconfig),
                "--database-url", database_url,
            )  # fmt: skip
            try:
                arrived = await asyncio.to_thread(hold.arrived.wait, 60)
                assert arrived, process.communicate(timeout=10)
            finally:
                process.send_signal(signal.SIGKILL)
                process.communicate(timeout=30)
            hold.release()
            assert server.count("PATCH", r"/deployments/a/scale$") == 1
            # A new runner after the restart; the dead runner's lease has run out by then.
            later = now + RunnerOptions().lease + timedelta(minutes=1)
            async with KubeCluster.connect(KubeOptions(cluster="c", kubeconfig=kubeconfig)) as cluster:
                runner = TaskRunner(
                    store, lambda _name: cluster, runner_id="after-restart", clock=lambda: later
                )
                finished = await runner.run_once()
                assert await runner.run_once() == []
            states = {r.task_id: r.state for r in finished}
            assert states == {
                tasks[0].id: RunState.FAILED,
                tasks[1].id: RunState.SUCCEEDED,
                tasks[2].id: RunState.SUCCEEDED,
            }
            killed = (await store.task_runs(tasks[0].id))[0]
            assert killed.state is RunState.FAILED and "runner stopped during this run" in killed.message
            assert len(await store.task_runs(tasks[0].id)) == 1
        for name in ("a", "b", "c"):
            assert server.count("PATCH", rf"/deployments/{name}/scale$") == 1, name


class _Failing(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Failing.hits.append(self.path)
        body = b'{"error": "down for maintenance"}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def failing_endpoint() -> Iterator[str]:
    _Failing.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"json://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_notification_endpoint_that_fails_never_fails_the_task(
    database_url: str, failing_endpoint: str
) -> None:
    cluster = InMemoryCluster(name="c")
    ref = cluster.add_workload("shop", "web", replicas=2)
    notifier = Notifier([Channel("ops-team", (failing_endpoint,))], attempts=3, backoff_s=0.01)
    async with await Store.open(database_url) as store:
        task = await TaskService(store).submit(OperationSpec(Operation.SCALE, ref, replicas=0), actor="test")
        runner = TaskRunner(store, lambda _name: cluster, notifier=notifier)
        runs = await runner.run_task(task.id)
        assert [r.state for r in runs] == [RunState.SUCCEEDED]
        assert (await cluster.get_workload(ref)).replicas == 0
        assert len(_Failing.hits) == 3  # three attempts, all answered 500
        failed = await store.audit_events(AuditFilter(action="notify"))
        assert [(e.target, e.result) for e in failed] == [("channel ops-team", AuditResult.FAILED)]
        assert "not delivered after 3 attempts" in failed[0].message
        assert failing_endpoint not in failed[0].message  # URLs hold secrets
