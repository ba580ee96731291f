"""The control service: fill and change the control table, its policies, and read its history.

The CLI (and later the API and the UI) go through here, so every change is validated the
same way (one sentence for bad input, nothing invalid stored), shown as the same diff, and
audited the same way. ``init`` fills the table from the latest collection or the live
cluster (KubeDoor's "initialise the control table"); ``approve`` turns selected
recommendations into specs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from kubecap.cluster.port import ClusterPort
from kubecap.control.ports import ControlStore
from kubecap.domain.audit import AuditEvent, AuditResult
from kubecap.domain.control import (
    ALL_NAMESPACES,
    CONTROLLED_KINDS,
    MAX_REPLICAS,
    ContainerSpec,
    ControlError,
    ControlSpec,
    Enforcement,
    Failure,
    NamespacePolicy,
    ReplicasMode,
    SpecVersion,
    Unmanaged,
)
from kubecap.domain.quantity import format_cpu
from kubecap.domain.recommendation import Recommendation, Resources, Status
from kubecap.domain.workload import WorkloadRef
from kubecap.errors import ConfigError, NotFoundError

Clock = Callable[[], datetime]
_MIB = 2**20


def utc_now() -> datetime:
    return datetime.now(UTC)


def memory_quantity(value: float) -> str:
    """Whole MiB as "300Mi" (whole GiB as "2Gi"), anything else in plain bytes: exact, never rounded up."""
    count = round(value)
    if count % _MIB == 0 and count:
        mib = count // _MIB
        return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"
    return str(count)


def _flat(spec: ControlSpec | None) -> dict[str, str]:
    if spec is None:
        return {}
    flat = {
        "replicas": f"{spec.replicas_mode.value} {'' if spec.replicas is None else spec.replicas}".strip()
    }
    for container in spec.containers:
        for part, values in (("requests", container.requests), ("limits", container.limits)):
            for name, value in values.items():
                flat[f"{container.container}.{part}.{name}"] = "unset" if value is None else value
    return flat


@dataclass(frozen=True, slots=True)
class SpecChange:
    """A spec before and after a change (before None: new; after None: removed)."""

    ref: WorkloadRef
    before: ControlSpec | None
    after: ControlSpec | None

    def lines(self) -> list[str]:
        """``field: before -> after`` for every field that differs ("-": not in the spec)."""
        old, new = _flat(self.before), _flat(self.after)
        return [
            f"{name}: {old.get(name, '-')} -> {new.get(name, '-')}"
            for name in sorted(set(old) | set(new), key=lambda n: (n != "replicas", n))
            if old.get(name) != new.get(name)
        ]

    @property
    def changed(self) -> bool:
        return bool(self.lines()) or (self.before is None) != (self.after is None)

    def describe(self) -> str:
        state = "new" if self.before is None else "removed" if self.after is None else "changed"
        return f"{self.ref} ({state})"


def container_from_resources(name: str, resources: Resources) -> ContainerSpec:
    """A container spec from recommended values: every resource set, or removed where None."""

    def cpu(value: float | None) -> str | None:
        return None if value is None else format_cpu(value)

    def mem(value: float | None) -> str | None:
        return None if value is None else memory_quantity(value)

    return ContainerSpec(
        name,
        {"cpu": cpu(resources.cpu_request), "memory": mem(resources.mem_request)},
        {"cpu": cpu(resources.cpu_limit), "memory": mem(resources.mem_limit)},
    )


def _with_container(
    containers: Sequence[ContainerSpec], new: ContainerSpec, merge: bool
) -> tuple[ContainerSpec, ...]:
    out = []
    placed = False
    for container in containers:
        if container.container == new.container:
            out.append(container.merged(new) if merge else new)
            placed = True
        else:
            out.append(container)
    if not placed:
        out.append(new)
    return tuple(out)


class ControlService:
    def __init__(self, store: ControlStore, *, clock: Clock = utc_now) -> None:
        self._store = store
        self._clock = clock

    # --- reading ------------------------------------------------------------------------

    async def specs(self, *, cluster: str | None = None, namespace: str | None = None) -> list[ControlSpec]:
        return await self._store.control_specs(cluster=cluster, namespace=namespace)

    async def spec(self, ref: WorkloadRef) -> ControlSpec:
        found = await self._store.control_spec(ref)
        if found is None:
            raise NotFoundError(
                f"{ref} has no control spec: see `kubecap control show` for the managed workloads"
            )
        return found

    async def history(self, ref: WorkloadRef, limit: int = 100) -> list[SpecVersion]:
        versions = await self._store.control_history(ref, limit)
        if not versions:
            raise NotFoundError(f"{ref} has never had a control spec: check the namespace, kind and name")
        return versions

    async def policies(self, cluster: str) -> list[NamespacePolicy]:
        return await self._store.namespace_policies(cluster=cluster)

    # --- changing -----------------------------------------------------------------------

    def _event(self, action: str, change: SpecChange, actor: str, reason: str, now: datetime) -> AuditEvent:
        return AuditEvent(
            at=now,
            actor=actor,
            action=action,
            cluster=change.ref.cluster,
            target=str(change.ref),
            result=AuditResult.OK,
            before=change.before.values() if change.before else None,
            after=change.after.values() if change.after else None,
            message=reason,
        )

    async def apply(
        self, changes: Sequence[SpecChange], *, action: str, actor: str, reason: str, dry_run: bool = False
    ) -> list[SpecChange]:
        """Store the changed specs (all or nothing) with one audit event each; the changes applied."""
        wanted = [c for c in changes if c.changed and c.after is not None]
        if dry_run or not wanted:
            return wanted
        now = self._clock()
        await self._store.save_control_specs(
            [c.after for c in wanted if c.after is not None],
            now=now,
            actor=actor,
            reason=reason,
            audit=[self._event(action, c, actor, reason, now) for c in wanted],
        )
        return wanted

    async def set(
        self,
        ref: WorkloadRef,
        *,
        actor: str,
        reason: str = "",
        replicas: int | None = None,
        mode: ReplicasMode | None = None,
        container: ContainerSpec | None = None,
        leave: Sequence[tuple[str, str]] = (),
        dry_run: bool = False,
    ) -> SpecChange:
        """Create or change one spec: replicas and mode, and/or one container's values (merged);
        ``leave`` lists (requests|limits, resource) of that container to stop managing."""
        before = await self._store.control_spec(ref)
        if mode is None:
            mode = ReplicasMode.FIXED if replicas is not None or before is None else before.replicas_mode
        if replicas is None and mode is not ReplicasMode.HPA and before is not None:
            replicas = before.replicas if before.replicas_mode is not ReplicasMode.HPA else None
        if before is None and replicas is None and mode is not ReplicasMode.HPA:
            raise ControlError(
                f"{ref} is not in the control table yet: give its replicas with --replicas N "
                "(or --replicas-mode hpa when an HPA scales it)"
            )
        containers = before.containers if before is not None else ()
        if container is not None:
            containers = _with_container(containers, container, merge=True)
            if leave:
                merged = next(c for c in containers if c.container == container.container)
                kept = {
                    part: {k: v for k, v in getattr(merged, part).items() if (part, k) not in set(leave)}
                    for part in ("requests", "limits")
                }
                containers = _with_container(
                    containers,
                    ContainerSpec(container.container, kept["requests"], kept["limits"]),
                    merge=False,
                )
            containers = tuple(c for c in containers if not c.empty)
        after = ControlSpec(ref, mode, replicas, containers, source="manual").validate()
        change = SpecChange(ref, before, after)
        await self.apply([change], action="control.set", actor=actor, reason=reason, dry_run=dry_run)
        return change

    async def unset(
        self, ref: WorkloadRef, *, actor: str, reason: str = "", container: str | None = None
    ) -> SpecChange:
        """Remove a spec (the workload becomes unmanaged), or one container from it."""
        before = await self.spec(ref)
        now = self._clock()
        if container is not None:
            if before.container(container) is None:
                names = ", ".join(c.container for c in before.containers) or "none"
                raise NotFoundError(
                    f"the control spec of {ref} lists no container {container!r} (it lists {names})"
                )
            after = replace(
                before, containers=tuple(c for c in before.containers if c.container != container)
            )
            change = SpecChange(ref, before, after)
            await self.apply([change], action="control.set", actor=actor, reason=reason)
            return change
        change = SpecChange(ref, before, None)
        await self._store.remove_control_spec(
            ref,
            now=now,
            actor=actor,
            reason=reason,
            audit=self._event("control.unset", change, actor, reason, now),
        )
        return change

    async def set_policy(
        self,
        cluster: str,
        namespace: str,
        *,
        actor: str,
        enforcement: Enforcement | None = None,
        unmanaged: Unmanaged | None = None,
        failure: Failure | None = None,
    ) -> tuple[NamespacePolicy | None, NamespacePolicy]:
        current = next((p for p in await self.policies(cluster) if p.namespace == namespace), None)
        base = current or NamespacePolicy(cluster, namespace)
        new = NamespacePolicy(
            cluster,
            namespace,
            enforcement or base.enforcement,
            unmanaged or base.unmanaged,
            failure or base.failure,
        ).validate()
        now = self._clock()
        audit = AuditEvent(
            at=now,
            actor=actor,
            action="control.policy",
            cluster=cluster,
            target=f"{cluster}/{namespace}",
            result=AuditResult.OK,
            before=current.values() if current else None,
            after=new.values(),
        )
        await self._store.save_namespace_policy(new, now=now, actor=actor, audit=audit)
        return current, new

    async def remove_policy(self, cluster: str, namespace: str, *, actor: str) -> bool:
        now = self._clock()
        audit = AuditEvent(
            at=now,
            actor=actor,
            action="control.policy",
            cluster=cluster,
            target=f"{cluster}/{namespace}",
            result=AuditResult.OK,
            message="policy removed: the cluster default applies",
        )
        return await self._store.remove_namespace_policy(cluster, namespace, now=now, audit=audit)

    # --- filling the table ----------------------------------------------------------------

    async def _plan(self, proposed: Iterable[ControlSpec], *, overwrite: bool) -> list[SpecChange]:
        changes = []
        for spec in proposed:
            spec.validate()
            before = await self._store.control_spec(spec.ref)
            if before is not None and not overwrite:
                continue
            changes.append(SpecChange(spec.ref, before, spec))
        return changes

    async def init_from_cluster(
        self, cluster: ClusterPort, *, namespace: str | None = None, overwrite: bool = False
    ) -> list[SpecChange]:
        """Specs mirroring the live workloads (HPA targets in mode hpa); existing specs kept unless ``overwrite``."""
        hpas = {(h.namespace, h.target_kind, h.target_name) for h in await cluster.list_hpas(namespace)}
        proposed = []
        for workload in await cluster.list_workloads(namespace):
            ref = workload.ref
            if ref.kind not in CONTROLLED_KINDS:
                continue
            scaled = (ref.namespace, ref.kind.value, ref.name) in hpas
            containers = tuple(
                ContainerSpec(c.container, dict(c.requests), dict(c.limits))
                for c in workload.containers
                if c.requests or c.limits
            )
            proposed.append(
                ControlSpec(
                    ref,
                    ReplicasMode.HPA if scaled else ReplicasMode.OBSERVED,
                    None if scaled else min(workload.replicas or 0, MAX_REPLICAS),
                    containers,
                    source="init:cluster",
                )
            )
        return await self._plan(proposed, overwrite=overwrite)

    async def init_from_collection(
        self, cluster: str, *, namespace: str | None = None, overwrite: bool = False
    ) -> list[SpecChange]:
        """Specs from the latest collected day: its highest replicas and the requests/limits seen."""
        span = await self._store.usage_span(cluster=cluster)
        if span is None:
            raise ConfigError(
                f"the store holds no usage of cluster {cluster!r}: run `kubecap collect`, or use --from cluster"
            )
        rows = await self._store.usage(cluster=cluster, since=span[1], until=span[1], namespace=namespace)
        proposed = []
        rows.sort(key=lambda r: (r.workload, r.container))
        for ref, group in groupby(rows, key=lambda r: r.workload):
            if ref.kind not in CONTROLLED_KINDS:
                continue
            items = list(group)
            peaks = [r.replicas_max for r in items if r.replicas_max is not None]
            containers: dict[str, ContainerSpec] = {}
            for row in items:
                found: dict[str, dict[str, str]] = {"requests": {}, "limits": {}}
                for part, cpu, mem in (
                    ("requests", row.cpu_request, row.mem_request),
                    ("limits", row.cpu_limit, row.mem_limit),
                ):
                    if cpu is not None:
                        found[part]["cpu"] = format_cpu(cpu)
                    if mem is not None:
                        found[part]["memory"] = memory_quantity(mem)
                spec = ContainerSpec(row.container, found["requests"], found["limits"])
                if not spec.empty:
                    containers[row.container] = containers.get(row.container, spec).merged(spec)
            proposed.append(
                ControlSpec(
                    ref,
                    ReplicasMode.OBSERVED,
                    min(round(max(peaks)) if peaks else 1, MAX_REPLICAS),
                    tuple(containers[n] for n in sorted(containers)),
                    source=f"init:collection {span[1].isoformat()}",
                )
            )
        return await self._plan(proposed, overwrite=overwrite)

    async def approve(
        self,
        recommendations: Sequence[Recommendation],
        *,
        replicas: bool = True,
    ) -> tuple[list[SpecChange], list[str]]:
        """Specs from recommendations (one strategy per container), and why some were skipped."""
        skipped: list[str] = []
        usable = []
        for rec in recommendations:
            if rec.ref.workload.kind not in CONTROLLED_KINDS:
                continue
            if rec.status is not Status.OK:
                skipped.append(f"{rec.ref} ({rec.strategy}): not enough data, nothing approved")
                continue
            usable.append(rec)
        usable.sort(key=lambda r: (r.ref.workload, r.ref.container, r.strategy))
        changes = []
        for ref, group in groupby(usable, key=lambda r: r.ref.workload):
            recs = list(group)
            containers = [r.ref.container for r in recs]
            if len(set(containers)) != len(containers):
                strategies = ", ".join(sorted({r.strategy for r in recs}))
                raise ConfigError(
                    f"{ref} has recommendations of several strategies ({strategies}): choose one with --strategy"
                )
            before = await self._store.control_spec(ref)
            spec = self._approved(ref, before, recs, replicas)
            if spec is None:
                skipped.append(
                    f"{ref}: no replicas known and none in the table: set them with `kubecap control set`"
                )
                continue
            changes.append(SpecChange(ref, before, spec.validate()))
        return changes, skipped

    @staticmethod
    def _approved(
        ref: WorkloadRef, before: ControlSpec | None, recs: list[Recommendation], replicas: bool
    ) -> ControlSpec | None:
        containers: tuple[ContainerSpec, ...] = before.containers if before else ()
        for rec in recs:
            containers = _with_container(
                containers, container_from_resources(rec.ref.container, rec.target), False
            )
        advice = next((r.replicas for r in recs if r.replicas is not None), None)
        mode: ReplicasMode
        count: int | None
        if advice is not None and (advice.hpa_min is not None or advice.hpa_max is not None):
            mode, count = ReplicasMode.HPA, None
        elif replicas and advice is not None and advice.replicas is not None:
            mode, count = ReplicasMode.RECOMMENDED, advice.replicas
        elif before is not None:
            mode, count = before.replicas_mode, before.replicas
        elif advice is not None and advice.current is not None:
            mode, count = ReplicasMode.OBSERVED, round(advice.current)
        else:
            return None
        first = recs[0]
        source = f"recommendation:{first.strategy}@{first.computed_at.astimezone(UTC).isoformat()}"
        return ControlSpec(ref, mode, None if count is None else min(count, MAX_REPLICAS), containers, source)


def for_namespace(namespace: str | None) -> str:
    return ALL_NAMESPACES if namespace in (None, "", ALL_NAMESPACES) else str(namespace)


def summary(changes: Sequence[SpecChange]) -> dict[str, Any]:
    return {
        "new": sum(1 for c in changes if c.before is None and c.after is not None),
        "changed": sum(1 for c in changes if c.before is not None and c.after is not None and c.changed),
        "removed": sum(1 for c in changes if c.after is None),
    }
