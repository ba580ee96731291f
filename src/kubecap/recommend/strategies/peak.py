"""``peak``: KubeDoor's rule done right — each workload's own highest daily peak-window P95.

KubeDoor takes, at the end of each day's peak window, a "P95" that is really the 0.80
quantile, per ReplicaSet and for the first container only, and keeps the day on which the
whole cluster was busiest. Here the request is, per container, the highest true P95 of its
own peak window over the last N days (default 10), plus an optional margin; memory alike
from the peak window's memory P95. Limits are kept.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from kubecap.recommend.history import DailyHistory
from kubecap.recommend.settings import CpuQuantity, MemoryQuantity, StrategySettings
from kubecap.recommend.steps import MIB, at_least, highest_daily, with_margin
from kubecap.recommend.strategies.base import Strategy, StrategyResult, kept, period, sufficiency


class PeakSettings(StrategySettings):
    days: int = Field(10, ge=1, le=400, description="days of history the strategy reads, ending yesterday")
    margin_percent: float = Field(
        0.0, ge=0, le=1000, description="safety margin added to the peak, in percent"
    )
    min_cpu: CpuQuantity = Field(0.001, description="smallest CPU request recommended")
    min_memory: MemoryQuantity = Field(MIB, description="smallest memory request recommended")


class PeakStrategy(Strategy[PeakSettings]):
    name: ClassVar[str] = "peak"
    summary: ClassVar[str] = "KubeDoor: highest daily peak-window P95 of the last 10 days; limits kept"

    def __init__(self) -> None:
        super().__init__(PeakSettings)

    def run(self, history: DailyHistory, settings: PeakSettings) -> StrategyResult:
        h = history.last(settings.days)
        windows = h.peak_window
        margin = settings.margin_percent / 100

        present = h.has_peak() & ~np.isnan(h.peak["cpu_p95"])
        used, enough, reason = sufficiency(self.name, h, settings, present, "peak-window usage")
        span = period(h, used)

        def what(i: int) -> str:
            return f"daily {windows[i]} P95 of {span(i)}"

        cpu = highest_daily(h.peak["cpu_p95"], h.first_day, what)
        cpu = at_least(with_margin(cpu, margin), settings.min_cpu, "cpu")
        mem = highest_daily(h.peak["mem_p95"], h.first_day, what)
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
