"""What a strategy is: a pure function from the daily history and its settings to four estimates.

A strategy reads a ``DailyHistory`` that ends on the last day to consider (the engine and the
what-if replay cut it), takes its own look-back from it, and returns an ``Estimate`` per
resource (CPU and memory requests and limits) for every container at once, with the days
it used and whether they were enough. Guardrails, savings, risk and replicas are the
engine's business, the same for every strategy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

import numpy as np

from kubecap.recommend.history import DailyHistory, IntVector, Mask, Vector
from kubecap.recommend.settings import StrategySettings
from kubecap.recommend.steps import Estimate, Phrase, unit_format

S = TypeVar("S", bound=StrategySettings)


@dataclass(frozen=True)
class Bounds:
    """Per container, a range the right request very probably lies in (NaN: not given)."""

    cpu_low: Vector
    cpu_high: Vector
    mem_low: Vector
    mem_high: Vector


@dataclass(frozen=True)
class StrategyResult:
    """A strategy's values for every container, before the engine's guardrails.

    A limit estimate with NaN values means "no limit". ``days_used`` counts the days with
    data in the look-back; containers with ``enough`` False get "not enough data" and
    ``reason(i)`` says why.
    """

    cpu_request: Estimate
    cpu_limit: Estimate
    mem_request: Estimate
    mem_limit: Estimate
    days_used: IntVector
    looked_back: int
    enough: Mask
    reason: Phrase
    bounds: Bounds | None = None


class Strategy(ABC, Generic[S]):
    """A named, explainable way to turn daily usage into requests and limits."""

    name: ClassVar[str]
    summary: ClassVar[str]
    settings_model: type[S]

    def __init__(self, settings_model: type[S]) -> None:
        self.settings_model = settings_model

    @abstractmethod
    def run(self, history: DailyHistory, settings: S) -> StrategyResult:
        """Estimates for every container of ``history`` (which ends on the last day to use)."""

    def default_settings(self) -> S:
        return self.settings_model()


def sufficiency(
    name: str, history: DailyHistory, settings: StrategySettings, present: Mask, what: str = "usage"
) -> tuple[IntVector, Mask, Phrase]:
    """Days with data per container, whether they reach ``settings.min_days``, and the reason if not."""
    used = present.sum(axis=1).astype(np.int64)
    enough = used >= settings.min_days
    first, last, span = history.first_day, history.last_day, history.days
    window = f"the day {first}" if span == 1 else f"the {span} days from {first} to {last}"

    def reason(i: int) -> str:
        if span == 0 or used[i] == 0:
            looked = window if span else "the history read"
            return f"no {what} in {looked}: the container may be gone, or its usage is not collected yet"
        days = "day" if used[i] == 1 else "days"
        return (
            f"only {used[i]} {days} with {what} in {window}, "
            f"and the {name} strategy needs at least {settings.min_days}: "
            f"collect more days (kubecap collect --days {settings.days})"
        )

    return used, enough, reason


def kept(current: Vector) -> Estimate:
    """The current value, unchanged (a limit the strategy does not touch)."""
    return Estimate(current).then(current, lambda i: "kept")


def unset(current: Vector, resource: str, why: str) -> Estimate:
    """No value (a limit the strategy removes or never sets), with the reason."""
    values = np.full(len(current), np.nan)
    fmt = unit_format(resource)
    return Estimate(values).then(
        values, lambda i: why if np.isnan(current[i]) else f"removed (was {fmt(float(current[i]))}): {why}"
    )


def n_containers_of_workload(history: DailyHistory) -> Vector:
    """Per container, how many containers its workload has (minimums split across them)."""
    _, workload = history.workloads()
    counts = np.bincount(workload, minlength=int(workload.max()) + 1 if len(workload) else 0)
    return counts[workload].astype(float)


def period(history: DailyHistory, used: IntVector) -> Phrase:
    """ "the last 14 days", or "the last 14 days (8 with data)" for a container with gaps."""
    label = "day" if history.days == 1 else f"{history.days} days"
    return lambda i: f"the last {label}" + (f" ({used[i]} with data)" if used[i] < history.days else "")
