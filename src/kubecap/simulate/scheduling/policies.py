"""Placement policies: kube-scheduler's default scoring alone, or with kubecap's extender.

Every policy first keeps the nodes where the pod's requests fit and that carry no
NoSchedule taint (NodeResourcesFit, TaintToleration), then scores them as kube-scheduler's
default profile does for a plain pod: NodeResourcesFit "LeastAllocated" and
NodeResourcesBalancedAllocation (weight 1 each, 0-100) and TaintToleration (weight 3,
fewer PreferNoSchedule taints is better). ``LoadAware`` adds what kube-scheduler does with
an extender: keep only the nodes its filter passes, and add its 0-10 score × weight × 10
(MaxNodeScore / MaxExtenderPriority). The highest total wins; ties go to a random one, as
kube-scheduler picks among equals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from kubecap.scheduling.decide import Decider
from kubecap.scheduling.load import LoadSnapshot
from kubecap.scheduling.pods import PodInfo
from kubecap.scheduling.policy import LoadPolicy

F64 = npt.NDArray[np.float64]
Flags = npt.NDArray[np.bool_]
EXTENDER_SCALE = 10  # framework.MaxNodeScore / extenderv1.MaxExtenderPriority
TAINT_TOLERATION_WEIGHT = 3


@dataclass
class NodeState:
    """What kube-scheduler knows of the nodes: allocatable, requested (with assumed pods), taints."""

    names: tuple[str, ...]
    cpu_allocatable: F64
    memory_allocatable: F64
    cpu_requested: F64 = field(init=False)
    memory_requested: F64 = field(init=False)
    prefer_avoid: Flags = field(init=False)  # carries a PreferNoSchedule taint
    blocked: Flags = field(init=False)  # carries a NoSchedule taint

    def __post_init__(self) -> None:
        n = len(self.names)
        self.cpu_requested = np.zeros(n)
        self.memory_requested = np.zeros(n)
        self.prefer_avoid = np.zeros(n, dtype=bool)
        self.blocked = np.zeros(n, dtype=bool)

    def feasible(self, pod: PodInfo) -> npt.NDArray[np.int64]:
        fits = (self.cpu_requested + pod.cpu_request <= self.cpu_allocatable + 1e-9) & (
            self.memory_requested + pod.memory_request <= self.memory_allocatable + 1e-9
        )
        return np.flatnonzero(fits & ~self.blocked)


def default_scores(pod: PodInfo, nodes: NodeState, candidates: npt.NDArray[np.int64]) -> F64:
    """kube-scheduler's default score plugins for a plain pod, summed with their weights."""
    cpu = (nodes.cpu_requested[candidates] + pod.cpu_request) / nodes.cpu_allocatable[candidates]
    memory = (nodes.memory_requested[candidates] + pod.memory_request) / nodes.memory_allocatable[candidates]
    least_allocated = ((1 - cpu) + (1 - memory)) / 2 * 100
    balanced = (1 - np.abs(cpu - memory) / 2) * 100
    avoid = nodes.prefer_avoid[candidates].astype(np.float64)
    toleration: F64 = 100 * (1 - avoid / avoid.max()) if avoid.max() > 0 else np.full(len(candidates), 100.0)
    total: F64 = (
        np.floor(least_allocated) + np.floor(balanced) + TAINT_TOLERATION_WEIGHT * np.floor(toleration)
    )
    return total


def _pick(candidates: npt.NDArray[np.int64], scores: F64, rng: np.random.Generator) -> int:
    best = np.flatnonzero(scores >= scores.max() - 1e-9)
    return int(candidates[best[rng.integers(len(best))]])


class Placer(Protocol):
    name: str
    needs_load: bool

    def begin(self, snapshot: LoadSnapshot, now: datetime) -> None:
        """Called every minute with pods to place, with what the node-load cache holds then."""
        ...

    def choose(self, pod: PodInfo, nodes: NodeState, rng: np.random.Generator) -> int | None:
        """The node index for ``pod``, or None when no node can take it."""
        ...


@dataclass
class LeastAllocated:
    """What kube-scheduler does by default: requests decide, real usage is not seen."""

    name: str = "requests (least allocated)"
    needs_load: bool = False

    def begin(self, snapshot: LoadSnapshot, now: datetime) -> None:
        return None

    def choose(self, pod: PodInfo, nodes: NodeState, rng: np.random.Generator) -> int | None:
        candidates = nodes.feasible(pod)
        if len(candidates) == 0:
            return None
        return _pick(candidates, default_scores(pod, nodes, candidates), rng)


@dataclass
class LoadAware:
    """kube-scheduler with kubecap's extender: its filter, then its scores × ``weight``.

    The extender's side is ``Decider``, exactly as the server runs it (assumptions included).
    """

    policy: LoadPolicy = field(default_factory=LoadPolicy)
    weight: int = 2
    name: str = "kubecap extender"
    needs_load: bool = True
    decider: Decider = field(init=False)

    def __post_init__(self) -> None:
        self.decider = Decider(self.policy)

    def begin(self, snapshot: LoadSnapshot, now: datetime) -> None:
        self.decider.refresh(snapshot, now)

    def choose(self, pod: PodInfo, nodes: NodeState, rng: np.random.Generator) -> int | None:
        candidates = nodes.feasible(pod)
        if len(candidates) == 0:
            return None
        names = [nodes.names[i] for i in candidates]
        passed = set(self.decider.filter(pod, names).passed)
        kept = np.array(
            [i for i, name in zip(candidates, names, strict=True) if name in passed], dtype=np.int64
        )
        if len(kept) == 0:
            return None
        extender = dict(self.decider.prioritize(pod, [nodes.names[i] for i in kept]).scores)
        bonus = (
            np.array([extender[nodes.names[i]] for i in kept], dtype=np.float64)
            * self.weight
            * EXTENDER_SCALE
        )
        return _pick(kept, default_scores(pod, nodes, kept) + bonus, rng)
