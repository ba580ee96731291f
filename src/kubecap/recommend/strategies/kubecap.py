"""``kubecap``: the default — two weeks of usage for the level, yesterday for the trend, one margin.

Measured against the peers in the what-if replay over the real traces (bench/quality.py,
docs/recommend.md), the prior art errs two ways. A short window (Crane's 7 days) misses the
weekly cycle and a long one reacts to a level shift only once the shift dominates it; a
fixed margin on top (Crane's +15 %) is the only protection. KRR's P95 of 14 days is
exceeded far more than 5 % of the next day's time as soon as usage drifts, and its memory
limit equal to the request turns every new peak into an OOM kill.

kubecap takes each resource's level from two weeks and its trend from the latest day:

- CPU request = the higher of the P99 of the last ``days`` days' mixed usage
  (recommend/distribution.py) and the latest day's own P99, plus ``cpu_margin_percent``;
- Memory request = the higher of the highest daily maximum of the last ``days`` days plus
  ``memory_margin_percent`` and the latest day's maximum plus ``memory_recent_margin_percent``
  (a growing working set gets the larger margin the day it shows).
- Memory limit = the request plus ``limit_headroom_percent``, never below today's limit:
  limits cost nothing until used, and headroom turns a new peak into pressure instead of an
  OOM kill while still stopping a leak. A container without a memory limit keeps none.
- CPU limit: kept, or raised to the request when the request needs more (usage was capped
  by the limit, throttling says how much).

Fewer than ``min_days`` (2) days with data is "not enough data": a single day cannot show
whether it repeats.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from kubecap.domain.quantity import format_cpu
from kubecap.recommend.distribution import CPU_LEVELS, Knots, Mixture, cpu_knots
from kubecap.recommend.history import DailyHistory, Mask, Matrix, Vector, latest_value, row_max
from kubecap.recommend.settings import CpuQuantity, MemoryQuantity, StrategySettings
from kubecap.recommend.steps import (
    MIB,
    Estimate,
    Note,
    Phrase,
    at_least,
    format_memory,
    highest_daily,
    percent,
    with_margin,
)
from kubecap.recommend.strategies.base import Strategy, StrategyResult, period, sufficiency


class KubecapSettings(StrategySettings):
    days: int = Field(14, ge=1, le=400, description="days of history the strategy reads, ending yesterday")
    min_days: int = Field(2, ge=1, le=400, description="days with data below which it says 'not enough data'")
    cpu_percentile: float = Field(99, gt=0, le=100, description="percentile of CPU usage the request covers")
    cpu_margin_percent: float = Field(
        10, ge=0, le=1000, description="margin added to the CPU level, in percent"
    )
    memory_margin_percent: float = Field(
        10, ge=0, le=1000, description="margin added to the highest daily memory maximum, in percent"
    )
    memory_recent_margin_percent: float = Field(
        15, ge=0, le=1000, description="margin added to the latest day's memory maximum, in percent"
    )
    limit_headroom_percent: float = Field(
        25, ge=0, le=1000, description="memory limit above the memory request, in percent"
    )
    min_cpu: CpuQuantity = Field(0.005, description="smallest CPU request recommended")
    min_memory: MemoryQuantity = Field(16 * MIB, description="smallest memory request recommended")


class KubecapStrategy(Strategy[KubecapSettings]):
    name: ClassVar[str] = "kubecap"
    summary: ClassVar[str] = "kubecap: P99 of 14 days or of yesterday + 10 %; memory max + 10 %, limit + 25 %"

    def __init__(self) -> None:
        super().__init__(KubecapSettings)

    def run(self, history: DailyHistory, settings: KubecapSettings) -> StrategyResult:
        s = settings
        h = history.last(s.days)
        whole = h.whole
        present = h.has_day() & ~np.isnan(whole["cpu_p99"])
        used, enough, reason = sufficiency(self.name, h, s, present)
        span = period(h, used)
        latest = _latest_day(present)

        knots = cpu_knots(whole)
        mixture = Mixture.build(knots, CPU_LEVELS, whole["samples"])
        level = mixture.quantile(s.cpu_percentile / 100)
        yesterday = _latest_quantile(knots, latest, s.cpu_percentile / 100)
        cpu = _higher(
            level,
            yesterday,
            lambda i: f"= P{s.cpu_percentile:g} of the CPU usage over {span(i)}",
            lambda i: (
                f"= P{s.cpu_percentile:g} of the latest day's CPU usage ({_day(h, latest, i)}), "
                f"above the {format_cpu(float(level[i]))} of {span(i)}"
            ),
        )
        cpu = at_least(with_margin(cpu, s.cpu_margin_percent / 100), s.min_cpu, "cpu")

        peak = highest_daily(whole["mem_max"], h.first_day, lambda i: f"daily memory maximum of {span(i)}")
        peak = with_margin(peak, s.memory_margin_percent / 100)
        last_max = latest_value(np.where(present, whole["mem_max"], np.nan))
        recent = last_max * (1 + s.memory_recent_margin_percent / 100)
        grows = recent > peak.values
        mem = peak.then(
            np.where(grows, recent, peak.values),
            lambda i: (
                f"raised to the latest day's maximum {format_memory(float(last_max[i]))} "
                f"+ {percent(s.memory_recent_margin_percent / 100)}"
            ),
            grows,
        )
        mem = at_least(mem, s.min_memory, "memory")
        return StrategyResult(
            cpu_request=cpu,
            cpu_limit=_cpu_limit(cpu, h.latest("cpu_limit"), row_max(whole["cpu_throttle_ratio"])),
            mem_request=mem,
            mem_limit=_memory_limit(mem, h.latest("mem_limit"), s.limit_headroom_percent / 100),
            days_used=used,
            looked_back=h.days,
            enough=enough,
            reason=reason,
        )


def _cpu_limit(request: Estimate, current: Vector, throttled: Vector) -> Estimate:
    """Today's CPU limit, raised to the request where the request needs more (usage was capped by it)."""
    raise_it = request.values > current  # False where there is no limit
    values = np.where(raise_it, request.values, current)

    def raised(i: int) -> str:
        seen = (
            "" if np.isnan(throttled[i]) else f", throttled up to {throttled[i] * 100:.0f} % of its periods"
        )
        return f"raised to the request: usage reached {format_cpu(float(current[i]))}{seen}"

    return Estimate(values, (Note(lambda i: "kept", ~raise_it), Note(raised, raise_it)))


def _memory_limit(request: Estimate, current: Vector, headroom: float) -> Estimate:
    """The request plus headroom where a limit is set today (never lower than today's); none where none is."""
    with_headroom = request.values * (1 + headroom)
    has = ~np.isnan(current)
    keep = has & (current >= with_headroom)
    values = np.where(has, np.fmax(current, with_headroom), np.nan)
    return Estimate(
        values,
        (
            Note(lambda i: f"= the request + {percent(headroom)}", has & ~keep),
            Note(lambda i: "kept, above the request + headroom", keep),
            Note(lambda i: "kept (none today: adding one could only add OOM kills)", ~has),
        ),
    )


def _latest_day(present: Mask) -> Matrix:
    """(containers × days) 1.0 on each container's latest day with data, 0.0 elsewhere."""
    out = np.zeros(present.shape)
    if present.shape[1]:
        last = present.shape[1] - 1 - np.argmax(present[:, ::-1], axis=1)
        rows = np.flatnonzero(present.any(axis=1))
        out[rows, last[rows]] = 1.0
    return out


def _latest_quantile(knots: Knots, latest: Matrix, q: float) -> Vector:
    """Per container, quantile ``q`` of its latest day with data alone (NaN without any)."""
    rows = np.arange(len(knots))
    day = np.argmax(latest, axis=1) if latest.shape[1] else np.zeros(len(knots), dtype=np.int64)
    one_day = (
        knots[rows, day][:, None, :] if latest.shape[1] else np.full((len(knots), 1, len(CPU_LEVELS)), np.nan)
    )
    weight = latest[rows, day][:, None] if latest.shape[1] else np.zeros((len(knots), 1))
    return Mixture.build(one_day, CPU_LEVELS, weight).quantile(q)


def _day(h: DailyHistory, latest: Matrix, i: int) -> str:
    return str(h.day(int(np.argmax(latest[i]))))


def _higher(a: Vector, b: Vector, says_a: Phrase, says_b: Phrase) -> Estimate:
    """The higher of two estimates per container, explained by the one that won."""
    b_wins = b > a
    values = np.where(b_wins, b, a)
    return Estimate(values, (Note(says_a, ~b_wins), Note(says_b, b_wins)))
