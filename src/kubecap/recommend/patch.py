"""Recommendations as patches a GitOps user can apply: one strategic merge patch per workload.

Strategic merge patches address containers by name (the ``containers`` list merges on
``name``), which is what kubecap's recommendations are keyed by; an RFC 6902 JSON patch
would need each container's index in the manifest, which kubecap does not know (and must
never guess, as "containers[0]" tools do). Each document is a valid partial object for
``kubectl patch --type strategic --patch-file``, for kustomize ``patches:``, or to merge by
hand. Only containers whose values change are listed; a removed limit is ``null``, which
deletes the key under strategic merge rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import Any

import yaml

from kubecap.domain.quantity import format_cpu
from kubecap.domain.recommendation import Recommendation, Status
from kubecap.domain.workload import WorkloadRef

_MIB = 2**20


def cpu_quantity(cores: float) -> str:
    return format_cpu(cores)


def memory_quantity(value: float) -> str:
    """Whole MiB as "300Mi" (or whole GiB as "2Gi"), anything else in plain bytes."""
    byte_count = round(value)
    if byte_count % _MIB == 0:
        mib = byte_count // _MIB
        return f"{mib // 1024}Gi" if mib and mib % 1024 == 0 else f"{mib}Mi"
    return str(byte_count)


def _container_patch(rec: Recommendation) -> dict[str, Any] | None:
    changes = rec.target.changes(rec.current)
    if rec.status is not Status.OK or not changes:
        return None
    resources: dict[str, dict[str, str | None]] = {}
    for name, value in changes.items():
        resource, kind = name.split("_")
        section = "requests" if kind == "request" else "limits"
        key = "cpu" if resource == "cpu" else "memory"
        quantity = None if value is None else cpu_quantity(value) if key == "cpu" else memory_quantity(value)
        resources.setdefault(section, {})[key] = quantity
    return {"name": rec.ref.container, "resources": resources}


def workload_patch(
    ref: WorkloadRef, recs: Sequence[Recommendation], *, replicas: bool
) -> dict[str, Any] | None:
    """The patch of one workload, None when nothing changes."""
    containers = [patch for patch in (_container_patch(r) for r in recs) if patch is not None]
    spec: dict[str, Any] = {}
    advice = next((r.replicas for r in recs if r.replicas is not None), None)
    if replicas and advice is not None and advice.replicas is not None and advice.replicas != advice.current:
        spec["replicas"] = advice.replicas
    if containers:
        spec["template"] = {"spec": {"containers": containers}}
    if not spec:
        return None
    return {
        "apiVersion": "apps/v1",
        "kind": ref.kind.value,
        "metadata": {"name": ref.name, "namespace": ref.namespace},
        "spec": spec,
    }


def patches(
    recommendations: Sequence[Recommendation], *, replicas: bool = False
) -> list[tuple[WorkloadRef, dict[str, Any]]]:
    """One patch per workload with changes, in workload order."""
    ordered = sorted(recommendations, key=lambda r: (r.ref.workload, r.ref.container))
    out = []
    for ref, group in groupby(ordered, key=lambda r: r.ref.workload):
        patch = workload_patch(ref, list(group), replicas=replicas)
        if patch is not None:
            out.append((ref, patch))
    return out


def render(recommendations: Sequence[Recommendation], *, replicas: bool = False) -> str:
    """A multi-document YAML stream, each document headed by a comment saying how to apply it."""
    documents = []
    for ref, patch in patches(recommendations, replicas=replicas):
        strategies = ", ".join(sorted({r.strategy for r in recommendations if r.ref.workload == ref}))
        header = (
            f"# {ref} (strategy {strategies})\n"
            f"# kubectl patch {ref.kind.value.lower()} {ref.name} -n {ref.namespace} "
            "--type strategic --patch-file <this document>\n"
        )
        documents.append(header + yaml.safe_dump(patch, sort_keys=False, default_flow_style=False))
    return "---\n".join(documents)
