"""When to taint a node as overloaded and when to untaint it, pure: hysteresis and a share cap.

A node is tainted when its CPU or memory utilisation has stayed at or above the high mark
for ``high_for``, and untainted only when both have stayed below the lower mark for
``low_for``: between the marks nothing changes, so a node hovering near one mark cannot
flap; and no change is undone sooner than ``hold`` after it was made (a dwell time, as a
thermostat keeps a compressor from short cycling), so a node swinging between the marks
cannot flap either. Timers restart whenever an observation breaks the streak, and a node without fresh
data restarts both; if it carries our taint and stays without data for ``missing_for``,
the taint goes (we do not keep capacity out of use on data we do not have).

Never more than ``max_share`` of a node pool (rounded down) carries the taint at once; when
more nodes qualify, the hottest win and the others are deferred with the reason. Nodes
that are not eligible (control plane unless included, cordoned) are never changed and do
not count in their pool's size. ``plan`` takes the observations and the per-node timers
and returns the changes, the deferrals and the new timers; it changes nothing itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from kubecap.scheduling.settings import TaintSettings

CONTROL_PLANE_LABELS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
DEFAULT_POOL = ""


def pool_of(labels: Mapping[str, str], pool_labels: Sequence[str]) -> str:
    """The node pool named by the first of ``pool_labels`` the node has; DEFAULT_POOL otherwise."""
    for label in pool_labels:
        value = labels.get(label)
        if value:
            return f"{label}={value}"
    return DEFAULT_POOL


def is_control_plane(labels: Mapping[str, str]) -> bool:
    return any(label in labels for label in CONTROL_PLANE_LABELS)


class Action(StrEnum):
    ADD = "add"
    REMOVE = "remove"
    UPDATE = "update"  # our taint is there with another effect than configured


@dataclass(frozen=True, slots=True)
class TaintObservation:
    """One node at one round: its fresh utilisation (None when missing or stale) and our taint on it."""

    node: str
    pool: str = DEFAULT_POOL
    cpu: float | None = None
    memory: float | None = None
    effects: tuple[str, ...] = ()  # effects of the taints with our key on the node
    eligible: bool = True

    @property
    def tainted(self) -> bool:
        return bool(self.effects)


@dataclass(frozen=True, slots=True)
class Timers:
    """Since when a node has been hot, cool, or without data (None: not at the last observation)."""

    hot_since: datetime | None = None
    cool_since: datetime | None = None
    missing_since: datetime | None = None
    changed_at: datetime | None = None  # our last change of this node's taint
    changed_to: Action | None = None  # ... and what it was


@dataclass(frozen=True, slots=True)
class TaintChange:
    node: str
    action: Action
    reason: str
    pool: str = DEFAULT_POOL


@dataclass(frozen=True)
class TaintPlan:
    changes: tuple[TaintChange, ...]
    deferred: tuple[tuple[str, str], ...]
    timers: Mapping[str, Timers]
    tainted: Mapping[str, int]  # per pool, after the changes
    pool_sizes: Mapping[str, int]


@dataclass(frozen=True)
class TaintPolicy:
    high: float = 0.85
    low: float = 0.65
    high_for: timedelta = timedelta(minutes=10)
    low_for: timedelta = timedelta(minutes=15)
    max_share: float = 0.3
    effect: str = "PreferNoSchedule"
    missing_for: timedelta = timedelta(minutes=15)
    hold: timedelta = timedelta(minutes=30)

    def __post_init__(self) -> None:
        # Settings are checked in TaintSettings; this guards direct construction (simulator, tests).
        if not self.low < self.high:
            raise ValueError(f"the low mark {self.low:g} must be below the high mark {self.high:g}")
        if not 0 <= self.max_share <= 1:
            raise ValueError(f"max_share {self.max_share:g} must be between 0 and 1")

    @classmethod
    def from_settings(cls, settings: TaintSettings) -> TaintPolicy:
        return cls(
            high=settings.high,
            low=settings.low,
            high_for=timedelta(seconds=settings.high_seconds),
            low_for=timedelta(seconds=settings.low_seconds),
            max_share=settings.max_share,
            effect=settings.effect,
            missing_for=timedelta(seconds=settings.missing_data_seconds),
            hold=timedelta(seconds=settings.hold_seconds),
        )


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:g} min"


def _describe(observation: TaintObservation) -> str:
    parts = []
    if observation.cpu is not None:
        parts.append(f"CPU {observation.cpu:.2f}")
    if observation.memory is not None:
        parts.append(f"memory {observation.memory:.2f}")
    return ", ".join(parts)


def plan(
    observations: Sequence[TaintObservation],
    timers: Mapping[str, Timers],
    policy: TaintPolicy,
    now: datetime,
) -> TaintPlan:
    """The changes to make this round, the nodes deferred by the share cap, and the new timers."""
    new_timers: dict[str, Timers] = {}
    changes: list[TaintChange] = []
    wanted: list[tuple[float, TaintObservation, str]] = []
    removing: set[str] = set()
    for seen in observations:
        if not seen.eligible:
            continue
        before = timers.get(seen.node, Timers())
        # Dwell time: our change is never undone sooner than ``hold`` (no short cycling); a
        # taint someone else removed meanwhile may come back at once, that undoes nothing of ours.
        recent = before.changed_at is not None and now - before.changed_at < policy.hold
        hold_add = recent and before.changed_to is Action.REMOVE
        hold_remove = recent and before.changed_to is Action.ADD
        values = [v for v in (seen.cpu, seen.memory) if v is not None]
        if not values:
            missing_since = before.missing_since or now
            new_timers[seen.node] = Timers(None, None, missing_since, before.changed_at, before.changed_to)
            if seen.tainted and not hold_remove and now - missing_since >= policy.missing_for:
                reason = f"no fresh load data for {_minutes(now - missing_since)}"
                changes.append(TaintChange(seen.node, Action.REMOVE, reason, seen.pool))
                removing.add(seen.node)
            continue
        hot = max(values) >= policy.high
        cool = max(values) < policy.low
        hot_since = (before.hot_since or now) if hot else None
        cool_since = (before.cool_since or now) if cool else None
        new_timers[seen.node] = Timers(hot_since, cool_since, None, before.changed_at, before.changed_to)
        if not seen.tainted and not hold_add and hot_since is not None and now - hot_since >= policy.high_for:
            reason = f"{_describe(seen)}: at or above {policy.high:g} for {_minutes(now - hot_since)}"
            wanted.append((max(values), seen, reason))
        elif (
            seen.tainted and not hold_remove and cool_since is not None and now - cool_since >= policy.low_for
        ):
            reason = f"{_describe(seen)}: below {policy.low:g} for {_minutes(now - cool_since)}"
            changes.append(TaintChange(seen.node, Action.REMOVE, reason, seen.pool))
            removing.add(seen.node)
        elif seen.tainted and seen.effects != (policy.effect,):
            changes.append(
                TaintChange(
                    seen.node, Action.UPDATE, f"effect {','.join(seen.effects)} → {policy.effect}", seen.pool
                )
            )

    sizes: dict[str, int] = {}
    tainted: dict[str, int] = {}
    for seen in observations:
        if seen.eligible:
            sizes[seen.pool] = sizes.get(seen.pool, 0) + 1
            if seen.tainted and seen.node not in removing:
                tainted[seen.pool] = tainted.get(seen.pool, 0) + 1
    deferred: list[tuple[str, str]] = []
    for _heat, seen, reason in sorted(wanted, key=lambda item: (-item[0], item[1].node)):
        cap = math.floor(policy.max_share * sizes[seen.pool] + 1e-9)
        count = tainted.get(seen.pool, 0)
        if count >= cap:
            pool = seen.pool or "(no pool label)"
            deferred.append(
                (
                    seen.node,
                    f"share cap: {count} of {sizes[seen.pool]} nodes of pool {pool} are tainted "
                    f"(at most {policy.max_share:.0%})",
                )
            )
            continue
        tainted[seen.pool] = count + 1
        changes.append(TaintChange(seen.node, Action.ADD, reason, seen.pool))
    for change in changes:
        if change.action is not Action.UPDATE:
            new_timers[change.node] = replace(
                new_timers[change.node], changed_at=now, changed_to=change.action
            )
    return TaintPlan(tuple(changes), tuple(deferred), new_timers, tainted, sizes)
