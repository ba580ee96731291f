"""The lightkube adapter: the ClusterPort on a real Kubernetes apiserver (async).

Every request goes through ``_request``, which applies the client-side QPS/burst limit,
retries transient failures (connection errors, 429, 5xx) with doubling backoff, and maps
what the apiserver said to kubecap's one-sentence errors: 403 names the verb and resource
missing from kubecap's role, 404 the object, 409 is retried by the read-modify-write callers.

Writes are patches, never whole-object replaces, so fields this client's models do not know
survive; node taints are read, changed and written back with a resourceVersion
precondition, and a concurrent change (409) makes the read-change-write start over.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx2
from lightkube import AsyncClient, KubeConfig, codecs
from lightkube.config.kubeconfig import SingleConfig
from lightkube.core.exceptions import ApiError
from lightkube.core.exceptions import ConfigError as LightkubeConfigError
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.admissionregistration_v1 import MutatingWebhookConfiguration
from lightkube.resources.apps_v1 import DaemonSet, Deployment, StatefulSet
from lightkube.resources.autoscaling_v2 import HorizontalPodAutoscaler
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Node as KubeNode
from lightkube.resources.core_v1 import Secret
from lightkube.types import PatchType

from kubecap.cluster.limiter import TokenBucket
from kubecap.cluster.port import (
    RESTARTED_AT,
    ClusterConflict,
    ClusterError,
    ClusterForbidden,
    ClusterServerError,
    ClusterUnreachable,
    Hpa,
    Node,
    NodeCondition,
    Taint,
    Workload,
    WorkloadNotFound,
    forbidden_message,
)
from kubecap.domain.resources import RESOURCE_NAMES, ContainerResources
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.errors import ConfigError

T = TypeVar("T")
_KINDS: dict[WorkloadKind, Any] = {
    WorkloadKind.DEPLOYMENT: Deployment,
    WorkloadKind.STATEFULSET: StatefulSet,
    WorkloadKind.DAEMONSET: DaemonSet,
}
_SCALES: dict[WorkloadKind, Any] = {
    WorkloadKind.DEPLOYMENT: Deployment.Scale,
    WorkloadKind.STATEFULSET: StatefulSet.Scale,
}
_PLURAL = {
    WorkloadKind.DEPLOYMENT: "deployments",
    WorkloadKind.STATEFULSET: "statefulsets",
    WorkloadKind.DAEMONSET: "daemonsets",
}


@dataclass(frozen=True, slots=True)
class KubeOptions:
    """How to reach one cluster; built from the settings by the composition root."""

    cluster: str
    kubeconfig: Path | None = None
    context: str | None = None
    in_cluster: bool = False
    qps: float = 20.0
    burst: int = 40
    timeout_s: float = 10.0
    retries: int = 3
    backoff_s: float = 0.5
    conflict_retries: int = 5
    field_manager: str = "kubecap"


def load_config(options: KubeOptions) -> SingleConfig:
    """The lightkube configuration, or a ConfigError naming the file or context."""
    try:
        if options.in_cluster:
            config = KubeConfig.from_service_account()
        elif options.kubeconfig is not None:
            config = KubeConfig.from_file(options.kubeconfig)
        else:
            config = KubeConfig.from_env()
        single = config.get(context_name=options.context)
    except (LightkubeConfigError, OSError, KeyError, ValueError) as exc:
        source = (
            "the in-cluster service account"
            if options.in_cluster
            else f"kubeconfig {options.kubeconfig}"
            if options.kubeconfig
            else "the default kubeconfig (KUBECONFIG or ~/.kube/config)"
        )
        context = f" with context {options.context!r}" if options.context else ""
        raise ConfigError(
            f"cannot load {source}{context} for cluster {options.cluster!r} ({exc}): "
            "check clusters[].kubernetes in the settings"
        ) from exc
    if single is None:  # pragma: no cover - lightkube raises instead
        raise ConfigError(
            f"kubeconfig for cluster {options.cluster!r} has no context: set kubernetes.context"
        )
    return single


class KubeCluster:
    """The ClusterPort over lightkube; ``async with KubeCluster.connect(options)`` or ``close()``."""

    def __init__(self, client: AsyncClient, options: KubeOptions) -> None:
        self._client = client
        self._options = options
        self._bucket = TokenBucket(options.qps, options.burst)

    @classmethod
    def connect(
        cls, options: KubeOptions, *, transport: httpx2.AsyncBaseTransport | None = None
    ) -> KubeCluster:
        config = load_config(options)
        client = AsyncClient(
            config,
            field_manager=options.field_manager,
            timeout=httpx2.Timeout(options.timeout_s),
            trust_env=False,
            transport=transport,
        )
        return cls(client, options)

    @property
    def name(self) -> str:
        return self._options.cluster

    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> KubeCluster:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    # --- the one request path ------------------------------------------------------------

    async def _request(
        self, verb: str, resource: str, namespace: str | None, what: str, call: Callable[[], Awaitable[T]]
    ) -> T:
        delay = self._options.backoff_s
        for attempt in range(self._options.retries + 1):
            await self._bucket.acquire()
            try:
                return await call()
            except ApiError as exc:
                code = exc.status.code or exc.response.status_code
                error = self._api_error(code, exc.status.message or "", verb, resource, namespace, what)
            except httpx2.HTTPStatusError as exc:
                code = exc.response.status_code
                error = self._api_error(code, exc.response.reason_phrase, verb, resource, namespace, what)
            except (httpx2.TransportError, OSError) as exc:
                error = ClusterUnreachable(
                    f"cannot reach the apiserver of cluster {self.name!r} to {verb} {resource} "
                    f"({type(exc).__name__}: {exc or 'no detail'}): check the kubeconfig server address "
                    "and the network"
                )
                error.__cause__ = exc
            retry = isinstance(error, ClusterUnreachable | ClusterServerError)
            if not retry or attempt == self._options.retries:
                raise error
            await asyncio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _api_error(
        self, code: int | None, detail: str, verb: str, resource: str, namespace: str | None, what: str
    ) -> ClusterError:
        if code == 403:
            return ClusterForbidden(
                forbidden_message(self.name, verb, resource, namespace, detail), verb=verb, resource=resource
            )
        if code == 404:
            raise WorkloadNotFound(
                f"{what} does not exist in cluster {self.name!r}: check the namespace, kind and name"
            )
        if code == 409:
            return ClusterConflict(f"{what} in cluster {self.name!r} changed during the update ({detail})")
        if code is not None and (code == 429 or code >= 500):
            return ClusterServerError(
                f"the apiserver of cluster {self.name!r} failed to {verb} {resource} (HTTP {code}: {detail})"
            )
        raise ClusterError(
            f"cluster {self.name!r} rejected {verb} {resource} for {what} (HTTP {code}: {detail})"
        )

    async def _with_conflict_retry(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        for _ in range(self._options.conflict_retries):
            try:
                return await attempt()
            except ClusterConflict:
                await asyncio.sleep(0)
        raise ClusterConflict(
            f"{what} in cluster {self.name!r} kept changing during {self._options.conflict_retries} attempts "
            "to update it: try again later"
        )

    # --- workloads -----------------------------------------------------------------------

    def _workload(self, kind: WorkloadKind, obj: Any) -> Workload:
        meta = obj.metadata
        spec = obj.spec
        template = spec.template
        containers = tuple(
            ContainerResources(
                container=c.name,
                requests={
                    k: str(v)
                    for k, v in ((c.resources and c.resources.requests) or {}).items()
                    if k in RESOURCE_NAMES
                },
                limits={
                    k: str(v)
                    for k, v in ((c.resources and c.resources.limits) or {}).items()
                    if k in RESOURCE_NAMES
                },
            )
            for c in template.spec.containers
        )
        replicas = (
            None if kind is WorkloadKind.DAEMONSET else (1 if spec.replicas is None else int(spec.replicas))
        )
        return Workload(
            ref=WorkloadRef(self.name, meta.namespace, kind, meta.name),
            replicas=replicas,
            containers=containers,
            labels=dict(meta.labels or {}),
            template_annotations=dict((template.metadata and template.metadata.annotations) or {}),
        )

    async def list_workloads(self, namespace: str | None = None) -> list[Workload]:
        found: list[Workload] = []
        for kind, resource in _KINDS.items():

            async def listing(resource: Any = resource) -> list[Any]:
                return [o async for o in self._client.list(resource, namespace=namespace or "*")]

            objects = await self._request("list", _PLURAL[kind], namespace, f"{_PLURAL[kind]}", listing)
            found.extend(self._workload(kind, o) for o in objects)
        return sorted(found, key=lambda w: (w.ref.namespace, w.ref.kind.value, w.ref.name))

    def _what(self, ref: WorkloadRef) -> str:
        return f"{ref.kind.value} {ref.namespace}/{ref.name}"

    async def get_workload(self, ref: WorkloadRef) -> Workload:
        resource = _KINDS[ref.kind]
        obj = await self._request(
            "get",
            _PLURAL[ref.kind],
            ref.namespace,
            self._what(ref),
            lambda: self._client.get(resource, ref.name, namespace=ref.namespace),
        )
        return self._workload(ref.kind, obj)

    async def list_hpas(self, namespace: str | None = None) -> list[Hpa]:
        async def listing() -> list[Any]:
            return [o async for o in self._client.list(HorizontalPodAutoscaler, namespace=namespace or "*")]

        objects = await self._request("list", "horizontalpodautoscalers", namespace, "HPAs", listing)
        hpas = [
            Hpa(
                namespace=o.metadata.namespace,
                name=o.metadata.name,
                target_kind=o.spec.scaleTargetRef.kind,
                target_name=o.spec.scaleTargetRef.name,
                min_replicas=1 if o.spec.minReplicas is None else int(o.spec.minReplicas),
                max_replicas=int(o.spec.maxReplicas),
            )
            for o in objects
        ]
        return sorted(hpas, key=lambda h: (h.namespace, h.name))

    async def set_hpa_min_replicas(self, namespace: str, name: str, min_replicas: int) -> int:
        what = f"HorizontalPodAutoscaler {namespace}/{name}"
        before = await self._request(
            "get",
            "horizontalpodautoscalers",
            namespace,
            what,
            lambda: self._client.get(HorizontalPodAutoscaler, name, namespace=namespace),
        )
        await self._request(
            "patch",
            "horizontalpodautoscalers",
            namespace,
            what,
            lambda: self._client.patch(
                HorizontalPodAutoscaler,
                name,
                {"spec": {"minReplicas": min_replicas}},
                namespace=namespace,
                patch_type=PatchType.MERGE,
            ),
        )
        return 1 if before.spec.minReplicas is None else int(before.spec.minReplicas)

    async def scale(self, ref: WorkloadRef, replicas: int) -> int:
        if ref.kind not in _SCALES:
            raise ClusterError(f"{ref} is a DaemonSet and has no scale subresource: it runs one pod per node")
        resource = _SCALES[ref.kind]
        plural = f"{_PLURAL[ref.kind]}/scale"
        what = self._what(ref)
        before = await self._request(
            "get",
            plural,
            ref.namespace,
            what,
            lambda: self._client.get(resource, ref.name, namespace=ref.namespace),
        )
        await self._request(
            "patch",
            plural,
            ref.namespace,
            what,
            lambda: self._client.patch(
                resource,
                ref.name,
                {"spec": {"replicas": replicas}},
                namespace=ref.namespace,
                patch_type=PatchType.MERGE,
            ),
        )
        return int(before.spec.replicas or 0)

    async def restart(self, ref: WorkloadRef, at: datetime) -> None:
        stamp = at.astimezone(UTC).isoformat()
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        await self._patch_workload(ref, body, PatchType.MERGE)

    async def _patch_workload(self, ref: WorkloadRef, body: dict[str, Any], patch_type: PatchType) -> None:
        resource = _KINDS[ref.kind]
        await self._request(
            "patch",
            _PLURAL[ref.kind],
            ref.namespace,
            self._what(ref),
            lambda: self._client.patch(
                resource, ref.name, body, namespace=ref.namespace, patch_type=patch_type
            ),
        )

    async def patch_resources(self, ref: WorkloadRef, resources: tuple[ContainerResources, ...]) -> Workload:
        before = await self.get_workload(ref)
        names = {c.container for c in before.containers}
        for wanted in resources:
            if wanted.container not in names:
                raise WorkloadNotFound(
                    f"{ref} has no container {wanted.container!r} (it has {', '.join(sorted(names))}): "
                    "check the container name"
                )
        # Strategic merge: containers are matched by name; null removes a cpu/memory value we unset.
        containers = [
            {
                "name": r.container,
                "resources": {
                    "requests": {n: r.requests.get(n) for n in RESOURCE_NAMES},
                    "limits": {n: r.limits.get(n) for n in RESOURCE_NAMES},
                },
            }
            for r in resources
        ]
        body = {"spec": {"template": {"spec": {"containers": containers}}}}
        await self._patch_workload(ref, body, PatchType.STRATEGIC)
        return before

    # --- nodes ---------------------------------------------------------------------------

    async def _get_node(self, name: str) -> Any:
        return await self._request(
            "get", "nodes", None, f"node {name!r}", lambda: self._client.get(KubeNode, name)
        )

    @staticmethod
    def _node(obj: Any) -> Node:
        spec = obj.spec
        status = obj.status
        return Node(
            name=obj.metadata.name,
            allocatable={k: str(v) for k, v in ((status and status.allocatable) or {}).items()},
            labels=dict(obj.metadata.labels or {}),
            taints=tuple(Taint(t.key, t.effect, t.value or "") for t in ((spec and spec.taints) or [])),
            conditions=tuple(
                NodeCondition(c.type, c.status, c.reason or "")
                for c in ((status and status.conditions) or [])
            ),
            annotations=dict(obj.metadata.annotations or {}),
            unschedulable=bool(spec and spec.unschedulable),
        )

    async def list_nodes(self) -> list[Node]:
        async def listing() -> list[Any]:
            return [o async for o in self._client.list(KubeNode)]

        objects = await self._request("list", "nodes", None, "nodes", listing)
        return sorted((self._node(o) for o in objects), key=lambda n: n.name)

    async def get_node(self, name: str) -> Node:
        return self._node(await self._get_node(name))

    async def _write_taints(
        self, name: str, change: Callable[[list[dict[str, str]]], list[dict[str, str]] | None]
    ) -> bool:
        async def attempt() -> bool:
            obj = await self._get_node(name)
            current = [
                {k: v for k, v in (("key", t.key), ("value", t.value), ("effect", t.effect)) if v is not None}
                for t in ((obj.spec and obj.spec.taints) or [])
            ]
            wanted = change(current)
            if wanted is None:
                return False
            # A resourceVersion in a patch is a precondition: the apiserver answers 409 if the
            # node changed since we read it, and we start over from a fresh read.
            body = {"metadata": {"resourceVersion": obj.metadata.resourceVersion}, "spec": {"taints": wanted}}
            await self._request(
                "patch",
                "nodes",
                None,
                f"node {name!r}",
                lambda: self._client.patch(KubeNode, name, body, patch_type=PatchType.MERGE),
            )
            return True

        return await self._with_conflict_retry(f"node {name!r}", attempt)

    async def add_taint(self, node: str, taint: Taint) -> bool:
        def change(current: list[dict[str, str]]) -> list[dict[str, str]] | None:
            if any(t.get("key") == taint.key and t.get("effect") == taint.effect for t in current):
                return None
            new = {"key": taint.key, "effect": taint.effect}
            if taint.value:
                new["value"] = taint.value
            return [*current, new]

        return await self._write_taints(node, change)

    async def remove_taint(self, node: str, key: str, effect: str) -> bool:
        def change(current: list[dict[str, str]]) -> list[dict[str, str]] | None:
            kept = [t for t in current if not (t.get("key") == key and t.get("effect") == effect)]
            return None if len(kept) == len(current) else kept

        return await self._write_taints(node, change)

    async def annotate_node(self, node: str, annotations: dict[str, str | None]) -> None:
        body = {"metadata": {"annotations": dict(annotations)}}
        await self._request(
            "patch",
            "nodes",
            None,
            f"node {node!r}",
            lambda: self._client.patch(KubeNode, node, body, patch_type=PatchType.MERGE),
        )

    # --- leader election -------------------------------------------------------------------

    async def acquire_lease(self, namespace: str, name: str, holder: str, duration_s: int) -> bool:
        what = f"lease {namespace}/{name}"
        now = datetime.now(UTC)
        try:
            lease: Any = await self._request(
                "get", "leases", namespace, what, lambda: self._client.get(Lease, name, namespace=namespace)
            )
        except WorkloadNotFound:
            fresh = Lease(
                metadata=ObjectMeta(name=name, namespace=namespace),
                spec=LeaseSpec(
                    holderIdentity=holder,
                    leaseDurationSeconds=duration_s,
                    acquireTime=now,
                    renewTime=now,
                    leaseTransitions=0,
                ),
            )
            try:
                await self._request("create", "leases", namespace, what, lambda: self._client.create(fresh))
            except ClusterConflict:
                return False  # someone created it first
            return True
        spec = lease.spec
        held_by_other = bool(spec.holderIdentity) and spec.holderIdentity != holder
        renewed = spec.renewTime or spec.acquireTime
        duration = spec.leaseDurationSeconds or duration_s
        if held_by_other and renewed is not None and now < renewed + timedelta(seconds=duration):
            return False
        transitions = (spec.leaseTransitions or 0) + (1 if spec.holderIdentity != holder else 0)
        body = {
            "metadata": {"resourceVersion": lease.metadata.resourceVersion},
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": duration_s,
                "renewTime": _micro(now),
                "acquireTime": _micro(now)
                if spec.holderIdentity != holder
                else _micro(spec.acquireTime or now),
                "leaseTransitions": transitions,
            },
        }
        try:
            await self._request(
                "update",
                "leases",
                namespace,
                what,
                lambda: self._client.patch(
                    Lease, name, body, namespace=namespace, patch_type=PatchType.MERGE
                ),
            )
        except ClusterConflict:
            return False  # another candidate renewed or took it between our read and write
        return True

    async def release_lease(self, namespace: str, name: str, holder: str) -> None:
        what = f"lease {namespace}/{name}"
        try:
            lease: Any = await self._request(
                "get", "leases", namespace, what, lambda: self._client.get(Lease, name, namespace=namespace)
            )
        except WorkloadNotFound:
            return
        if lease.spec.holderIdentity != holder:
            return
        body = {
            "metadata": {"resourceVersion": lease.metadata.resourceVersion},
            "spec": {"holderIdentity": None},
        }
        try:
            await self._request(
                "update",
                "leases",
                namespace,
                what,
                lambda: self._client.patch(
                    Lease, name, body, namespace=namespace, patch_type=PatchType.MERGE
                ),
            )
        except ClusterConflict:
            return

    # --- the webhook's Secrets and MutatingWebhookConfiguration (issue 4) ------------------

    async def workload_annotations(self, ref: WorkloadRef) -> dict[str, str]:
        resource = _KINDS[ref.kind]
        obj = await self._request(
            "get",
            _PLURAL[ref.kind],
            ref.namespace,
            self._what(ref),
            lambda: self._client.get(resource, ref.name, namespace=ref.namespace),
        )
        return dict(obj.metadata.annotations or {})

    async def set_workload_annotations(self, ref: WorkloadRef, annotations: dict[str, str | None]) -> None:
        # A merge patch of metadata only: null removes a key, other annotations stay.
        await self._patch_workload(ref, {"metadata": {"annotations": dict(annotations)}}, PatchType.MERGE)

    async def _get_or_none(self, verb_resource: str, namespace: str | None, what: str, call: Any) -> Any:
        try:
            return await self._request("get", verb_resource, namespace, what, call)
        except WorkloadNotFound:
            return None

    async def get_secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        obj = await self._get_or_none(
            "secrets",
            namespace,
            f"secret {namespace}/{name}",
            lambda: self._client.get(Secret, name, namespace=namespace),
        )
        if obj is None:
            return None
        return {k: base64.b64decode(v) for k, v in (obj.data or {}).items()}

    async def put_secret(
        self,
        namespace: str,
        name: str,
        data: dict[str, bytes],
        *,
        kind: str = "Opaque",
        labels: dict[str, str] | None = None,
    ) -> None:
        what = f"secret {namespace}/{name}"
        encoded = {k: base64.b64encode(v).decode() for k, v in data.items()}

        async def attempt() -> None:
            current = await self._get_or_none(
                "secrets", namespace, what, lambda: self._client.get(Secret, name, namespace=namespace)
            )
            meta = ObjectMeta(name=name, namespace=namespace, labels=dict(labels or {}))
            if current is None:
                fresh = Secret(metadata=meta, type=kind, data=encoded)
                await self._request("create", "secrets", namespace, what, lambda: self._client.create(fresh))
                return
            meta.resourceVersion = current.metadata.resourceVersion
            replaced = Secret(metadata=meta, type=current.type or kind, data=encoded)
            await self._request("update", "secrets", namespace, what, lambda: self._client.replace(replaced))

        await self._with_conflict_retry(what, attempt)

    async def delete_secret(self, namespace: str, name: str) -> bool:
        try:
            await self._request(
                "delete",
                "secrets",
                namespace,
                f"secret {namespace}/{name}",
                lambda: self._client.delete(Secret, name, namespace=namespace),
            )
        except WorkloadNotFound:
            return False
        return True

    async def get_mutating_webhook(self, name: str) -> dict[str, Any] | None:
        obj = await self._get_or_none(
            "mutatingwebhookconfigurations",
            None,
            f"MutatingWebhookConfiguration {name}",
            lambda: self._client.get(MutatingWebhookConfiguration, name),
        )
        return None if obj is None else dict(obj.to_dict())

    async def put_mutating_webhook(self, body: dict[str, Any]) -> None:
        name = str(body["metadata"]["name"])
        what = f"MutatingWebhookConfiguration {name}"
        plural = "mutatingwebhookconfigurations"

        async def attempt() -> None:
            current = await self._get_or_none(
                plural, None, what, lambda: self._client.get(MutatingWebhookConfiguration, name)
            )
            wanted: Any = codecs.from_dict(
                {
                    **body,
                    "apiVersion": "admissionregistration.k8s.io/v1",
                    "kind": "MutatingWebhookConfiguration",
                }
            )
            if current is None:
                await self._request("create", plural, None, what, lambda: self._client.create(wanted))
                return
            wanted.metadata.resourceVersion = current.metadata.resourceVersion
            await self._request("update", plural, None, what, lambda: self._client.replace(wanted))

        await self._with_conflict_retry(what, attempt)

    async def delete_mutating_webhook(self, name: str) -> bool:
        try:
            await self._request(
                "delete",
                "mutatingwebhookconfigurations",
                None,
                f"MutatingWebhookConfiguration {name}",
                lambda: self._client.delete(MutatingWebhookConfiguration, name),
            )
        except WorkloadNotFound:
            return False
        return True


def _micro(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
