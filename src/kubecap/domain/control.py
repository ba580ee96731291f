"""The control table's rows: what replicas and resources kubecap enforces on a workload, and per namespace how.

A ``ControlSpec`` is the approved state of one Deployment or StatefulSet: a replicas mode
and value, and requests/limits for the containers it names (containers it does not name
are left alone). Inside a named container every resource is one of three things: a
quantity to enforce, ``None`` to remove (no limit, say), or absent to leave alone. Specs
are validated here, once, so nothing invalid reaches the store or the webhook's snapshot.

A ``NamespacePolicy`` says how the webhook treats a namespace: enforcement off, warn or
enforce; unmanaged workloads allowed, rejected or registered; and whether an internal
error admits the object unchanged (fail-open, the default) or rejects it (fail-closed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from kubecap.domain.quantity import QuantityError, parse_quantity
from kubecap.domain.workload import WorkloadKind, WorkloadRef

MAX_REPLICAS = 100_000
"""A sane upper bound for replicas: far above any real workload, far below int32 overflow."""

CONTROLLED_KINDS = (WorkloadKind.DEPLOYMENT, WorkloadKind.STATEFULSET)
ALL_NAMESPACES = "*"
"""The namespace name of a cluster's default policy."""

# A container name is a DNS label; a resource name is "cpu", "memory", "ephemeral-storage",
# "hugepages-2Mi" or an extended resource "vendor.example/gpu".
_CONTAINER = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_RESOURCE = re.compile(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)


class ControlError(ValueError):
    """A control spec or policy is invalid; the message names the value and the fix."""


class ReplicasMode(StrEnum):
    """Where a spec's replicas come from; ``hpa`` means an HPA owns them and kubecap never sets them."""

    FIXED = "fixed"
    RECOMMENDED = "recommended"
    OBSERVED = "observed"
    HPA = "hpa"


class Enforcement(StrEnum):
    OFF = "off"
    WARN = "warn"
    ENFORCE = "enforce"


class Unmanaged(StrEnum):
    """What happens to a workload that has no control spec."""

    ALLOW = "allow"
    REJECT = "reject"
    REGISTER = "register"


class Failure(StrEnum):
    """What an internal error of the webhook does: admit unchanged (open) or reject (closed)."""

    OPEN = "open"
    CLOSED = "closed"


@lru_cache(maxsize=4096)
def quantity_value(text: str | int | float) -> float:
    """``parse_quantity``, remembered: the webhook compares the same few quantities thousands of times a second."""
    return parse_quantity(text)


def same_quantity(a: str | int | float, b: str | int | float) -> bool:
    """Equal by value ("1000m" == "1", "1Gi" == "1024Mi"); an unparseable value equals only itself."""
    if a == b and type(a) is type(b):
        return True
    try:
        x, y = quantity_value(a), quantity_value(b)
    except QuantityError:
        return str(a) == str(b)
    return abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1e-9)


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """Requests and limits kubecap enforces on one container, by name.

    A resource mapped to a quantity is set, mapped to None is removed, absent is left alone.
    """

    container: str
    requests: Mapping[str, str | None] = field(default_factory=dict)
    limits: Mapping[str, str | None] = field(default_factory=dict)

    def validate(self) -> ContainerSpec:
        """Return self, or raise ControlError naming the first bad value."""
        if not _CONTAINER.match(self.container):
            raise ControlError(
                f"container name {self.container!r} is not a DNS label: use lower-case letters, digits and '-'"
            )
        for part, values in (("requests", self.requests), ("limits", self.limits)):
            for name, text in values.items():
                if not _RESOURCE.match(name):
                    raise ControlError(
                        f"container {self.container!r}: {part} names resource {name!r}, which is not a "
                        "resource name: use cpu, memory, ephemeral-storage or vendor.example/name"
                    )
                if text is None:
                    continue
                try:
                    value = parse_quantity(text)
                except QuantityError:
                    raise ControlError(
                        f"container {self.container!r}: {part}.{name} {text!r} is not a Kubernetes quantity: "
                        "write it like 250m, 1.5, 512Mi or 2Gi"
                    ) from None
                if value < 0:
                    raise ControlError(
                        f"container {self.container!r}: {part}.{name} must not be negative, got {text!r}"
                    )
        for name, request in self.requests.items():
            limit = self.limits.get(name)
            if request is not None and limit is not None and parse_quantity(limit) < parse_quantity(request):
                raise ControlError(
                    f"container {self.container!r}: the {name} limit {limit} is below the request {request}: "
                    "raise the limit or lower the request"
                )
        return self

    @property
    def empty(self) -> bool:
        return not self.requests and not self.limits

    def merged(self, other: ContainerSpec) -> ContainerSpec:
        """This spec with ``other``'s entries laid over it (same container)."""
        return ContainerSpec(
            self.container, {**self.requests, **other.requests}, {**self.limits, **other.limits}
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "container": self.container,
            "requests": dict(sorted(self.requests.items())),
            "limits": dict(sorted(self.limits.items())),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ContainerSpec:
        requests = data.get("requests") or {}
        limits = data.get("limits") or {}
        if not isinstance(requests, Mapping) or not isinstance(limits, Mapping):
            raise ControlError("requests and limits must be mappings of resource name to quantity or null")
        return cls(
            container=str(data.get("container", "")),
            requests={str(k): None if v is None else str(v) for k, v in requests.items()},
            limits={str(k): None if v is None else str(v) for k, v in limits.items()},
        )


@dataclass(frozen=True, slots=True)
class ControlSpec:
    """The approved replicas and resources of one Deployment or StatefulSet."""

    ref: WorkloadRef
    replicas_mode: ReplicasMode
    replicas: int | None
    containers: tuple[ContainerSpec, ...] = ()
    source: str = "manual"
    """``manual``, ``init:cluster``, ``init:collection``, ``webhook:register`` or
    ``recommendation:<strategy>@<computed at>``."""

    def validate(self) -> ControlSpec:
        """Return self, or raise ControlError with one sentence naming the value and the fix."""
        if self.ref.kind not in CONTROLLED_KINDS:
            raise ControlError(
                f"{self.ref} is a {self.ref.kind.value}: the control table holds Deployments and StatefulSets only"
            )
        if self.replicas_mode is ReplicasMode.HPA:
            if self.replicas is not None:
                raise ControlError(
                    f"{self.ref}: replicas mode hpa leaves replicas to the HPA, so no replicas value may be "
                    "given: drop --replicas, or choose mode fixed"
                )
        elif self.replicas is None:
            raise ControlError(
                f"{self.ref}: replicas mode {self.replicas_mode.value} needs a replicas value: give --replicas"
            )
        elif isinstance(self.replicas, bool) or not isinstance(self.replicas, int):
            raise ControlError(f"{self.ref}: replicas must be a whole number, got {self.replicas!r}")
        elif not 0 <= self.replicas <= MAX_REPLICAS:
            raise ControlError(
                f"{self.ref}: replicas {self.replicas} is outside 0..{MAX_REPLICAS}: give a value in that range"
            )
        names = [c.container for c in self.containers]
        if len(set(names)) != len(names):
            raise ControlError(f"{self.ref}: a container is listed twice: list each container once")
        for container in self.containers:
            container.validate()
        return self

    def container(self, name: str) -> ContainerSpec | None:
        return next((c for c in self.containers if c.container == name), None)

    def enforced_replicas(self) -> int | None:
        """The replicas kubecap sets, None when it leaves them alone (mode hpa)."""
        return None if self.replicas_mode is ReplicasMode.HPA else self.replicas

    def values(self) -> dict[str, Any]:
        """The spec's values as JSON (what history and audit events record)."""
        return {
            "replicas_mode": self.replicas_mode.value,
            "replicas": self.replicas,
            "containers": [c.to_dict() for c in self.containers],
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class SpecVersion:
    """One entry of a spec's history: its values after a change (None: the spec was removed)."""

    ref: WorkloadRef
    version: int
    spec: ControlSpec | None
    changed_at: datetime
    changed_by: str
    reason: str


@dataclass(frozen=True, slots=True)
class NamespacePolicy:
    """How the webhook treats one namespace (``*``: the cluster's default)."""

    cluster: str
    namespace: str
    enforcement: Enforcement = Enforcement.ENFORCE
    unmanaged: Unmanaged = Unmanaged.ALLOW
    failure: Failure = Failure.OPEN

    def validate(self) -> NamespacePolicy:
        if self.namespace != ALL_NAMESPACES and not _CONTAINER.match(self.namespace):
            raise ControlError(
                f"namespace {self.namespace!r} is not a namespace name: give a DNS label, or * for the default"
            )
        return self

    def values(self) -> dict[str, str]:
        return {
            "enforcement": self.enforcement.value,
            "unmanaged": self.unmanaged.value,
            "failure": self.failure.value,
        }


DEFAULT_POLICY_VALUES = NamespacePolicy(cluster="", namespace=ALL_NAMESPACES)
"""What applies where neither the namespace nor the cluster default has a policy."""


def policy_for(policies: Mapping[str, NamespacePolicy], cluster: str, namespace: str) -> NamespacePolicy:
    """The namespace's policy, else the cluster default (``*``), else enforce/allow/open."""
    found = policies.get(namespace) or policies.get(ALL_NAMESPACES)
    if found is not None:
        return found
    return NamespacePolicy(cluster=cluster, namespace=namespace)


@dataclass(frozen=True, slots=True)
class ControlSnapshot:
    """Everything the webhook decides from, for one cluster, at one version of the table."""

    cluster: str
    version: int
    specs: Mapping[tuple[str, WorkloadKind, str], ControlSpec]
    policies: Mapping[str, NamespacePolicy]

    def spec(self, namespace: str, kind: WorkloadKind, name: str) -> ControlSpec | None:
        return self.specs.get((namespace, kind, name))

    def policy(self, namespace: str) -> NamespacePolicy:
        return policy_for(self.policies, self.cluster, namespace)

    @classmethod
    def build(
        cls, cluster: str, version: int, specs: list[ControlSpec], policies: list[NamespacePolicy]
    ) -> ControlSnapshot:
        return cls(
            cluster=cluster,
            version=version,
            specs={(s.ref.namespace, s.ref.kind, s.ref.name): s for s in specs},
            policies={p.namespace: p for p in policies},
        )


TEMPORARY_REPLICAS = "kubecap.io/temporary-replicas"
"""The workload annotation ``"<n>@<RFC 3339 expiry>"`` whose replicas win over the table until it expires."""


@dataclass(frozen=True, slots=True)
class TemporaryReplicas:
    replicas: int
    until: datetime

    def active(self, now: datetime) -> bool:
        return now < self.until


def parse_temporary_replicas(text: str) -> TemporaryReplicas:
    """``"12@2026-12-01T18:00:00Z"`` as a TemporaryReplicas, or ControlError saying what is wrong."""
    count, sep, when = text.strip().partition("@")
    example = "write it as <replicas>@<RFC 3339 time>, e.g. 12@2026-12-01T18:00:00Z"
    if not sep or not count.strip().isdigit():
        raise ControlError(f"annotation {TEMPORARY_REPLICAS}={text!r} is not valid: {example}")
    replicas = int(count)
    if replicas > MAX_REPLICAS:
        raise ControlError(
            f"annotation {TEMPORARY_REPLICAS}={text!r} asks for more than {MAX_REPLICAS} replicas: {example}"
        )
    try:
        until = datetime.fromisoformat(when.strip().replace("z", "Z"))
    except ValueError:
        raise ControlError(
            f"annotation {TEMPORARY_REPLICAS}={text!r} has no valid expiry: {example}"
        ) from None
    if until.tzinfo is None:
        raise ControlError(
            f"annotation {TEMPORARY_REPLICAS}={text!r} has an expiry without a time zone: {example}"
        )
    return TemporaryReplicas(replicas, until)
