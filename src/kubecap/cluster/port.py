"""The cluster port: what kubecap reads from and changes in a Kubernetes cluster, in its own words.

Two adapters honour it and one contract suite (tests/cluster) checks both: the lightkube
adapter (``kubecap.cluster.kube``) for real clusters, and the in-memory cluster in
``kubecap.testing.cluster`` for tests and the demo. Capabilities import this module only,
never an adapter (an import-linter contract allows ``ops`` exactly this import).

Errors are KubecapErrors with one sentence each: a 403 names the verb and the resource that
kubecap's role lacks; conflicts are retried inside the adapter and only surface after the
retries; an unreachable apiserver is ``ClusterUnreachable`` (transient: callers may retry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from kubecap.domain.resources import ContainerResources
from kubecap.domain.workload import WorkloadRef
from kubecap.errors import KubecapError, NotFoundError

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
"""The pod-template annotation whose change makes a rollout restart (as kubectl does)."""

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


class ClusterError(KubecapError):
    """The cluster refused or failed an operation."""

    transient = False
    """True when trying again later may succeed (unreachable, conflicts, server errors)."""


class ClusterUnreachable(ClusterError):
    """The apiserver could not be reached (connection, TLS, timeout), even after retries."""

    transient = True


class ClusterForbidden(ClusterError):
    """kubecap's service account lacks a permission (HTTP 403)."""

    def __init__(self, message: str, *, verb: str, resource: str) -> None:
        super().__init__(message)
        self.verb = verb
        self.resource = resource


class ClusterConflict(ClusterError):
    """An object kept changing under an update (HTTP 409) after every retry."""

    transient = True


class ClusterServerError(ClusterError):
    """The apiserver failed (HTTP 5xx) or answered something unexpected."""

    transient = True


class WorkloadNotFound(NotFoundError):
    """The named workload (or node) does not exist."""


@dataclass(frozen=True, slots=True)
class Workload:
    """A Deployment, StatefulSet or DaemonSet with the resources of each of its containers."""

    ref: WorkloadRef
    replicas: int | None  # None for a DaemonSet
    containers: tuple[ContainerResources, ...]
    labels: dict[str, str] = field(default_factory=dict)
    template_annotations: dict[str, str] = field(default_factory=dict)

    def container(self, name: str) -> ContainerResources | None:
        return next((c for c in self.containers if c.container == name), None)


@dataclass(frozen=True, slots=True)
class Hpa:
    """A HorizontalPodAutoscaler and the workload it scales."""

    namespace: str
    name: str
    target_kind: str
    target_name: str
    min_replicas: int
    max_replicas: int


@dataclass(frozen=True, slots=True, order=True)
class Taint:
    key: str
    effect: str
    value: str = ""


@dataclass(frozen=True, slots=True)
class NodeCondition:
    type: str
    status: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    allocatable: dict[str, str]
    labels: dict[str, str]
    taints: tuple[Taint, ...]
    conditions: tuple[NodeCondition, ...]
    annotations: dict[str, str]
    unschedulable: bool = False


class ClusterPort(Protocol):
    """One Kubernetes cluster. Every method may raise the ClusterErrors above."""

    @property
    def name(self) -> str:
        """The cluster's name in kubecap (the ``cluster`` of every WorkloadRef it returns)."""
        ...

    async def list_workloads(self, namespace: str | None = None) -> list[Workload]:
        """Deployments, StatefulSets and DaemonSets, sorted by (namespace, kind, name)."""
        ...

    async def get_workload(self, ref: WorkloadRef) -> Workload:
        """The workload, or WorkloadNotFound."""
        ...

    async def list_hpas(self, namespace: str | None = None) -> list[Hpa]: ...

    async def set_hpa_min_replicas(self, namespace: str, name: str, min_replicas: int) -> int:
        """Set an HPA's ``minReplicas`` (predictive replicas raise it ahead of a forecast peak and
        restore it after); returns the value before. A missing HPA is a WorkloadNotFound."""
        ...

    async def list_nodes(self) -> list[Node]:
        """Every node, sorted by name."""
        ...

    async def get_node(self, name: str) -> Node: ...

    async def scale(self, ref: WorkloadRef, replicas: int) -> int:
        """Set replicas through the scale subresource; returns the replicas before."""
        ...

    async def restart(self, ref: WorkloadRef, at: datetime) -> None:
        """Rollout restart: set the pod template's restartedAt annotation to ``at``."""
        ...

    async def patch_resources(self, ref: WorkloadRef, resources: tuple[ContainerResources, ...]) -> Workload:
        """Replace requests and limits of the named containers (others untouched); returns the
        workload as it was before. A container the workload lacks is a WorkloadNotFound."""
        ...

    async def add_taint(self, node: str, taint: Taint) -> bool:
        """Add ``taint`` unless a taint with its key and effect is there; True when changed.
        Other taints are never touched; a concurrent change of the node is retried."""
        ...

    async def remove_taint(self, node: str, key: str, effect: str) -> bool:
        """Remove the taint with this key and effect if present; True when changed."""
        ...

    async def annotate_node(self, node: str, annotations: dict[str, str | None]) -> None:
        """Set (or, for None, remove) node annotations, leaving the others alone."""
        ...

    async def acquire_lease(self, namespace: str, name: str, holder: str, duration_s: int) -> bool:
        """Take or renew a coordination.k8s.io/v1 Lease; False while another holder's is valid."""
        ...

    async def release_lease(self, namespace: str, name: str, holder: str) -> None:
        """Give the lease up if ``holder`` holds it."""
        ...

    async def close(self) -> None: ...

    # --- the webhook's needs (issue 4): its Secrets, its MutatingWebhookConfiguration, and the
    # annotations of a workload whose scale subresource is under review ---------------------

    async def workload_annotations(self, ref: WorkloadRef) -> dict[str, str]:
        """The workload's own metadata annotations (not its pod template's), or WorkloadNotFound."""
        ...

    async def set_workload_annotations(self, ref: WorkloadRef, annotations: dict[str, str | None]) -> None:
        """Set (or, for None, remove) the workload's own metadata annotations, leaving the others
        and the pod template alone (ops' temporary scale writes ``kubecap.io/temporary-replicas``)."""
        ...

    async def get_secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """The Secret's data, decoded; None when it does not exist."""
        ...

    async def put_secret(
        self,
        namespace: str,
        name: str,
        data: dict[str, bytes],
        *,
        kind: str = "Opaque",
        labels: dict[str, str] | None = None,
    ) -> None:
        """Create the Secret, or replace its data and labels (keys not in ``data`` are dropped)."""
        ...

    async def delete_secret(self, namespace: str, name: str) -> bool:
        """Delete the Secret; False when it did not exist."""
        ...

    async def get_mutating_webhook(self, name: str) -> dict[str, Any] | None:
        """The MutatingWebhookConfiguration as JSON; None when it does not exist."""
        ...

    async def put_mutating_webhook(self, body: dict[str, Any]) -> None:
        """Create the MutatingWebhookConfiguration named in ``body``, or replace it whole."""
        ...

    async def delete_mutating_webhook(self, name: str) -> bool:
        """Delete the MutatingWebhookConfiguration; False when it did not exist."""
        ...


def forbidden_message(cluster: str, verb: str, resource: str, namespace: str | None, detail: str = "") -> str:
    """The one sentence for a 403: which verb on which resource kubecap's role is missing."""
    where = f" in namespace {namespace!r}" if namespace else ""
    said = f" ({detail})" if detail else ""
    return (
        f"cluster {cluster!r} refused to {verb} {resource}{where}{said}: grant the verb {verb!r} on "
        f"{resource!r} to kubecap's service account (see deploy/rbac)"
    )
