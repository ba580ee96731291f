"""``vpa``: the Kubernetes VPA recommender's rules, adapted to daily profiles.

The VPA recommender (kubernetes/autoscaler, vertical-pod-autoscaler/pkg/recommender/logic)
keeps per container a histogram of CPU usage samples whose weights double every 24 hours
(so older samples count half as much per day of age), and a histogram of memory peaks, one
sample per 24-hour interval. Target = P90 + 15 %, lower bound = P50 + 15 %, upper bound =
P95 + 15 %; the upper bound is multiplied by (1 + 1/days) and the lower one by
(1 + 0.001/days)^-2, days being the history length, so that a short history gives wide
bounds. An OOM kill adds a memory peak of max(used + 100 MiB, used × 1.2). Pod minimums
(25 millicores, 250 MiB) are split evenly across the pod's containers. With the default
``controlledValues: RequestsAndLimits`` limits keep their ratio to the requests.

Adapted to daily profiles: the CPU histogram becomes the mixture of the days' CPU
distributions weighted by samples × 2^(−age / half-life) (the VPA also weights each CPU
sample by the container's request, which is constant within a day and left out); the
memory histogram is the days' memory maxima (the VPA's daily peaks exactly) with the same
decay; an OOM day's peak is bumped from the larger of its maximum and its memory limit
(the usage at which it was killed); "days" is the number of days with data.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from kubecap.recommend.distribution import CPU_LEVELS, Mixture, cpu_knots, weighted_quantile
from kubecap.recommend.history import DailyHistory, Mask, Matrix, Vector
from kubecap.recommend.settings import CpuQuantity, MemoryQuantity, StrategySettings
from kubecap.recommend.steps import MIB, Estimate, Note, at_least, format_memory, given, with_margin
from kubecap.recommend.strategies.base import (
    Bounds,
    Strategy,
    StrategyResult,
    kept,
    n_containers_of_workload,
    period,
    sufficiency,
)


class VpaSettings(StrategySettings):
    days: int = Field(14, ge=1, le=400, description="days of history the strategy reads, ending yesterday")
    half_life_hours: float = Field(24, gt=0, le=24 * 365, description="age at which a day's weight halves")
    cpu_percentile: float = Field(90, gt=0, le=100, description="percentile of CPU usage for the target")
    memory_percentile: float = Field(
        90, gt=0, le=100, description="percentile of daily memory peaks for the target"
    )
    lower_percentile: float = Field(50, gt=0, le=100, description="percentile for the lower bound")
    upper_percentile: float = Field(95, gt=0, le=100, description="percentile for the upper bound")
    margin_percent: float = Field(15, ge=0, le=1000, description="safety margin, in percent")
    oom_bump_percent: float = Field(
        20, ge=0, le=1000, description="memory bump after an OOM kill, in percent"
    )
    oom_min_bump: MemoryQuantity = Field(100 * MIB, description="smallest memory bump after an OOM kill")
    pod_min_cpu: CpuQuantity = Field(
        0.025, description="smallest CPU request of a pod, split across its containers"
    )
    pod_min_memory: MemoryQuantity = Field(
        250 * MIB, description="smallest memory request of a pod, split across its containers"
    )
    limits: Literal["proportional", "keep"] = Field(
        "proportional", description="limits keep their ratio to the requests, or stay as they are"
    )


class VpaStrategy(Strategy[VpaSettings]):
    name: ClassVar[str] = "vpa"
    summary: ClassVar[str] = "VPA recommender: decaying P90 + 15 %, daily memory peaks, OOM bump, bounds"

    def __init__(self) -> None:
        super().__init__(VpaSettings)

    def run(self, history: DailyHistory, settings: VpaSettings) -> StrategyResult:
        s = settings
        h = history.last(s.days)
        whole = h.whole
        present = h.has_day() & ~np.isnan(whole["cpu_p90"])
        used, enough, reason = sufficiency(self.name, h, s, present)
        span = period(h, used)
        margin = s.margin_percent / 100
        age_days = (h.days - 1 - np.arange(h.days)) + 0.5
        decay = np.broadcast_to(2.0 ** (-age_days * 24.0 / s.half_life_hours), (len(h), h.days))
        half_life = f"half-life {s.half_life_hours:g} h"

        history_days = np.maximum(used, 1).astype(float)
        per_container = n_containers_of_workload(h)

        cpu_mix = Mixture.build(cpu_knots(whole), CPU_LEVELS, whole["samples"] * decay)
        pc = s.cpu_percentile
        cpu = given(
            cpu_mix.quantile(pc / 100),
            lambda i: f"= decaying-weight P{pc:g} of the CPU usage over {span(i)} ({half_life})",
        )
        cpu = at_least(with_margin(cpu, margin), s.pod_min_cpu / per_container, "cpu")

        peaks, bumped = _memory_peaks(h, s)
        weights = np.where(np.isnan(peaks), 0.0, decay)
        pm = s.memory_percentile
        mem = given(
            weighted_quantile(peaks, weights, pm / 100),
            lambda i: f"= decaying-weight P{pm:g} of the daily memory maxima of {span(i)} ({half_life})",
        )
        oom_days = bumped.sum(axis=1)
        mem = mem.then(
            mem.values,
            lambda i: (
                f"OOM kills on {oom_days[i]} day(s) counted as peaks raised by "
                f"{s.oom_bump_percent:g} % (at least {format_memory(s.oom_min_bump)})"
            ),
            oom_days > 0,
        )
        mem = at_least(with_margin(mem, margin), s.pod_min_memory / per_container, "memory")

        upper_factor = (1 + margin) * (1 + 1 / history_days)
        lower_factor = (1 + margin) * (1 + 0.001 / history_days) ** -2
        bounds = Bounds(
            cpu_low=cpu_mix.quantile(s.lower_percentile / 100) * lower_factor,
            cpu_high=cpu_mix.quantile(s.upper_percentile / 100) * upper_factor,
            mem_low=weighted_quantile(peaks, weights, s.lower_percentile / 100) * lower_factor,
            mem_high=weighted_quantile(peaks, weights, s.upper_percentile / 100) * upper_factor,
        )
        cpu_limit = kept(h.latest("cpu_limit"))
        mem_limit = kept(h.latest("mem_limit"))
        if s.limits == "proportional":
            cpu_limit = _proportional(cpu, h.latest("cpu_request"), h.latest("cpu_limit"), cpu_limit)
            mem_limit = _proportional(mem, h.latest("mem_request"), h.latest("mem_limit"), mem_limit)
        return StrategyResult(
            cpu_request=cpu,
            cpu_limit=cpu_limit,
            mem_request=mem,
            mem_limit=mem_limit,
            days_used=used,
            looked_back=h.days,
            enough=enough,
            reason=reason,
            bounds=bounds,
        )


def _memory_peaks(h: DailyHistory, s: VpaSettings) -> tuple[Matrix, Mask]:
    """Daily memory maxima, OOM days bumped from the usage at which they were killed."""
    whole = h.whole
    peaks = whole["mem_max"]
    oom = np.nan_to_num(whole["oom_kills"]) > 0
    limit = np.where(np.isnan(whole["mem_limit"]), whole["mem_request"], whole["mem_limit"])
    killed_at = np.fmax(peaks, limit)
    bump = np.maximum(killed_at + s.oom_min_bump, killed_at * (1 + s.oom_bump_percent / 100))
    return np.where(oom & ~np.isnan(killed_at), np.fmax(peaks, bump), peaks), oom & ~np.isnan(killed_at)


def _proportional(
    request: Estimate, current_request: Vector, current_limit: Vector, keep: Estimate
) -> Estimate:
    """Limits that keep today's limit-to-request ratio; kept where that ratio is unknown."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = current_limit / current_request
    known = np.isfinite(ratio) & (ratio > 0)
    values = np.where(known, request.values * np.where(known, ratio, 1.0), keep.values)
    return Estimate(
        values,
        (
            Note(lambda i: f"= the request × {ratio[i]:.3g} (today's limit/request ratio)", known),
            Note(lambda i: " ".join(keep.phrases(i)), ~known),
        ),
    )
