"""The admission decision: a review, the workload's control spec, the namespace policy and the time in,
a typed ``Decision`` out. Pure: no I/O, no clock, no globals; the server around it is thin.

KubeDoor's three principles, kept:

1. an UPDATE that changes neither the pod template nor replicas passes untouched (a label
   or annotation edit must not restart pods or reset replicas);
2. a change of replicas only (the ``scale`` subresource, or spec.replicas) gets the table's
   replicas;
3. a CREATE or a pod-template change gets the table's replicas and every listed
   container's requests and limits.

Added: an HPA owns the replicas of a workload in mode ``hpa`` (and its scale requests are
never fought); the ``kubecap.io/temporary-replicas`` annotation wins until it expires (a
change of it counts as a replicas change); ``warn`` mode never patches and says what
enforce would change; unmanaged workloads are allowed, rejected with a message saying how
to register them, or registered; patches are idempotent (see ``patch.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from kubecap.control.patch import Change, Op, Plan, container_plan, effective_replicas, replicas_ops
from kubecap.control.review import ObjectView, Operation, Review
from kubecap.domain.control import (
    MAX_REPLICAS,
    TEMPORARY_REPLICAS,
    ContainerSpec,
    ControlError,
    ControlSpec,
    Enforcement,
    NamespacePolicy,
    ReplicasMode,
    Unmanaged,
    parse_temporary_replicas,
)
from kubecap.domain.workload import WorkloadRef

HPA_USERS = frozenset(
    {
        "system:serviceaccount:kube-system:horizontal-pod-autoscaler",
        # kube-controller-manager without --use-service-account-credentials
        "system:kube-controller-manager",
    }
)
MAX_WARNING = 240
"""kube-apiserver may truncate a warning longer than 256 characters."""
MAX_WARNINGS = 12


class Outcome(StrEnum):
    """How a review ended: the ``outcome`` label of the decision metric."""

    MUTATED = "mutated"
    UNTOUCHED = "untouched"
    WARNED = "warned"
    REJECTED = "rejected"
    UNMANAGED = "unmanaged"
    REGISTERED = "registered"
    SKIPPED = "skipped"
    STALE = "stale"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    allowed: bool = True
    patch: tuple[Op, ...] = ()
    warnings: tuple[str, ...] = ()
    message: str = ""
    changes: tuple[Change, ...] = ()
    register: ControlSpec | None = None

    def with_warning(self, text: str) -> Decision:
        return Decision(
            self.outcome,
            self.allowed,
            self.patch,
            _limit((text, *self.warnings)),
            self.message,
            self.changes,
            self.register,
        )


def decide(
    review: Review,
    spec: ControlSpec | None,
    policy: NamespacePolicy,
    now: datetime,
    *,
    parent_annotations: Mapping[str, str] | None = None,
) -> Decision:
    """What to answer ``review`` with.

    ``spec`` is the workload's control spec (None: unmanaged), ``policy`` its namespace's.
    ``parent_annotations`` are the workload's own annotations for a ``scale`` review (a
    Scale carries none): with them a temporary override is honoured on scale requests too.
    """
    if review.operation not in (Operation.CREATE, Operation.UPDATE) or review.object is None:
        return Decision(Outcome.SKIPPED)
    if policy.enforcement is Enforcement.OFF:
        return Decision(Outcome.SKIPPED)
    warn = policy.enforcement is Enforcement.WARN
    if spec is None:
        return _unmanaged(review, review.object, policy, warn)
    plan = _plan(review, review.object, spec, now, parent_annotations)
    if not plan.ops:
        return Decision(Outcome.UNTOUCHED, warnings=_limit(plan.notes))
    described = ", ".join(c.describe() for c in plan.changes)
    if warn:
        text = f"kubecap (warn mode) would set {described} from the control table"
        return Decision(
            Outcome.WARNED, warnings=_limit((text, *plan.notes)), message=text, changes=plan.changes
        )
    text = f"kubecap set {described} from the control table"
    return Decision(
        Outcome.MUTATED,
        patch=plan.ops,
        warnings=_limit((text, *plan.notes)),
        message=text,
        changes=plan.changes,
    )


def memo_key(review: Review, spec: ControlSpec, policy: NamespacePolicy) -> tuple[Any, ...] | None:
    """Everything ``decide`` reads of a managed workload's review, as a key to keep its decision under.

    Two reviews with equal keys (and the same ``spec`` object) get equal decisions, whatever
    else differs (uid, user, labels, managedFields, the rest of the template...). None when
    the decision depends on more than the review: the time (a temporary-replicas annotation
    on either object) or the parent workload's annotations (a scale request).
    """
    obj = review.object
    if review.scale or obj is None or review.operation not in (Operation.CREATE, Operation.UPDATE):
        return None
    old = review.old_object if review.operation is Operation.UPDATE else None
    if TEMPORARY_REPLICAS in obj.annotations or (old is not None and TEMPORARY_REPLICAS in old.annotations):
        return None
    was = None if old is None else (old.replicas, obj.template == old.template)
    return (id(spec), policy.enforcement, review.operation, obj.replicas, obj.containers, was)


def _plan(
    review: Review,
    obj: ObjectView,
    spec: ControlSpec,
    now: datetime,
    parent_annotations: Mapping[str, str] | None,
) -> Plan:
    notes: list[str] = []
    if review.scale:
        if review.user in HPA_USERS:
            if spec.replicas_mode is not ReplicasMode.HPA:
                notes.append(
                    f"an HPA scales {review.target} but its control spec's replicas mode is "
                    f"{spec.replicas_mode.value}: kubecap leaves the HPA alone; set mode hpa"
                )
            return Plan(notes=tuple(notes))
        target = _target_replicas(spec, parent_annotations or {}, now, notes)
        if target is None:
            return Plan(notes=tuple(notes))
        scale_ops, scale_changes = replicas_ops(obj, target)
        return Plan(tuple(scale_ops), tuple(scale_changes), tuple(notes))
    old = review.old_object
    full = True
    if review.operation is Operation.UPDATE and old is not None:
        template_changed = obj.template != old.template
        replicas_changed = effective_replicas(obj) != effective_replicas(old)
        override_changed = obj.annotations.get(TEMPORARY_REPLICAS) != old.annotations.get(TEMPORARY_REPLICAS)
        if not (template_changed or replicas_changed or override_changed):
            return Plan()  # principle 1
        full = template_changed  # principle 3, else principle 2
    ops: list[Op] = []
    changes: list[Change] = []
    target = _target_replicas(spec, obj.annotations, now, notes)
    if target is not None:
        replica_ops, replica_changes = replicas_ops(obj, target)
        ops += replica_ops
        changes += replica_changes
    if full:
        by_name = {c.name: c for c in reversed(obj.containers)}  # the first of a repeated name
        for wanted in spec.containers:
            container = by_name.get(wanted.container)
            if container is None:
                notes.append(
                    f"container {wanted.container!r} of the control spec is not in the pod template of "
                    f"{review.target}: its values were not applied"
                )
                continue
            plan = container_plan(container, wanted)
            ops += plan.ops
            changes += plan.changes
            notes += plan.notes
    return Plan(tuple(ops), tuple(changes), tuple(notes))


def _target_replicas(
    spec: ControlSpec, annotations: Mapping[str, str], now: datetime, notes: list[str]
) -> int | None:
    """The replicas to enforce: an active temporary override, else the table's (None: leave alone)."""
    raw = annotations.get(TEMPORARY_REPLICAS)
    if spec.replicas_mode is ReplicasMode.HPA:
        if raw is not None:
            notes.append(f"{TEMPORARY_REPLICAS} is ignored: an HPA owns the replicas of {spec.ref.name}")
        return None
    if raw is not None:
        try:
            override = parse_temporary_replicas(raw)
        except ControlError as exc:
            notes.append(f"{exc}; the control table's replicas apply")
        else:
            if override.active(now):
                return override.replicas
            notes.append(
                f"{TEMPORARY_REPLICAS} expired at {override.until.isoformat()}: the control table's replicas apply"
            )
    return spec.enforced_replicas()


def _unmanaged(review: Review, obj: ObjectView, policy: NamespacePolicy, warn: bool) -> Decision:
    if policy.unmanaged is Unmanaged.ALLOW or (review.scale and review.user in HPA_USERS):
        return Decision(Outcome.UNMANAGED)
    kind = review.kind.value.lower()
    if policy.unmanaged is Unmanaged.REJECT:
        message = (
            f"{review.kind.value} {review.namespace}/{review.name or '(generated name)'} is not in kubecap's "
            f"control table and namespace {review.namespace} admits managed workloads only: register it with "
            f"`kubecap control set {kind}/{review.name or 'NAME'} -n {review.namespace} --replicas N`, "
            "or set the namespace's policy to --unmanaged allow"
        )
        if warn:
            text = "kubecap (warn mode) would reject this: " + message
            return Decision(Outcome.WARNED, warnings=_limit((text,)), message=message)
        return Decision(Outcome.REJECTED, allowed=False, message=message)
    # register
    if review.scale or not review.name:
        return Decision(Outcome.UNMANAGED)
    ref = WorkloadRef(policy.cluster, review.namespace, review.kind, review.name)
    try:
        spec = spec_from_object(ref, obj)
    except ControlError as exc:
        return Decision(
            Outcome.UNMANAGED, warnings=_limit((f"kubecap could not register {ref.name}: {exc}",))
        )
    if warn or review.dry_run:
        why = "warn mode" if warn else "dry run"
        text = f"kubecap ({why}) would register {review.target} in its control table"
        return Decision(Outcome.UNMANAGED, warnings=_limit((text,)))
    text = f"kubecap registered {review.target} in its control table as it is (replicas {spec.replicas})"
    return Decision(Outcome.REGISTERED, warnings=_limit((text,)), message=text, register=spec)


def spec_from_object(ref: WorkloadRef, obj: ObjectView) -> ControlSpec:
    """A spec holding what the object states now (resources it does not state are left alone)."""
    containers = []
    for view in obj.containers:
        decoded = view.resources
        resources: dict[str, Any] = decoded if isinstance(decoded, dict) else {}
        parts = {
            part: {str(k): str(v) for k, v in values.items() if v is not None}
            for part in ("requests", "limits")
            if isinstance(values := resources.get(part), dict)
        }
        container = ContainerSpec(view.name, parts.get("requests", {}), parts.get("limits", {}))
        if not container.empty:
            containers.append(container)
    replicas = min(effective_replicas(obj), MAX_REPLICAS)
    return ControlSpec(
        ref, ReplicasMode.OBSERVED, replicas, tuple(containers), source="webhook:register"
    ).validate()


def _limit(warnings: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """At most MAX_WARNINGS warnings of at most MAX_WARNING characters each."""
    out = [w if len(w) <= MAX_WARNING else w[: MAX_WARNING - 3] + "..." for w in warnings[:MAX_WARNINGS]]
    return tuple(out)
