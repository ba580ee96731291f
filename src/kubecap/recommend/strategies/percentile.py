"""``percentile``: KRR's "simple" strategy (and "simple-limit" through one setting).

KRR sets the CPU request to the P95 of 14 days of samples and leaves the CPU limit unset,
and sets memory request = limit = the highest memory usage × 1.15, with minimums of 10m and
100Mi. On daily profiles the 14-day percentile is the percentile of the days' mixed
distributions (recommend/distribution.py) and the memory maximum is the highest daily
maximum, which is exact. KRR's "simple-limit" (CPU request P66, limit P96) is
``--cpu-percentile 66 --cpu-limit-percentile 96``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from kubecap.recommend.distribution import CPU_LEVELS, Mixture, cpu_knots
from kubecap.recommend.history import DailyHistory
from kubecap.recommend.settings import CpuQuantity, MemoryQuantity, StrategySettings
from kubecap.recommend.steps import MIB, at_least, given, highest_daily, with_margin
from kubecap.recommend.strategies.base import Strategy, StrategyResult, period, sufficiency, unset


class PercentileSettings(StrategySettings):
    days: int = Field(14, ge=1, le=400, description="days of history the strategy reads, ending yesterday")
    cpu_percentile: float = Field(95, gt=0, le=100, description="percentile of CPU usage for the CPU request")
    cpu_limit_percentile: float | None = Field(
        None,
        gt=0,
        le=100,
        description="percentile for the CPU limit (KRR simple-limit: 96); none: no CPU limit",
    )
    memory_buffer_percent: float = Field(
        15, ge=0, le=1000, description="percent added to the highest memory usage (request = limit)"
    )
    min_cpu: CpuQuantity = Field(0.010, description="smallest CPU request recommended")
    min_memory: MemoryQuantity = Field(100 * MIB, description="smallest memory request recommended")


class PercentileStrategy(Strategy[PercentileSettings]):
    name: ClassVar[str] = "percentile"
    summary: ClassVar[str] = "KRR simple: CPU P95 of 14 days, no CPU limit; memory = max × 1.15"

    def __init__(self) -> None:
        super().__init__(PercentileSettings)

    def run(self, history: DailyHistory, settings: PercentileSettings) -> StrategyResult:
        h = history.last(settings.days)
        whole = h.whole
        mixture = Mixture.build(cpu_knots(whole), CPU_LEVELS, whole["samples"])
        present = h.has_day() & ~np.isnan(whole["cpu_p95"])
        used, enough, reason = sufficiency(self.name, h, settings, present)
        span = period(h, used)
        p = settings.cpu_percentile
        cpu = given(mixture.quantile(p / 100), lambda i: f"= P{p:g} of the CPU usage over {span(i)}")
        cpu = at_least(cpu, settings.min_cpu, "cpu")
        if settings.cpu_limit_percentile is None:
            cpu_limit = unset(h.latest("cpu_limit"), "cpu", "KRR sets no CPU limit, which only throttles")
        else:
            lp = settings.cpu_limit_percentile
            cpu_limit = given(
                mixture.quantile(lp / 100), lambda i: f"= P{lp:g} of the CPU usage over {span(i)}"
            )
            cpu_limit = at_least(cpu_limit, settings.min_cpu, "cpu")
        mem = highest_daily(whole["mem_max"], h.first_day, lambda i: f"daily memory maximum of {span(i)}")
        mem = at_least(with_margin(mem, settings.memory_buffer_percent / 100), settings.min_memory, "memory")
        mem_limit = given(mem.values, lambda i: "= the memory request")
        return StrategyResult(
            cpu_request=cpu,
            cpu_limit=cpu_limit,
            mem_request=mem,
            mem_limit=mem_limit,
            days_used=used,
            looked_back=h.days,
            enough=enough,
            reason=reason,
        )
