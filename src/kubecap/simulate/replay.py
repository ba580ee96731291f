"""The what-if replay: recommend from the days before t, score on day t, for every day t.

For each evaluation day t the strategy sees the history of days [0, t) only (it cuts its own
look-back from it), the engine's guardrails apply as in production, and the values are
scored on day t against what really happened: the share of day t's time its CPU usage was
above the new request, whether its memory maximum exceeded the new request or the new
limit (an OOM kill), and how much the requests shrank against the current ones. A
container without enough history keeps its current values, as in production.

Day t is scored either from raw samples (traces: exact) or from day t's profile (a stored
history: the share above is read from its quantiles, see recommend/distribution.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kubecap.domain.hpa import HpaInfo
from kubecap.domain.recommendation import GIB, MONTH_HOURS
from kubecap.domain.workload import WorkloadRef
from kubecap.recommend.distribution import CPU_LEVELS, Mixture, cpu_knots
from kubecap.recommend.engine import propose
from kubecap.recommend.history import DailyHistory, Mask, Matrix, Vector, row_mean
from kubecap.recommend.settings import EngineSettings, StrategySettings
from kubecap.recommend.strategies.base import Strategy

Evaluator = Callable[[int, Vector], tuple[Vector, Vector]]
"""(day t, new CPU requests) → per container (share of day t's time above the request, day t's memory maximum);
NaN where the container has no data that day."""


def profile_evaluator(history: DailyHistory) -> Evaluator:
    """Score on the stored profiles of day t."""

    def evaluate(t: int, cpu_request: Vector) -> tuple[Vector, Vector]:
        day = history.span(t, t + 1)
        mixture = Mixture.build(cpu_knots(day.whole), CPU_LEVELS, day.whole["samples"])
        return mixture.share_above(cpu_request), day.whole["mem_max"][:, 0]

    return evaluate


def sample_evaluator(
    cpu: Sequence[Sequence[npt.NDArray[np.float64]]], memory: Sequence[Sequence[npt.NDArray[np.float64]]]
) -> Evaluator:
    """Score on raw points: ``cpu[i][t]`` and ``memory[i][t]`` are container i's points of day t."""

    def evaluate(t: int, cpu_request: Vector) -> tuple[Vector, Vector]:
        n = len(cpu)
        above = np.full(n, np.nan)
        peak = np.full(n, np.nan)
        for i in range(n):
            points = cpu[i][t] if t < len(cpu[i]) else np.zeros(0)
            if len(points) and not np.isnan(cpu_request[i]):
                above[i] = float(np.mean(points > cpu_request[i]))
            mem = memory[i][t] if t < len(memory[i]) else np.zeros(0)
            if len(mem):
                peak[i] = float(mem.max())
        return above, peak

    return evaluate


@dataclass(frozen=True)
class Outcome:
    """Per container (rows) and evaluation day (columns ``days``) what the replay saw."""

    strategy: str
    history: DailyHistory
    days: npt.NDArray[np.int64]
    scored: Mask
    ok: Mask
    cpu_request: Matrix
    mem_request: Matrix
    mem_limit: Matrix
    cpu_now: Matrix
    mem_now: Matrix
    cpu_above: Matrix
    mem_max: Matrix

    @property
    def mem_over_request(self) -> Mask:
        return self.scored & (self.mem_max > self.mem_request)

    @property
    def mem_over_limit(self) -> Mask:
        return self.scored & (self.mem_max > self.mem_limit)

    def summary(self, engine: EngineSettings | None = None) -> Summary:
        """Averages per container first, then over containers: every container counts alike."""
        prices = engine or EngineSettings()
        scored = self.scored
        per = np.where(scored, 1.0, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            cpu_cut = row_mean(per * (1 - self.cpu_request / self.cpu_now))
            mem_cut = row_mean(per * (1 - self.mem_request / self.mem_now))
            above = row_mean(per * self.cpu_above)
        has = scored.any(axis=1)
        saved = (self.cpu_now - self.cpu_request) * prices.cpu_price + (
            self.mem_now - self.mem_request
        ) / GIB * prices.memory_price
        return Summary(
            strategy=self.strategy,
            containers=int(has.sum()),
            container_days=int(scored.sum()),
            cpu_request_reduction=_mean(cpu_cut[has]),
            mem_request_reduction=_mean(mem_cut[has]),
            cpu_time_above_request=_mean(above[has]),
            cpu_time_above_request_worst=float(np.nanmax(above[has])) if has.any() else float("nan"),
            mem_days_above_request=int(self.mem_over_request.sum()),
            mem_days_above_limit=int(self.mem_over_limit.sum()),
            not_enough_data_days=int((scored & ~self.ok).sum()),
            monthly_savings_usd=float(np.nansum(np.where(scored, saved, 0.0)) / max(scored.shape[1], 1))
            * MONTH_HOURS,
        )


def _mean(values: Vector) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else float("nan")


@dataclass(frozen=True)
class Summary:
    """One strategy's replay in figures (fractions, not percent)."""

    strategy: str
    containers: int
    container_days: int
    cpu_request_reduction: float
    mem_request_reduction: float
    cpu_time_above_request: float
    cpu_time_above_request_worst: float
    mem_days_above_request: int
    mem_days_above_limit: int
    not_enough_data_days: int
    monthly_savings_usd: float

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def replay(
    history: DailyHistory,
    strategy: Strategy[Any],
    settings: StrategySettings,
    engine: EngineSettings,
    *,
    start: int,
    evaluate: Evaluator | None = None,
    hpas: Mapping[WorkloadRef, HpaInfo] | None = None,
) -> Outcome:
    """Recommend from days [0, t) and score on day t, for t = ``start`` … the last day."""
    if not 1 <= start <= history.days:
        raise ValueError(f"the replay must start between day 1 and day {history.days}, not {start}")
    score = evaluate or profile_evaluator(history)
    days = np.arange(start, history.days, dtype=np.int64)
    n, m = len(history), len(days)
    shape = (n, m)
    columns = {
        name: np.full(shape, np.nan)
        for name in ("cpu_request", "mem_request", "mem_limit", "cpu_now", "mem_now", "cpu_above", "mem_max")
    }
    ok = np.zeros(shape, dtype=bool)
    for k, t in enumerate(days):
        run = propose(history.span(0, int(t)), strategy, settings, engine, hpas=hpas)
        cpu = run.values("cpu_request")
        columns["cpu_request"][:, k] = cpu
        columns["mem_request"][:, k] = run.values("mem_request")
        columns["mem_limit"][:, k] = run.values("mem_limit")
        columns["cpu_now"][:, k] = run.current.cpu_request
        columns["mem_now"][:, k] = run.current.mem_request
        ok[:, k] = run.ok
        columns["cpu_above"][:, k], columns["mem_max"][:, k] = score(int(t), cpu)
    scored = ~np.isnan(columns["cpu_above"]) & ~np.isnan(columns["cpu_now"])
    return Outcome(
        strategy=strategy.name,
        history=history,
        days=days,
        scored=scored,
        ok=ok,
        **columns,
    )
