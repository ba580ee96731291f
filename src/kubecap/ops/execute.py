"""Carrying out one operation on a cluster and describing what changed (for the run and the audit).

Managed workloads (those with a control spec) change through the control table first and
then live: the admission webhook enforces the table, so a live change alone would be undone
at the next rollout (or refused at once). The table is written before the cluster so the
webhook agrees with the live change when it reviews it. Unmanaged workloads change live only.

A temporary scale is the ``kubecap.io/temporary-replicas`` annotation (which the webhook
honours until it expires) plus a live scale; the task that ends it removes the annotation
and scales back to the table's replicas, or to those seen before for an unmanaged workload.
Those are kept in a second annotation (``kubecap.io/replicas-before-temporary``) by the
first temporary scale and read by any scale that follows it before it ends, so a temporary
scale on top of another returns to the replicas before both, not to the first one's.
A permanent scale removes both annotations, since the override would otherwise win over
the new replicas until it expires.

The webhook reloads the table every few seconds, so for a moment after the table changed it
may still enforce the old values and turn the live change back. A managed workload's change
is therefore read back and made again after short pauses (``settle``) until the live object
agrees; if it never does, the run fails as transient and is retried by the task's policy.

Errors are sorted here: a transient cluster error (unreachable, conflict, server error)
asks for a retry, any other KubecapError or invalid value fails the run with its sentence,
and anything else is a bug that fails the run with its type and message (the runner keeps
going).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubecap.cluster.port import ClusterConflict, ClusterError, ClusterPort, WorkloadNotFound
from kubecap.domain.control import (
    TEMPORARY_REPLICAS,
    ControlError,
    ControlSpec,
    ReplicasMode,
    parse_temporary_replicas,
)
from kubecap.domain.quantity import QuantityError, parse_quantity
from kubecap.domain.resources import ContainerResources, ResourcesError
from kubecap.domain.tasks import Operation, OperationSpec, TaskError
from kubecap.domain.workload import WorkloadRef
from kubecap.errors import ConfigError, KubecapError
from kubecap.ops.ports import ControlTable


@dataclass(frozen=True, slots=True)
class Executed:
    """What an operation did: result fields, and the state before and after for the audit.

    ``note`` is said after the operation's description in the run's message (e.g. why a
    task that ends a temporary scale found nothing to do)."""

    result: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]
    note: str = ""


@dataclass(frozen=True, slots=True)
class ExecutionFailed(Exception):
    message: str
    transient: bool
    detail: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


SETTLE_DELAYS_S = (1.0, 2.0, 4.0, 8.0)
"""15 s in all: three times the webhook's default refresh of its table (5 s)."""


REPLICAS_BEFORE = "kubecap.io/replicas-before-temporary"
"""The replicas a workload had before its temporary scales (kept while one is in place)."""


def temporary_annotation(replicas: int, until: datetime) -> str:
    """The annotation value the webhook parses: ``"<n>@<RFC 3339 UTC time>"``."""
    return f"{replicas}@{until.astimezone(UTC).isoformat().replace('+00:00', 'Z')}"


async def execute(
    cluster: ClusterPort,
    spec: OperationSpec,
    now: datetime,
    *,
    control: ControlTable | None = None,
    actor: str = "kubecap",
    reason: str = "",
    settle: Sequence[float] = SETTLE_DELAYS_S,
) -> Executed:
    """Run ``spec`` against ``cluster`` (and ``control``); raises ExecutionFailed (never anything else).

    ``actor`` and ``reason`` are recorded with a change of the control table; ``settle`` are
    the pauses (seconds) before a managed workload's change is read back and made again."""
    try:
        target = _Target(cluster, control, spec, now, actor, reason or spec.describe(), tuple(settle))
        return await _execute(target)
    except ClusterError as exc:
        raise ExecutionFailed(str(exc), transient=exc.transient) from exc
    except (KubecapError, ControlError, TaskError, ResourcesError) as exc:
        raise ExecutionFailed(str(exc), transient=False) from exc
    except Exception as exc:
        raise ExecutionFailed(
            f"unexpected error ({type(exc).__name__}: {exc}): please report it", False
        ) from exc


@dataclass(frozen=True, slots=True)
class _Target:
    cluster: ClusterPort
    control: ControlTable | None
    spec: OperationSpec
    now: datetime
    actor: str
    reason: str
    settle: tuple[float, ...] = ()

    @property
    def ref(self) -> WorkloadRef:
        return self.spec.target

    async def managed(self) -> ControlSpec | None:
        return None if self.control is None else await self.control.spec(self.ref)


async def _execute(t: _Target) -> Executed:
    spec = t.spec
    if spec.operation is Operation.SCALE:
        if spec.ends_override:
            return await _end_override(t)
        if spec.revert_at is not None:
            return await _scale_temporarily(t, spec.revert_at)
        return await _scale(t)
    if spec.operation is Operation.RESTART:
        stamp = t.now.astimezone(UTC).isoformat()
        await t.cluster.restart(t.ref, t.now)
        return Executed(result={"restarted_at": stamp}, before={}, after={"restartedAt": stamp})
    return await _apply(t)


def refuse_hpa(managed: ControlSpec | None, what: str) -> None:
    """A ConfigError when an HPA owns the managed workload's replicas (the webhook leaves them to it)."""
    if managed is not None and managed.replicas_mode is ReplicasMode.HPA:
        ref = managed.ref
        raise ConfigError(
            f"{ref} is in the control table with replicas mode hpa, so its HPA owns the replicas and "
            f"kubecap does not {what}: change the HPA's bounds, or set `kubecap control set "
            f"{ref.kind.value.lower()}/{ref.name} -n {ref.namespace} --replicas N` first"
        )


async def _scale(t: _Target) -> Executed:
    assert t.spec.replicas is not None
    replicas = t.spec.replicas
    managed = await t.managed()
    refuse_hpa(managed, "scale it")
    annotations = await t.cluster.workload_annotations(t.ref)
    result: dict[str, Any] = {}
    if managed is not None:
        assert t.control is not None
        await t.control.set_replicas(t.ref, replicas, actor=t.actor, reason=t.reason)
        result["control_table"] = "updated"
    override = annotations.get(TEMPORARY_REPLICAS)
    if override is not None or REPLICAS_BEFORE in annotations:
        # Left in place, an active override would win over the new replicas until it expires.
        await t.cluster.set_workload_annotations(t.ref, {TEMPORARY_REPLICAS: None, REPLICAS_BEFORE: None})
    if override is not None:
        result["ended_temporary_scale"] = override
    before = await t.cluster.scale(t.ref, replicas)
    if managed is not None:
        await _settle_replicas(t, replicas)
    return Executed(
        result={"replicas_before": before, "replicas": replicas, **result},
        before={"replicas": before, **({TEMPORARY_REPLICAS: override} if override else {})},
        after={"replicas": replicas},
    )


async def _scale_temporarily(t: _Target, until: datetime) -> Executed:
    assert t.spec.replicas is not None
    replicas = t.spec.replicas
    refuse_hpa(await t.managed(), "honour a temporary scale")
    # Read before annotating: on a managed workload the webhook applies the override as soon
    # as the annotation lands, and the replicas before are what an unmanaged one returns to:
    # those before an earlier temporary scale still in place, else the live ones.
    workload = await t.cluster.get_workload(t.ref)
    kept = _replicas_before(await t.cluster.workload_annotations(t.ref))
    previous = kept if kept is not None else workload.replicas or 0
    annotation = temporary_annotation(replicas, until)
    await t.cluster.set_workload_annotations(
        t.ref, {TEMPORARY_REPLICAS: annotation, REPLICAS_BEFORE: str(previous)}
    )
    # Where the webhook enforces, the annotation's update has already set the replicas; a scale
    # request then could even be turned back to the table's by a webhook that does not read the
    # workload's annotations on scale reviews (webhook.read_parent_annotations off).
    if (await t.cluster.get_workload(t.ref)).replicas != replicas:
        await t.cluster.scale(t.ref, replicas)
    return Executed(
        result={"replicas_before": previous, "replicas": replicas, "annotation": annotation},
        before={"replicas": previous},
        after={"replicas": replicas, TEMPORARY_REPLICAS: annotation},
    )


def _replicas_before(annotations: Mapping[str, str]) -> int | None:
    """The replicas kept by a temporary scale still in place (None: none, or not a count)."""
    raw = annotations.get(REPLICAS_BEFORE, "")
    return int(raw) if raw.isdigit() else None


async def _end_override(t: _Target) -> Executed:
    raw = (await t.cluster.workload_annotations(t.ref)).get(TEMPORARY_REPLICAS)
    if raw is None:
        return Executed(
            result={"skipped": "no temporary scale in place"},
            before={},
            after={},
            note="nothing to do: no temporary scale is in place (a later scale ended it)",
        )
    try:
        active = parse_temporary_replicas(raw).active(t.now)
    except ControlError:
        active = False  # unreadable: the webhook ignores it too; removing it is safe
    if active:
        return Executed(
            result={"skipped": f"a later temporary scale is in place: {raw}"},
            before={},
            after={},
            note=f"nothing to do: a later temporary scale ({TEMPORARY_REPLICAS}={raw}) is in place and ends itself",
        )
    managed = await t.managed()
    await t.cluster.set_workload_annotations(t.ref, {TEMPORARY_REPLICAS: None, REPLICAS_BEFORE: None})
    if managed is not None and managed.replicas_mode is ReplicasMode.HPA:
        return Executed(
            result={"removed": raw, "replicas": "hpa"},
            before={TEMPORARY_REPLICAS: raw},
            after={},
            note="its HPA owns the replicas now, so they were left to it",
        )
    target = managed.replicas if managed is not None else t.spec.replicas
    assert target is not None
    before = await t.cluster.scale(t.ref, target)
    if managed is not None:
        await _settle_replicas(t, target)
    return Executed(
        result={
            "replicas_before": before,
            "replicas": target,
            "from": "control table" if managed is not None else "replicas before the temporary scale",
        },
        before={"replicas": before, TEMPORARY_REPLICAS: raw},
        after={"replicas": target},
    )


async def _apply(t: _Target) -> Executed:
    resources = t.spec.resources
    names = {r.container for r in resources}
    managed = await t.managed()
    if managed is not None:
        assert t.control is not None
        # Checked before the table changes, so a wrong name never lands in the spec.
        present = {c.container for c in (await t.cluster.get_workload(t.ref)).containers}
        missing = sorted(names - present)
        if missing:
            raise WorkloadNotFound(
                f"{t.ref} has no container {missing[0]!r} (it has {', '.join(sorted(present))}): "
                "check the container name"
            )
        await t.control.set_resources(
            t.ref, resources, actor=t.actor, reason=t.reason, source=t.spec.source or "ops:apply"
        )
    workload = await t.cluster.patch_resources(t.ref, resources)
    if managed is not None:
        await _settle_resources(t, resources)
    result: dict[str, Any] = {"containers": sorted(names)}
    if managed is not None:
        result["control_table"] = "updated"
    return Executed(
        result=result,
        before={"containers": [c.to_dict() for c in workload.containers if c.container in names]},
        after={"containers": [r.to_dict() for r in resources]},
    )


async def _settle_replicas(t: _Target, replicas: int) -> None:
    for delay in t.settle:
        live = (await t.cluster.get_workload(t.ref)).replicas
        if live == replicas:
            return
        await asyncio.sleep(delay)
        await t.cluster.scale(t.ref, replicas)
    live = (await t.cluster.get_workload(t.ref)).replicas
    if live != replicas:
        raise ClusterConflict(
            f"{t.ref} is at {live} replicas after kubecap scaled it to {replicas}: the admission webhook has "
            "probably not loaded the new control table yet, or something else scales it"
        )


def _same(wanted: ContainerResources, live: ContainerResources | None) -> bool:
    """Equal by value ("1000m" is "1"): the apiserver may rewrite a quantity's spelling."""
    if live is None:
        return False
    try:
        return all(
            {k: parse_quantity(v) for k, v in getattr(wanted, part).items()}
            == {k: parse_quantity(v) for k, v in getattr(live, part).items()}
            for part in ("requests", "limits")
        )
    except QuantityError:
        return False


async def _settle_resources(t: _Target, resources: tuple[ContainerResources, ...]) -> None:
    async def agrees() -> bool:
        live = await t.cluster.get_workload(t.ref)
        return all(_same(r, live.container(r.container)) for r in resources)

    for delay in t.settle:
        if await agrees():
            return
        await asyncio.sleep(delay)
        await t.cluster.patch_resources(t.ref, resources)
    if not await agrees():
        raise ClusterConflict(
            f"the containers of {t.ref} do not have the applied resources after kubecap patched them: the "
            "admission webhook has probably not loaded the new control table yet"
        )
