"""Node load as typed values: every figure carries the time it describes, and staleness is explicit.

The extender, the taint controller and the simulator read node load through these types
only; where the numbers come from (node-exporter, recording rules, a simulation) is the
business of whoever builds the snapshot. Utilisation is a share of the node's capacity
(0.5 = half its cores or half its memory), times are UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class Resource(StrEnum):
    CPU = "cpu"
    MEMORY = "memory"


class Span(StrEnum):
    """Which figure: the current 5-minute average, or the maximum of it over an hour or a day."""

    AVG_5M = "avg_5m"
    MAX_1H = "max_1h"
    MAX_1D = "max_1d"


class Freshness(StrEnum):
    FRESH = "fresh"
    STALE = "stale"
    MISSING = "missing"


@dataclass(frozen=True, slots=True)
class Figure:
    """One utilisation value and the moment it describes (for a maximum: the window's end)."""

    value: float
    at: datetime

    def age(self, now: datetime) -> timedelta:
        return now - self.at


@dataclass(frozen=True, slots=True)
class ResourceLoad:
    avg_5m: Figure | None = None
    max_1h: Figure | None = None
    max_1d: Figure | None = None

    def figure(self, span: Span) -> Figure | None:
        if span is Span.AVG_5M:
            return self.avg_5m
        if span is Span.MAX_1H:
            return self.max_1h
        return self.max_1d


@dataclass(frozen=True, slots=True)
class NodeLoad:
    """What is known of one node's load. ``series`` names the series it was read from."""

    node: str
    cpu: ResourceLoad = ResourceLoad()
    memory: ResourceLoad = ResourceLoad()
    cpu_cores: float | None = None
    memory_bytes: float | None = None
    series: str = ""

    def resource(self, resource: Resource) -> ResourceLoad:
        return self.cpu if resource is Resource.CPU else self.memory

    def capacity(self, resource: Resource) -> float | None:
        return self.cpu_cores if resource is Resource.CPU else self.memory_bytes


@dataclass(frozen=True, slots=True)
class RecentBinding:
    """A pod bound to a node recently: its usage is not in the metrics yet, its estimate is."""

    node: str
    pod: str  # namespace/name
    at: datetime
    cpu: float  # estimated cores
    memory: float  # estimated bytes


@dataclass(frozen=True, slots=True)
class MaxAges:
    """How old each figure may be before it is stale."""

    avg_5m: timedelta = timedelta(minutes=3)
    max_1h: timedelta = timedelta(minutes=15)
    max_1d: timedelta = timedelta(hours=2)

    def of(self, span: Span) -> timedelta:
        if span is Span.AVG_5M:
            return self.avg_5m
        if span is Span.MAX_1H:
            return self.max_1h
        return self.max_1d


def freshness(figure: Figure | None, span: Span, now: datetime, ages: MaxAges) -> Freshness:
    if figure is None:
        return Freshness.MISSING
    return Freshness.STALE if figure.age(now) > ages.of(span) else Freshness.FRESH


@dataclass(frozen=True)
class LoadSnapshot:
    """Everything the node-load cache knew at ``taken_at``.

    ``without_data`` names known nodes no series was found for, ``unmatched`` the series
    (by their ``instance``) that matched no known node; ``problems`` says what failed at the
    last refresh (one sentence each), empty when all went well.
    """

    taken_at: datetime
    nodes: Mapping[str, NodeLoad] = field(default_factory=dict)
    recent: Mapping[str, tuple[RecentBinding, ...]] = field(default_factory=dict)
    without_data: tuple[str, ...] = ()
    unmatched: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    ages: MaxAges = MaxAges()

    def load(self, node: str) -> NodeLoad | None:
        return self.nodes.get(node)
