"""How the lightkube adapter maps apiserver faults, against the fake apiserver on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubecap.cluster.kube import KubeCluster, KubeOptions
from kubecap.cluster.port import ClusterForbidden, ClusterServerError, ClusterUnreachable, Taint
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.errors import ConfigError
from kubecap.testing.apiserver import FakeApiServer

WEB = WorkloadRef("c", "shop", WorkloadKind.DEPLOYMENT, "web")


@dataclass
class Rig:
    server: FakeApiServer
    cluster: KubeCluster


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer() as running:
        running.add_workload("shop", "web", replicas=2)
        running.add_node("node-a", taints=[{"key": "other", "effect": "NoSchedule"}])
        yield running


@pytest.fixture
async def rig(server: FakeApiServer, tmp_path: Path) -> AsyncIterator[Rig]:
    options = KubeOptions(
        cluster="c", kubeconfig=server.write_kubeconfig(tmp_path / "kc"), retries=2, backoff_s=0.01
    )
    async with KubeCluster.connect(options) as cluster:
        yield Rig(server, cluster)


async def test_forbidden_names_the_missing_verb_and_resource(rig: Rig) -> None:
    rig.server.fail("PATCH", r"/deployments/web/scale$", 403)
    with pytest.raises(ClusterForbidden) as caught:
        await rig.cluster.scale(WEB, 1)
    error = caught.value
    assert (error.verb, error.resource) == ("patch", "deployments/scale")
    message = str(error)
    assert "refused to patch deployments/scale in namespace 'shop'" in message
    assert "grant the verb 'patch' on 'deployments/scale'" in message
    assert "\n" not in message
    assert rig.server.count("PATCH", r"/scale$") == 1  # a 403 is not retried


async def test_a_conflict_on_a_taint_update_is_retried_from_a_fresh_read(rig: Rig) -> None:
    rig.server.fail("PATCH", r"/nodes/node-a$", 409, times=2)
    assert await rig.cluster.add_taint("node-a", Taint("kubecap.io/overloaded", "NoSchedule")) is True
    assert rig.server.count("PATCH", r"/nodes/node-a$") == 3
    assert rig.server.count("GET", r"/nodes/node-a$") == 3
    taints = rig.server.get("nodes", "", "node-a")["spec"]["taints"]
    assert taints == [
        {"key": "other", "effect": "NoSchedule"},
        {"key": "kubecap.io/overloaded", "effect": "NoSchedule"},
    ]


async def test_a_real_concurrent_change_of_the_node_is_not_lost(rig: Rig) -> None:
    # Another writer adds its taint between our read and our write: the resourceVersion
    # precondition makes our write fail with 409 and the retry keeps both taints.
    hold = rig.server.hold("PATCH", r"/nodes/node-a$")
    import asyncio

    task = asyncio.create_task(rig.cluster.add_taint("node-a", Taint("kubecap.io/overloaded", "NoSchedule")))
    await asyncio.to_thread(hold.arrived.wait, 10)
    node = rig.server.get("nodes", "", "node-a")
    node["spec"]["taints"].append({"key": "someone-else", "effect": "NoExecute"})
    rig.server.put("nodes", "", "node-a", node)
    hold.release()
    assert await task is True
    keys = [t["key"] for t in rig.server.get("nodes", "", "node-a")["spec"]["taints"]]
    assert keys == ["other", "someone-else", "kubecap.io/overloaded"]


async def test_server_errors_are_retried_then_reported(rig: Rig) -> None:
    rig.server.fail("GET", r"/deployments/web/scale$", 500, times=1)
    assert await rig.cluster.scale(WEB, 3) == 2
    rig.server.fail("GET", r"/deployments/web$", 503, times=3)
    with pytest.raises(ClusterServerError, match="HTTP 503"):
        await rig.cluster.get_workload(WEB)
    assert rig.server.count("GET", r"/deployments/web$") == 3  # 1 + 2 retries


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_apiserver_is_one_transient_sentence(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        f"clusters: [{{name: x, cluster: {{server: 'http://127.0.0.1:{closed_port()}'}}}}]\n"
        "users: [{name: x, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: x, user: x}}]\n"
    )
    options = KubeOptions(cluster="c", kubeconfig=kubeconfig, retries=1, backoff_s=0.01)
    async with KubeCluster.connect(options) as cluster:
        with pytest.raises(ClusterUnreachable) as caught:
            await cluster.scale(WEB, 1)
    assert caught.value.transient
    assert "cannot reach the apiserver of cluster 'c'" in str(caught.value)


def test_a_missing_kubeconfig_or_context_is_a_config_error(tmp_path: Path, server: FakeApiServer) -> None:
    with pytest.raises(ConfigError, match=r"kubeconfig .*nope"):
        KubeCluster.connect(KubeOptions(cluster="c", kubeconfig=tmp_path / "nope"))
    kubeconfig = server.write_kubeconfig(tmp_path / "kc")
    with pytest.raises(ConfigError, match="context 'other'"):
        KubeCluster.connect(KubeOptions(cluster="c", kubeconfig=kubeconfig, context="other"))
