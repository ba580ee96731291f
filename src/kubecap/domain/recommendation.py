"""What kubecap recommends for one container: target resources, why, what it saves, what it risks.

These are the values stored in the ``recommendations`` table, shown by ``kubecap recommend``
and, later, approved into the control table. CPU is in cores and memory in bytes, per pod;
a resource value of None means "not set" (no limit, for instance).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from kubecap.domain.container import ContainerRef

MONTH_HOURS = 730.0
"""Hours in an average month, as OpenCost counts them."""

GIB = float(2**30)


class Status(StrEnum):
    """Whether a recommendation could be made; when not, the explanation says why."""

    OK = "ok"
    NOT_ENOUGH_DATA = "not-enough-data"


@dataclass(frozen=True, slots=True)
class Resources:
    """Requests and limits of one container (None: not set)."""

    cpu_request: float | None = None
    cpu_limit: float | None = None
    mem_request: float | None = None
    mem_limit: float | None = None

    FIELDS: ClassVar[tuple[str, ...]] = ("cpu_request", "cpu_limit", "mem_request", "mem_limit")

    def values(self) -> dict[str, float | None]:
        return {name: getattr(self, name) for name in self.FIELDS}

    def changes(self, current: Resources) -> dict[str, float | None]:
        """The fields whose value differs from ``current`` (None: remove the setting)."""
        return {
            name: value for name, value in self.values().items() if not _same(value, getattr(current, name))
        }


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)


@dataclass(frozen=True, slots=True)
class Bounds:
    """How sure the request values are: a range the right request very probably lies in."""

    cpu_low: float | None = None
    cpu_high: float | None = None
    mem_low: float | None = None
    mem_high: float | None = None


@dataclass(frozen=True, slots=True)
class Savings:
    """Monthly savings of applying the recommendation at the current replicas (negative: it costs more).

    None where the container has no current request to compare with.
    """

    cpu_core_hours: float | None = None
    mem_gib_hours: float | None = None
    usd: float | None = None


@dataclass(frozen=True, slots=True)
class Risk:
    """What the history says would have happened with the recommended values.

    ``cpu_time_above_request``: share of the history's time the CPU usage exceeded the new
    request; ``mem_days_above_request`` / ``mem_days_above_limit``: days whose memory maximum
    exceeded the new request / limit (the latter would have been OOM kills); ``days``: days
    looked at; ``throttle_max``: highest daily CPU throttling ratio seen; ``oom_kills``:
    OOM kills seen.
    """

    cpu_time_above_request: float | None = None
    mem_days_above_request: int = 0
    mem_days_above_limit: int = 0
    days: int = 0
    throttle_max: float | None = None
    oom_kills: float = 0.0


@dataclass(frozen=True, slots=True)
class ReplicaAdvice:
    """Replicas for a workload without an HPA, or min/max advice for the HPA that scales it."""

    current: float | None
    replicas: int | None = None
    hpa_min: int | None = None
    hpa_max: int | None = None
    explanation: str = ""


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One strategy's recommendation for one container.

    ``settings`` are the strategy's settings as plain JSON values; ``first_day`` and
    ``last_day`` delimit the history it read (local days) and ``days`` counts the days with
    data. ``confidence`` runs from 0 (no history) to 1 (every day the strategy asks for).
    A NOT_ENOUGH_DATA recommendation keeps the current values and its explanation says why.
    """

    ref: ContainerRef
    strategy: str
    settings: Mapping[str, Any]
    computed_at: datetime
    window: str | None
    first_day: date | None
    last_day: date | None
    days: int
    status: Status
    target: Resources
    current: Resources
    bounds: Bounds
    confidence: float
    explanation: str
    savings: Savings
    risk: Risk
    replicas: ReplicaAdvice | None = None

    @property
    def changed(self) -> bool:
        return self.status is Status.OK and bool(self.target.changes(self.current))
