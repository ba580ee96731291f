"""The narrow ports between capabilities, in kubecap's own vocabulary.

A capability depends on these protocols, never on another capability's modules; wiring.py
plugs the real adapters (or the fakes in kubecap.testing) in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from kubecap.domain.hpa import HpaInfo
from kubecap.domain.node import NodeUsage
from kubecap.domain.notifications import Notification
from kubecap.domain.usage import UsageProfile
from kubecap.domain.window import DailyWindow
from kubecap.domain.workload import WorkloadRef


@dataclass(slots=True)
class WindowUsage:
    """What a usage source returns for one window: rows plus what was noticed on the way.

    ``nodes`` are the node figures of a whole-day window (the collector adds them from
    ``UsageSource.node_usage``), stored in the same transaction as the rows.
    """

    profiles: list[UsageProfile]
    queries: int = 0
    warnings: list[str] = field(default_factory=list)
    nodes: list[NodeUsage] = field(default_factory=list)


@dataclass(slots=True)
class NodeWindowUsage:
    """What a usage source returns for the nodes in one window: rows plus what was noticed."""

    nodes: list[NodeUsage]
    queries: int = 0
    warnings: list[str] = field(default_factory=list)


class UsageSource(Protocol):
    """Daily usage profiles of one cluster (Prometheus, or the simulated cluster)."""

    @property
    def cluster(self) -> str: ...

    async def window_usage(self, window: DailyWindow) -> WindowUsage:
        """Profiles of every workload container in ``window``; the window must have ended."""
        ...

    async def workload_labels(self, window: DailyWindow) -> dict[WorkloadRef, dict[str, str]]:
        """Each workload's labels seen in ``window``, keyed as kube-state-metrics writes them
        (sanitised, without ``label_``; see domain/labels.py). Configuration, read live like HPAs."""
        ...

    async def hpas(self, window: DailyWindow) -> list[HpaInfo]:
        """The HorizontalPodAutoscalers seen in ``window``, with their last spec.

        HPAs are configuration, not history: callers ask for the latest window when they
        need them (recommendations keep an HPA's scaling resource), nothing stores them.
        """
        ...

    async def node_usage(self, window: DailyWindow) -> NodeWindowUsage:
        """Figures of every node seen in ``window`` (collected for whole-day windows), which must have ended."""
        ...


class UsageStore(Protocol):
    """Where collected usage is kept."""

    async def completed_windows(self, cluster: str, days: Sequence[date]) -> set[tuple[date, str]]:
        """(day, window name) pairs of ``cluster`` whose collection has completed."""
        ...

    async def save_window(self, cluster: str, window: DailyWindow, usage: WindowUsage) -> None:
        """Upsert the rows and mark the window complete, in one transaction."""
        ...

    async def record_failure(self, cluster: str, window: DailyWindow, message: str) -> None:
        """Record that collecting ``window`` failed (rows already stored are kept)."""
        ...


class Delivered(Protocol):
    """One channel's delivery of a notification (kubecap.ops.notify's Delivery honours it)."""

    @property
    def channel(self) -> str: ...
    @property
    def ok(self) -> bool: ...
    @property
    def attempts(self) -> int: ...
    @property
    def reason(self) -> str: ...


class NotificationSink(Protocol):
    """Where capabilities send notifications (the composition root plugs in the apprise notifier)."""

    async def notify(self, notification: Notification) -> Sequence[Delivered]: ...
