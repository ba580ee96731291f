"""The pod being scheduled, reduced to what the load policy needs: who it is, its size, its owner.

kube-scheduler sends a full ``v1.Pod``; the policy needs its effective requests and limits
(as kube-scheduler computes them: containers summed, init containers as a maximum,
restartable "sidecar" init containers added, plus the pod overhead), whether a DaemonSet
owns it, and the usage it is expected to add to a node once running. The estimate follows
Koordinator: max(request, limit) × 85 % for CPU and × 70 % for memory, with defaults for
pods that declare neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubecap.domain.quantity import QuantityError, parse_quantity


class PodError(ValueError):
    """The pod object is not a v1.Pod kubecap can read; the message says which field."""


@dataclass(frozen=True, slots=True)
class PodInfo:
    namespace: str
    name: str
    uid: str = ""
    daemonset: bool = False
    cpu_request: float = 0.0
    memory_request: float = 0.0
    cpu_limit: float = 0.0
    memory_limit: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Estimator:
    """Koordinator's estimate of a new pod's usage."""

    cpu_ratio: float = 0.85
    memory_ratio: float = 0.70
    default_cpu: float = 0.25
    default_memory: float = 200 * 2**20

    def cpu(self, pod: PodInfo) -> float:
        size = max(pod.cpu_request, pod.cpu_limit)
        return size * self.cpu_ratio if size > 0 else self.default_cpu

    def memory(self, pod: PodInfo) -> float:
        size = max(pod.memory_request, pod.memory_limit)
        return size * self.memory_ratio if size > 0 else self.default_memory


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PodError(f"{where} must be an object, not {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PodError(f"{where} must be a list, not {type(value).__name__}")
    return value


def _quantities(resources: Mapping[str, Any], kind: str, where: str) -> tuple[float, float]:
    values = _mapping(resources.get(kind), f"{where}.{kind}")
    out = []
    for resource in ("cpu", "memory"):
        raw = values.get(resource)
        if raw is None:
            out.append(0.0)
            continue
        try:
            out.append(parse_quantity(raw))
        except QuantityError as exc:
            raise PodError(f"{where}.{kind}.{resource} {raw!r} is not a quantity: {exc}") from None
    return out[0], out[1]


def _container_sizes(containers: list[Any], where: str) -> list[tuple[float, float, float, float, bool]]:
    sizes = []
    for index, container in enumerate(containers):
        spot = f"{where}[{index}]"
        body = _mapping(container, spot)
        resources = _mapping(body.get("resources"), f"{spot}.resources")
        cpu_req, mem_req = _quantities(resources, "requests", f"{spot}.resources")
        cpu_lim, mem_lim = _quantities(resources, "limits", f"{spot}.resources")
        # As kube-scheduler does: a limit without a request means the request equals the limit.
        cpu_req = cpu_req or cpu_lim
        mem_req = mem_req or mem_lim
        sidecar = body.get("restartPolicy") == "Always"
        sizes.append((cpu_req, mem_req, cpu_lim, mem_lim, sidecar))
    return sizes


def pod_info(pod: Any) -> PodInfo:
    """The PodInfo of a v1.Pod as JSON; PodError names the first field that is wrong."""
    body = _mapping(pod, "Pod")
    if not body:
        raise PodError("Pod is missing: kube-scheduler sends the pod being scheduled as 'Pod'")
    metadata = _mapping(body.get("metadata"), "Pod.metadata")
    spec = _mapping(body.get("spec"), "Pod.spec")
    name = metadata.get("name") or metadata.get("generateName") or ""
    if not isinstance(name, str) or not name:
        raise PodError("Pod.metadata.name is missing")
    namespace = metadata.get("namespace") or "default"
    if not isinstance(namespace, str):
        raise PodError("Pod.metadata.namespace must be a string")
    owners = _list(metadata.get("ownerReferences"), "Pod.metadata.ownerReferences")
    daemonset = any(isinstance(o, Mapping) and o.get("kind") == "DaemonSet" for o in owners)

    main = _container_sizes(_list(spec.get("containers"), "Pod.spec.containers"), "Pod.spec.containers")
    init = _container_sizes(
        _list(spec.get("initContainers"), "Pod.spec.initContainers"), "Pod.spec.initContainers"
    )
    totals = [sum(c[i] for c in main) + sum(c[i] for c in init if c[4]) for i in range(4)]
    # A plain init container runs alone (with the sidecars started before it): its size is a floor.
    for cpu_req, mem_req, cpu_lim, mem_lim, sidecar in init:
        if not sidecar:
            totals = [max(t, v) for t, v in zip(totals, (cpu_req, mem_req, cpu_lim, mem_lim), strict=True)]
    overhead = _mapping(spec.get("overhead"), "Pod.spec.overhead")
    extra_cpu, extra_mem = _quantities({"overhead": overhead}, "overhead", "Pod.spec")
    return PodInfo(
        namespace=namespace,
        name=name,
        uid=str(metadata.get("uid") or ""),
        daemonset=daemonset,
        cpu_request=totals[0] + extra_cpu,
        memory_request=totals[1] + extra_mem,
        cpu_limit=totals[2] + (extra_cpu if totals[2] else 0.0),
        memory_limit=totals[3] + (extra_mem if totals[3] else 0.0),
    )
