"""Backends of the cluster contract suite: the in-memory cluster, lightkube against the fake
apiserver on 127.0.0.1, and lightkube against a real cluster.

The real cluster runs only when ``KUBECAP_E2E_KUBECONFIG`` names a kubeconfig (optionally
``KUBECAP_E2E_CONTEXT``); otherwise those cases are SKIPPED with that reason, never passed.
On a real cluster the suite creates a namespace ``kubecap-e2e-<random>`` with scaled-to-zero
pause workloads and deletes it afterwards; node tests use the first node and only add and
remove a taint and an annotation of their own.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from kubecap.cluster.kube import KubeCluster, KubeOptions
from kubecap.cluster.port import ClusterPort, Hpa, Taint
from kubecap.domain.resources import ContainerResources
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.testing.apiserver import FakeApiServer, workload_body
from kubecap.testing.cluster import InMemoryCluster

E2E_KUBECONFIG = "KUBECAP_E2E_KUBECONFIG"
E2E_CONTEXT = "KUBECAP_E2E_CONTEXT"
FOREIGN_TAINT = {"key": "team.example/dedicated", "value": "db", "effect": "NoSchedule"}


class Backend(Protocol):
    """A cluster under test plus the means to put objects into it."""

    cluster: ClusterPort
    namespace: str
    real: bool

    async def add_workload(
        self,
        name: str,
        *,
        kind: WorkloadKind = ...,
        replicas: int = ...,
        containers: tuple[ContainerResources, ...] = ...,
    ) -> None: ...

    async def add_hpa(self, name: str, target: str, low: int, high: int) -> None: ...

    async def node(self) -> str:
        """A node to taint and annotate (fakes: one with a foreign taint)."""
        ...

    async def annotate_workload(self, name: str, annotations: dict[str, str]) -> None:
        """Set the Deployment's own metadata annotations."""
        ...


class MemoryBackend:
    real = False

    def __init__(self) -> None:
        self.memory = InMemoryCluster(name="contract")
        self.cluster: ClusterPort = self.memory
        self.namespace = "shop"

    async def add_workload(
        self,
        name: str,
        *,
        kind: WorkloadKind = WorkloadKind.DEPLOYMENT,
        replicas: int = 1,
        containers: tuple[ContainerResources, ...] = (ContainerResources("app"),),
    ) -> None:
        self.memory.add_workload(self.namespace, name, kind=kind, replicas=replicas, containers=containers)

    async def add_hpa(self, name: str, target: str, low: int, high: int) -> None:
        self.memory.hpas.append(Hpa(self.namespace, name, "Deployment", target, low, high))

    async def node(self) -> str:
        self.memory.add_node(
            "node-a", taints=(Taint(FOREIGN_TAINT["key"], FOREIGN_TAINT["effect"], FOREIGN_TAINT["value"]),)
        )
        return "node-a"

    async def annotate_workload(self, name: str, annotations: dict[str, str]) -> None:
        ref = WorkloadRef(self.memory.name, self.namespace, WorkloadKind.DEPLOYMENT, name)
        self.memory.annotate_workload(ref, annotations)


class ApiServerBackend:
    real = False

    def __init__(self, server: FakeApiServer, kubeconfig: Path) -> None:
        self.server = server
        self.namespace = "shop"
        self.cluster: ClusterPort = KubeCluster.connect(
            KubeOptions(
                cluster="contract", kubeconfig=kubeconfig, retries=1, backoff_s=0.01, qps=1000, burst=1000
            )
        )

    async def add_workload(
        self,
        name: str,
        *,
        kind: WorkloadKind = WorkloadKind.DEPLOYMENT,
        replicas: int = 1,
        containers: tuple[ContainerResources, ...] = (ContainerResources("app"),),
    ) -> None:
        self.server.add_workload(
            self.namespace, name, kind=kind.value, replicas=replicas, containers=containers
        )

    async def add_hpa(self, name: str, target: str, low: int, high: int) -> None:
        self.server.add_hpa(self.namespace, name, "Deployment", target, low, high)

    async def node(self) -> str:
        self.server.add_node("node-a", taints=[dict(FOREIGN_TAINT)])
        return "node-a"

    async def annotate_workload(self, name: str, annotations: dict[str, str]) -> None:
        with self.server.locked():
            self.server.objects[("deployments", self.namespace, name)]["metadata"]["annotations"] = dict(
                annotations
            )


class RealBackend:
    """Objects are created with lightkube directly, so the adapter under test only reads them back."""

    real = True

    def __init__(self, kubeconfig: Path, context: str | None) -> None:
        from lightkube import AsyncClient, KubeConfig

        self.options = KubeOptions(cluster="e2e", kubeconfig=kubeconfig, context=context)
        self.cluster: ClusterPort = KubeCluster.connect(self.options)
        self.raw = AsyncClient(
            KubeConfig.from_file(kubeconfig).get(context_name=context), field_manager="kubecap-e2e"
        )
        self.namespace = f"kubecap-e2e-{secrets.token_hex(4)}"

    async def setup(self) -> None:
        from lightkube.models.meta_v1 import ObjectMeta
        from lightkube.resources.core_v1 import Namespace

        await self.raw.create(Namespace(metadata=ObjectMeta(name=self.namespace)))

    async def teardown(self) -> None:
        from lightkube.resources.core_v1 import Namespace

        await self.raw.delete(Namespace, self.namespace)
        await self.raw.close()

    async def add_workload(
        self,
        name: str,
        *,
        kind: WorkloadKind = WorkloadKind.DEPLOYMENT,
        replicas: int = 1,
        containers: tuple[ContainerResources, ...] = (ContainerResources("app"),),
    ) -> None:
        from lightkube import codecs

        body: dict[str, Any] = workload_body(kind.value, name, replicas=replicas, containers=containers)
        body.update(apiVersion="apps/v1", kind=kind.value)
        body["metadata"]["namespace"] = self.namespace
        if kind is WorkloadKind.DAEMONSET:  # schedule nowhere: the suite only needs the object
            body["spec"]["template"]["spec"]["nodeSelector"] = {"kubecap.io/e2e-nowhere": "true"}
        await self.raw.create(codecs.from_dict(body))

    async def add_hpa(self, name: str, target: str, low: int, high: int) -> None:
        from lightkube import codecs

        body = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                "minReplicas": low,
                "maxReplicas": high,
            },
        }
        await self.raw.create(codecs.from_dict(body))

    async def node(self) -> str:
        nodes = await self.cluster.list_nodes()
        return nodes[0].name

    async def annotate_workload(self, name: str, annotations: dict[str, str]) -> None:
        from lightkube.resources.apps_v1 import Deployment
        from lightkube.types import PatchType

        body = {"metadata": {"annotations": annotations}}
        await self.raw.patch(Deployment, name, body, namespace=self.namespace, patch_type=PatchType.MERGE)


@pytest.fixture(params=["memory", "apiserver", "real"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "memory":
        yield MemoryBackend()
        return
    if request.param == "apiserver":
        with FakeApiServer() as server:
            fake = ApiServerBackend(server, server.write_kubeconfig(tmp_path / "kubeconfig"))
            try:
                yield fake
            finally:
                await fake.cluster.close()
        return
    kubeconfig = os.environ.get(E2E_KUBECONFIG)
    if not kubeconfig:
        pytest.skip(
            f"no real cluster: set {E2E_KUBECONFIG} to a kubeconfig to run the contract suite against one"
        )
    real = RealBackend(Path(kubeconfig), os.environ.get(E2E_CONTEXT))
    await real.setup()
    try:
        yield real
    finally:
        await real.cluster.close()
        await real.teardown()
