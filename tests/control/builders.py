"""Specs, policies and one-call decisions for the control tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jsonpatch

from kubecap.control.admission import Decision, decide
from kubecap.control.review import decode
from kubecap.domain.control import (
    ContainerSpec,
    ControlSpec,
    Enforcement,
    Failure,
    NamespacePolicy,
    ReplicasMode,
    Unmanaged,
)
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.testing.admission import body

CLUSTER = "prod"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def spec(
    name: str = "web",
    *,
    namespace: str = "shop",
    kind: WorkloadKind = WorkloadKind.DEPLOYMENT,
    replicas: int | None = 2,
    mode: ReplicasMode = ReplicasMode.FIXED,
    containers: tuple[ContainerSpec, ...] = (
        ContainerSpec("app", {"cpu": "250m", "memory": "256Mi"}, {"cpu": None, "memory": "512Mi"}),
    ),
) -> ControlSpec:
    return ControlSpec(
        WorkloadRef(CLUSTER, namespace, kind, name), mode, replicas, containers, source="manual"
    ).validate()


def policy(
    enforcement: Enforcement = Enforcement.ENFORCE,
    unmanaged: Unmanaged = Unmanaged.ALLOW,
    failure: Failure = Failure.OPEN,
    namespace: str = "shop",
) -> NamespacePolicy:
    return NamespacePolicy(CLUSTER, namespace, enforcement, unmanaged, failure)


def run(
    document: dict[str, Any],
    control: ControlSpec | None,
    where: NamespacePolicy | None = None,
    *,
    now: datetime = NOW,
    parent_annotations: dict[str, str] | None = None,
) -> Decision:
    return decide(
        decode(body(document)), control, where or policy(), now, parent_annotations=parent_annotations
    )


def patched(obj: dict[str, Any], decision: Decision) -> dict[str, Any]:
    """``obj`` with the decision's patch applied (jsonpatch raises if any operation does not apply)."""
    result: dict[str, Any] = jsonpatch.apply_patch(obj, list(decision.patch))
    return result


def containers_of(obj: dict[str, Any]) -> dict[str, Any]:
    return {c["name"]: c.get("resources") for c in obj["spec"]["template"]["spec"]["containers"]}
