"""The in-memory cluster: a ClusterPort without Kubernetes, for tests, benchmarks and the demo.

It honours the same contract suite as the lightkube adapter (tests/cluster) and adds what
tests need: seeding (``add_workload``, ``add_node``, ``add_hpa``), a record of every
mutating call (``calls``) to assert exactly-once execution on, and injected failures
(``fail_next``). State lives in this object only; the event loop makes each call atomic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from kubecap.cluster.port import (
    RESTARTED_AT,
    ClusterError,
    Hpa,
    Node,
    NodeCondition,
    Taint,
    Workload,
    WorkloadNotFound,
)
from kubecap.domain.resources import ContainerResources
from kubecap.domain.workload import WorkloadKind, WorkloadRef


@dataclass(frozen=True, slots=True)
class Call:
    """One mutating call that reached the cluster: operation, target and its argument."""

    operation: str
    target: str
    argument: str = ""


@dataclass(slots=True)
class _Lease:
    holder: str
    renewed: datetime
    duration_s: int


@dataclass
class InMemoryCluster:
    """A cluster held in memory; ``name`` is its kubecap name."""

    name: str = "memory"
    workloads: dict[WorkloadRef, Workload] = field(default_factory=dict)
    hpas: list[Hpa] = field(default_factory=list)
    nodes: dict[str, Node] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    clock: Callable[[], datetime] | None = None  # for leases; None means the system clock
    _failures: dict[str, list[ClusterError]] = field(default_factory=dict)
    _leases: dict[tuple[str, str], _Lease] = field(default_factory=dict)
    workload_annotations_: dict[WorkloadRef, dict[str, str]] = field(default_factory=dict)
    secrets: dict[tuple[str, str], tuple[str, dict[str, bytes], dict[str, str]]] = field(default_factory=dict)
    mutating_webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)

    # --- seeding and fault injection (not part of the port) -------------------------------

    def add_workload(
        self,
        namespace: str,
        name: str,
        *,
        kind: WorkloadKind = WorkloadKind.DEPLOYMENT,
        replicas: int = 1,
        containers: tuple[ContainerResources, ...] = (ContainerResources("app"),),
        labels: dict[str, str] | None = None,
    ) -> WorkloadRef:
        ref = WorkloadRef(self.name, namespace, kind, name)
        self.workloads[ref] = Workload(
            ref=ref,
            replicas=None if kind is WorkloadKind.DAEMONSET else replicas,
            containers=tuple(containers),
            labels=dict(labels or {}),
        )
        return ref

    def add_hpa(
        self, namespace: str, name: str, target: WorkloadRef, min_replicas: int, max_replicas: int
    ) -> None:
        self.hpas.append(Hpa(namespace, name, target.kind.value, target.name, min_replicas, max_replicas))

    def add_node(
        self,
        name: str,
        *,
        cpu: str = "4",
        memory: str = "16Gi",
        labels: dict[str, str] | None = None,
        taints: tuple[Taint, ...] = (),
        ready: bool = True,
    ) -> None:
        self.nodes[name] = Node(
            name=name,
            allocatable={"cpu": cpu, "memory": memory, "pods": "110"},
            labels=dict(labels or {}),
            taints=tuple(taints),
            conditions=(NodeCondition("Ready", "True" if ready else "False"),),
            annotations={},
        )

    def fail_next(self, operation: str, error: ClusterError, times: int = 1) -> None:
        """Make the next ``times`` calls of ``operation`` (a port method name) raise ``error``."""
        self._failures.setdefault(operation, []).extend([error] * times)

    def calls_for(self, operation: str, target: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.operation == operation and (target is None or c.target == target)]

    # --- the port --------------------------------------------------------------------------

    async def _enter(self, operation: str) -> None:
        # Yield once, as a network call would, so concurrent callers interleave.
        await asyncio.sleep(0)
        pending = self._failures.get(operation)
        if pending:
            raise pending.pop(0)

    def _now(self) -> datetime:
        return self.clock() if self.clock is not None else datetime.now(UTC)

    async def list_workloads(self, namespace: str | None = None) -> list[Workload]:
        await self._enter("list_workloads")
        found = [w for r, w in self.workloads.items() if namespace is None or r.namespace == namespace]
        return sorted(found, key=lambda w: (w.ref.namespace, w.ref.kind.value, w.ref.name))

    def _workload(self, ref: WorkloadRef) -> Workload:
        found = self.workloads.get(replace(ref, cluster=self.name))
        if found is None:
            raise WorkloadNotFound(
                f"{ref.kind.value} {ref.namespace}/{ref.name} does not exist in cluster {self.name!r}: "
                "check the namespace, kind and name"
            )
        return found

    async def get_workload(self, ref: WorkloadRef) -> Workload:
        await self._enter("get_workload")
        return self._workload(ref)

    async def list_hpas(self, namespace: str | None = None) -> list[Hpa]:
        await self._enter("list_hpas")
        return sorted(
            (h for h in self.hpas if namespace is None or h.namespace == namespace),
            key=lambda h: (h.namespace, h.name),
        )

    async def set_hpa_min_replicas(self, namespace: str, name: str, min_replicas: int) -> int:
        await self._enter("set_hpa_min_replicas")
        for i, hpa in enumerate(self.hpas):
            if hpa.namespace == namespace and hpa.name == name:
                self.hpas[i] = replace(hpa, min_replicas=min_replicas)
                self.calls.append(Call("set_hpa_min_replicas", f"{namespace}/{name}", str(min_replicas)))
                return hpa.min_replicas
        raise WorkloadNotFound(
            f"HorizontalPodAutoscaler {namespace}/{name} does not exist in cluster {self.name!r}: "
            "check the namespace and name"
        )

    async def list_nodes(self) -> list[Node]:
        await self._enter("list_nodes")
        return [self.nodes[n] for n in sorted(self.nodes)]

    def _node(self, name: str) -> Node:
        node = self.nodes.get(name)
        if node is None:
            raise WorkloadNotFound(
                f"node {name!r} does not exist in cluster {self.name!r}: check the node name"
            )
        return node

    async def get_node(self, name: str) -> Node:
        await self._enter("get_node")
        return self._node(name)

    async def scale(self, ref: WorkloadRef, replicas: int) -> int:
        await self._enter("scale")
        workload = self._workload(ref)
        if workload.replicas is None:
            raise ClusterError(f"{ref} is a DaemonSet and has no scale subresource: it runs one pod per node")
        self.workloads[workload.ref] = replace(workload, replicas=replicas)
        self.calls.append(Call("scale", str(workload.ref), str(replicas)))
        return workload.replicas

    async def restart(self, ref: WorkloadRef, at: datetime) -> None:
        await self._enter("restart")
        workload = self._workload(ref)
        annotations = {**workload.template_annotations, RESTARTED_AT: at.astimezone(UTC).isoformat()}
        self.workloads[workload.ref] = replace(workload, template_annotations=annotations)
        self.calls.append(Call("restart", str(workload.ref), annotations[RESTARTED_AT]))

    async def patch_resources(self, ref: WorkloadRef, resources: tuple[ContainerResources, ...]) -> Workload:
        await self._enter("patch_resources")
        workload = self._workload(ref)
        names = {c.container for c in workload.containers}
        for wanted in resources:
            if wanted.container not in names:
                raise WorkloadNotFound(
                    f"{ref} has no container {wanted.container!r} (it has {', '.join(sorted(names))}): "
                    "check the container name"
                )
        by_name = {r.container: r for r in resources}
        containers = tuple(by_name.get(c.container, c) for c in workload.containers)
        self.workloads[workload.ref] = replace(workload, containers=containers)
        self.calls.append(Call("patch_resources", str(workload.ref), ",".join(sorted(by_name))))
        return workload

    async def add_taint(self, node: str, taint: Taint) -> bool:
        await self._enter("add_taint")
        current = self._node(node)
        if any(t.key == taint.key and t.effect == taint.effect for t in current.taints):
            return False
        self.nodes[node] = replace(current, taints=(*current.taints, taint))
        self.calls.append(Call("add_taint", node, f"{taint.key}:{taint.effect}"))
        return True

    async def remove_taint(self, node: str, key: str, effect: str) -> bool:
        await self._enter("remove_taint")
        current = self._node(node)
        kept = tuple(t for t in current.taints if not (t.key == key and t.effect == effect))
        if len(kept) == len(current.taints):
            return False
        self.nodes[node] = replace(current, taints=kept)
        self.calls.append(Call("remove_taint", node, f"{key}:{effect}"))
        return True

    async def annotate_node(self, node: str, annotations: dict[str, str | None]) -> None:
        await self._enter("annotate_node")
        current = self._node(node)
        merged = dict(current.annotations)
        for key, value in annotations.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        self.nodes[node] = replace(current, annotations=merged)
        self.calls.append(Call("annotate_node", node, ",".join(sorted(annotations))))

    async def acquire_lease(self, namespace: str, name: str, holder: str, duration_s: int) -> bool:
        await self._enter("acquire_lease")
        now = self._now()
        lease = self._leases.get((namespace, name))
        if (
            lease is not None
            and lease.holder != holder
            and lease.holder
            and now < lease.renewed + timedelta(seconds=lease.duration_s)
        ):
            return False
        self._leases[(namespace, name)] = _Lease(holder, now, duration_s)
        return True

    async def release_lease(self, namespace: str, name: str, holder: str) -> None:
        await self._enter("release_lease")
        lease = self._leases.get((namespace, name))
        if lease is not None and lease.holder == holder:
            lease.holder = ""

    async def close(self) -> None:
        return None

    # --- the webhook's needs (issue 4) ------------------------------------------------------

    def annotate_workload(self, ref: WorkloadRef, annotations: dict[str, str]) -> None:
        """Seed the workload's own metadata annotations (not part of the port)."""
        self.workload_annotations_[replace(ref, cluster=self.name)] = dict(annotations)

    async def workload_annotations(self, ref: WorkloadRef) -> dict[str, str]:
        await self._enter("workload_annotations")
        workload = self._workload(ref)
        return dict(self.workload_annotations_.get(workload.ref, {}))

    async def set_workload_annotations(self, ref: WorkloadRef, annotations: dict[str, str | None]) -> None:
        await self._enter("set_workload_annotations")
        workload = self._workload(ref)
        merged = dict(self.workload_annotations_.get(workload.ref, {}))
        for key, value in annotations.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        self.workload_annotations_[workload.ref] = merged
        changes = ",".join(f"{k}={'-' if v is None else v}" for k, v in sorted(annotations.items()))
        self.calls.append(Call("set_workload_annotations", str(workload.ref), changes))

    async def get_secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        await self._enter("get_secret")
        found = self.secrets.get((namespace, name))
        return None if found is None else dict(found[1])

    async def put_secret(
        self,
        namespace: str,
        name: str,
        data: dict[str, bytes],
        *,
        kind: str = "Opaque",
        labels: dict[str, str] | None = None,
    ) -> None:
        await self._enter("put_secret")
        existing = self.secrets.get((namespace, name))
        self.secrets[(namespace, name)] = (existing[0] if existing else kind, dict(data), dict(labels or {}))
        self.calls.append(Call("put_secret", f"{namespace}/{name}", ",".join(sorted(data))))

    async def delete_secret(self, namespace: str, name: str) -> bool:
        await self._enter("delete_secret")
        return self.secrets.pop((namespace, name), None) is not None

    async def get_mutating_webhook(self, name: str) -> dict[str, Any] | None:
        await self._enter("get_mutating_webhook")
        found = self.mutating_webhooks.get(name)
        return None if found is None else deepcopy(found)

    async def put_mutating_webhook(self, body: dict[str, Any]) -> None:
        await self._enter("put_mutating_webhook")
        name = str(body["metadata"]["name"])
        stored = deepcopy(body)
        stored.update(apiVersion="admissionregistration.k8s.io/v1", kind="MutatingWebhookConfiguration")
        self.mutating_webhooks[name] = stored
        self.calls.append(Call("put_mutating_webhook", name))

    async def delete_mutating_webhook(self, name: str) -> bool:
        await self._enter("delete_mutating_webhook")
        return self.mutating_webhooks.pop(name, None) is not None
