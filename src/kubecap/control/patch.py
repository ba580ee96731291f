"""RFC 6902 JSON patches that bring a workload to its control spec, and the changes they make.

Every patch is valid whatever the object holds: a container without ``resources``, with
``resources`` but no ``requests``, or with ``null`` in either gets the missing level added
whole; keys are added, replaced or removed one by one otherwise, so resources the spec
does not name (``ephemeral-storage``, ``claims``) survive. Containers are addressed by
index, guarded by a ``test`` of the name at that index, so a patch can never land on the
wrong container. Quantities are compared by value ("1000m" == "1"), which with the above
makes patches idempotent: patching an object already at its spec yields no operation.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kubecap.control.review import ContainerView, ObjectView
from kubecap.domain.control import ContainerSpec, quantity_value, same_quantity
from kubecap.domain.quantity import QuantityError

PARTS = ("requests", "limits")
Op = dict[str, Any]


def _escaped(part: str | int) -> str:
    text = str(part)
    if "~" in text or "/" in text:
        return text.replace("~", "~0").replace("/", "~1")
    return text


@lru_cache(maxsize=8192)
def pointer(*parts: str | int) -> str:
    """A JSON pointer (RFC 6901): '~' is written '~0' and '/' is written '~1' in each part.

    Remembered: the same few paths (container index, part, resource name) recur in every review.
    """
    return "".join(["/" + _escaped(p) for p in parts])


@dataclass(frozen=True, slots=True)
class Change:
    """One value the patch changes: ``field`` like ``replicas`` or ``app.requests.cpu``."""

    field: str
    before: str | int | None
    after: str | int | None

    def describe(self) -> str:
        before = "unset" if self.before is None else self.before
        after = "unset" if self.after is None else self.after
        return f"{self.field} {before} -> {after}"

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "before": self.before, "after": self.after}


@dataclass(frozen=True, slots=True)
class Plan:
    """Operations, the changes they make, and notes for the user (warnings)."""

    ops: tuple[Op, ...] = ()
    changes: tuple[Change, ...] = ()
    notes: tuple[str, ...] = ()


def effective_replicas(view: ObjectView) -> int:
    """spec.replicas, or Kubernetes' default of 1 when absent."""
    return 1 if view.replicas is None else view.replicas


def replicas_ops(view: ObjectView, target: int) -> tuple[list[Op], list[Change]]:
    """Set spec.replicas to ``target`` (nothing when it already is)."""
    if view.replicas == target:
        return [], []
    change = Change("replicas", view.replicas, target)
    if not view.has_spec:
        return [{"op": "add", "path": "/spec", "value": {"replicas": target}}], [change]
    op = "add" if view.replicas is None else "replace"
    return [{"op": op, "path": "/spec/replicas", "value": target}], [change]


def _strings(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _less(a: Any, b: Any) -> bool:
    """a < b by quantity value; False when either does not parse."""
    try:
        return quantity_value(a) < quantity_value(b) and not same_quantity(a, b)
    except (QuantityError, TypeError, AttributeError):
        return False


def wanted_resources(
    current: Mapping[str, dict[str, Any]], spec: ContainerSpec
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The container's requests and limits once ``spec`` is laid over ``current``, with notes.

    Never a limit below a request: where the spec sets one side only and the other side
    would end up on the wrong side of it, the other side follows (a raised limit, a lowered
    request) and a note says so.
    """
    wanted = {part: dict(current[part]) for part in PARTS}
    for part, values in (("requests", spec.requests), ("limits", spec.limits)):
        for name, value in values.items():
            if value is None:
                wanted[part].pop(name, None)
            else:
                wanted[part][name] = value
    notes: dict[str, str] = {}
    for name in sorted(set(wanted["requests"]) & set(wanted["limits"])):
        request, limit = wanted["requests"][name], wanted["limits"][name]
        if not _less(limit, request):
            continue
        request_from_spec = spec.requests.get(name) is not None
        limit_from_spec = spec.limits.get(name) is not None
        if limit_from_spec and not request_from_spec:
            wanted["requests"][name] = limit
            notes[name] = f"{spec.container}: requests.{name} {request} lowered to the limit {limit}"
        elif request_from_spec and not limit_from_spec:
            wanted["limits"][name] = request
            notes[name] = f"{spec.container}: limits.{name} {limit} raised to the request {request}"
    return wanted["requests"], wanted["limits"], notes


PLAN_MEMO_SIZE = 4096
_plans: OrderedDict[tuple[int, int, str, bytes], tuple[ContainerSpec, Plan]] = OrderedDict()


def container_plan(container: ContainerView, spec: ContainerSpec) -> Plan:
    """Operations bringing one container's requests and limits to ``spec``, remembered.

    The plan is a pure function of the container's name, position and ``resources`` and of
    the spec, and a workload's reviews repeat them (every rollout, every reinvocation carries
    the same resources until the table changes), so the plan is kept, keyed by the spec
    object and the resources' JSON as sent. The entry holds the spec itself: its id cannot be
    reused while the entry lives, and a new snapshot's specs are new objects (new keys). The
    memo is bounded: full, its oldest entry goes.
    """
    key = (id(spec), container.index, container.name, container.raw_resources)
    found = _plans.get(key)
    if found is not None and found[0] is spec:
        return found[1]
    plan = _container_plan(container, spec)
    if len(_plans) >= PLAN_MEMO_SIZE:
        _plans.popitem(last=False)  # the oldest: emptying it all at once pauses reviews
    _plans[key] = (spec, plan)
    return plan


def _container_plan(container: ContainerView, spec: ContainerSpec) -> Plan:
    decoded = container.resources
    resources = decoded if isinstance(decoded, dict) else None
    current = {part: _strings(resources.get(part)) if resources else {} for part in PARTS}
    requests, limits, notes = wanted_resources(current, spec)
    wanted = {"requests": requests, "limits": limits}
    base = ("spec", "template", "spec", "containers", container.index, "resources")
    ops: list[Op] = []
    changes: list[Change] = []
    for part in PARTS:
        have, want = current[part], wanted[part]
        # A part the object lacks (or holds as something other than a map) is added whole;
        # otherwise key by key, so that resources the spec does not name survive.
        whole = resources is None or not isinstance(resources.get(part), dict)
        if whole and want and resources is not None:
            ops.append({"op": "add", "path": pointer(*base, part), "value": want})
        for name in sorted(have.keys() | want.keys()):
            before, after = have.get(name), want.get(name)
            same = before is not None and after is not None and same_quantity_any(before, after)
            if not same and (before is not None or after is not None):
                changes.append(Change(f"{container.name}.{part}.{name}", _text(before), _text(after)))
            if whole:
                continue
            if after is None:
                if name in have:  # a key the spec removes (or an explicit null)
                    ops.append({"op": "remove", "path": pointer(*base, part, name)})
            elif not same:
                ops.append({"op": "add", "path": pointer(*base, part, name), "value": after})
    if not changes:
        return Plan(notes=tuple(notes.values()))
    if resources is None:
        ops = [
            {
                "op": "add",
                "path": pointer(*base),
                "value": {part: wanted[part] for part in PARTS if wanted[part]},
            }
        ]
    guard = {"op": "test", "path": pointer(*base[:-1], "name"), "value": container.name}
    return Plan(ops=(guard, *ops), changes=tuple(changes), notes=tuple(notes.values()))


def same_quantity_any(a: Any, b: Any) -> bool:
    if isinstance(a, str | int | float) and not isinstance(a, bool) and isinstance(b, str | int | float):
        return same_quantity(a, b)
    return bool(a == b)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
