"""``crane``: Crane's resource recommender — P99 of 7 days plus 15 %, for CPU and memory.

Crane's defaults (cpu/mem-request-percentile 0.99, margin fraction 0.15, 168 h of history)
apply to raw samples; here the 7-day P99 is read from the mixture of the daily profiles
(recommend/distribution.py). A day's memory P99 lies between its P95 and its maximum and
is taken as linear between them. Limits are kept, as Crane only recommends requests.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from kubecap.recommend.distribution import CPU_LEVELS, MEMORY_LEVELS, Mixture, cpu_knots, memory_knots
from kubecap.recommend.history import DailyHistory
from kubecap.recommend.settings import CpuQuantity, MemoryQuantity, StrategySettings
from kubecap.recommend.steps import MIB, at_least, given, with_margin
from kubecap.recommend.strategies.base import Strategy, StrategyResult, kept, period, sufficiency


class CraneSettings(StrategySettings):
    days: int = Field(7, ge=1, le=400, description="days of history the strategy reads, ending yesterday")
    cpu_percentile: float = Field(99, gt=0, le=100, description="percentile of CPU usage for the CPU request")
    memory_percentile: float = Field(
        99, gt=0, le=100, description="percentile of memory usage for the memory request"
    )
    margin_percent: float = Field(15, ge=0, le=1000, description="safety margin added to both, in percent")
    min_cpu: CpuQuantity = Field(0.001, description="smallest CPU request recommended")
    min_memory: MemoryQuantity = Field(MIB, description="smallest memory request recommended")


class CraneStrategy(Strategy[CraneSettings]):
    name: ClassVar[str] = "crane"
    summary: ClassVar[str] = "Crane: P99 of 7 days + 15 % for CPU and memory; limits kept"

    def __init__(self) -> None:
        super().__init__(CraneSettings)

    def run(self, history: DailyHistory, settings: CraneSettings) -> StrategyResult:
        h = history.last(settings.days)
        whole = h.whole
        present = h.has_day() & ~np.isnan(whole["cpu_p99"])
        used, enough, reason = sufficiency(self.name, h, settings, present)
        span = period(h, used)
        margin = settings.margin_percent / 100
        cpu_mix = Mixture.build(cpu_knots(whole), CPU_LEVELS, whole["samples"])
        mem_mix = Mixture.build(memory_knots(whole), MEMORY_LEVELS, whole["samples"])
        pc, pm = settings.cpu_percentile, settings.memory_percentile
        cpu = given(cpu_mix.quantile(pc / 100), lambda i: f"= P{pc:g} of the CPU usage over {span(i)}")
        cpu = at_least(with_margin(cpu, margin), settings.min_cpu, "cpu")
        mem = given(mem_mix.quantile(pm / 100), lambda i: f"= P{pm:g} of the memory usage over {span(i)}")
        mem = at_least(with_margin(mem, margin), settings.min_memory, "memory")
        return StrategyResult(
            cpu_request=cpu,
            cpu_limit=kept(h.latest("cpu_limit")),
            mem_request=mem,
            mem_limit=kept(h.latest("mem_limit")),
            days_used=used,
            looked_back=h.days,
            enough=enough,
            reason=reason,
        )
