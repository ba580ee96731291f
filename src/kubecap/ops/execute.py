"""Carrying out one operation on a cluster and describing what changed (for the run and the audit).

Errors are sorted here: a transient cluster error (unreachable, conflict, server error)
asks for a retry, any other KubecapError fails the run with its sentence, and anything else
is a bug that fails the run with its type and message (the runner keeps going).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubecap.cluster.port import ClusterError, ClusterPort
from kubecap.domain.tasks import Operation, OperationSpec
from kubecap.errors import KubecapError


@dataclass(frozen=True, slots=True)
class Executed:
    """What an operation did: result fields, and the state before and after for the audit."""

    result: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ExecutionFailed(Exception):
    message: str
    transient: bool
    detail: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


async def execute(cluster: ClusterPort, spec: OperationSpec, now: datetime) -> Executed:
    """Run ``spec`` against ``cluster``; raises ExecutionFailed (never anything else)."""
    try:
        return await _execute(cluster, spec, now)
    except ClusterError as exc:
        raise ExecutionFailed(str(exc), transient=exc.transient) from exc
    except KubecapError as exc:
        raise ExecutionFailed(str(exc), transient=False) from exc
    except Exception as exc:
        raise ExecutionFailed(
            f"unexpected error ({type(exc).__name__}: {exc}): please report it", False
        ) from exc


async def _execute(cluster: ClusterPort, spec: OperationSpec, now: datetime) -> Executed:
    target = spec.target
    if spec.operation is Operation.SCALE:
        assert spec.replicas is not None
        before = await cluster.scale(target, spec.replicas)
        return Executed(
            result={"replicas_before": before, "replicas": spec.replicas},
            before={"replicas": before},
            after={"replicas": spec.replicas},
        )
    if spec.operation is Operation.RESTART:
        stamp = now.astimezone(UTC).isoformat()
        await cluster.restart(target, now)
        return Executed(result={"restarted_at": stamp}, before={}, after={"restartedAt": stamp})
    workload = await cluster.patch_resources(target, spec.resources)
    names = {r.container for r in spec.resources}
    return Executed(
        result={"containers": sorted(names)},
        before={"containers": [c.to_dict() for c in workload.containers if c.container in names]},
        after={"containers": [r.to_dict() for r in spec.resources]},
    )
