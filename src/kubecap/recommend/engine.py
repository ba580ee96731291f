"""The engine: one strategy over a daily history → guardrails → savings, risk, replicas → recommendations.

A straight sequence of named steps, the same for every strategy:

1. ``current``: what each container runs with today (the latest requests and limits seen);
2. the strategy's estimates (pure, vectorised over every container);
3. the guardrails, in their declared order (guardrails.py);
4. "not enough data": containers whose history is too short keep their current values;
5. savings and risk from the history the strategy read, replica or HPA advice per workload;
6. one ``Recommendation`` per container, with its explanation written out.

``propose`` stops after step 4 and returns arrays: the what-if replay uses it on every day
of a history without building objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from kubecap.domain.hpa import HpaInfo, HpaMetric
from kubecap.domain.recommendation import (
    Bounds,
    Recommendation,
    ReplicaAdvice,
    Resources,
    Risk,
    Savings,
    Status,
)
from kubecap.domain.workload import WorkloadRef
from kubecap.recommend import impact
from kubecap.recommend.guardrails import GUARDRAILS, Context, Current, Guardrail, Proposal, apply
from kubecap.recommend.history import DailyHistory, Mask, Vector
from kubecap.recommend.replicas import replica_advice
from kubecap.recommend.settings import EngineSettings, StrategySettings
from kubecap.recommend.steps import Estimate, unit_format
from kubecap.recommend.strategies.base import Strategy, StrategyResult

LABELS = {
    "cpu_request": ("CPU request", "cpu"),
    "cpu_limit": ("CPU limit", "cpu"),
    "mem_request": ("Memory request", "memory"),
    "mem_limit": ("Memory limit", "memory"),
}


def current_resources(history: DailyHistory) -> Current:
    """The latest requests and limits seen per container (NaN: not set)."""
    return Current(
        cpu_request=history.latest("cpu_request"),
        cpu_limit=history.latest("cpu_limit"),
        mem_request=history.latest("mem_request"),
        mem_limit=history.latest("mem_limit"),
    )


def hpa_masks(history: DailyHistory, hpas: Mapping[WorkloadRef, HpaInfo]) -> tuple[Mask, Mask]:
    """Per container: its workload's HPA scales on CPU / on memory."""
    cpu = np.zeros(len(history), dtype=bool)
    memory = np.zeros(len(history), dtype=bool)
    if hpas:
        for i, ref in enumerate(history.containers):
            hpa = hpas.get(ref.workload)
            if hpa is not None:
                cpu[i] = hpa.scales_on(HpaMetric.CPU)
                memory[i] = hpa.scales_on(HpaMetric.MEMORY)
    return cpu, memory


@dataclass(frozen=True)
class Run:
    """One strategy's outcome over a history, as arrays (values after guardrails and data checks)."""

    history: DailyHistory
    settings: StrategySettings
    result: StrategyResult
    proposal: Proposal
    current: Current

    @property
    def ok(self) -> Mask:
        return self.result.enough

    def values(self, name: str) -> Vector:
        """Final values of a resource: the proposal where data sufficed, the current value elsewhere."""
        proposed: Vector = getattr(self.proposal, name).values
        current: Vector = getattr(self.current, name)
        return np.where(self.ok, proposed, current)


def propose(
    history: DailyHistory,
    strategy: Strategy[Any],
    settings: StrategySettings,
    engine: EngineSettings,
    *,
    hpas: Mapping[WorkloadRef, HpaInfo] | None = None,
    guardrails: Sequence[Guardrail] = GUARDRAILS,
) -> Run:
    """Steps 1-4: the values every container would get."""
    current = current_resources(history)
    result = strategy.run(history, settings)
    hpa_cpu, hpa_memory = hpa_masks(history, hpas or {})
    proposal = Proposal(result.cpu_request, result.cpu_limit, result.mem_request, result.mem_limit)
    proposal = apply(proposal, Context(current, hpa_cpu, hpa_memory, engine), guardrails)
    return Run(history, settings, result, proposal, current)


def recommend(
    history: DailyHistory,
    strategy: Strategy[Any],
    settings: StrategySettings,
    engine: EngineSettings,
    *,
    computed_at: datetime,
    hpas: Mapping[WorkloadRef, HpaInfo] | None = None,
    guardrails: Sequence[Guardrail] = GUARDRAILS,
) -> list[Recommendation]:
    """Every step: one recommendation per container of ``history``."""
    run = propose(history, strategy, settings, engine, hpas=hpas, guardrails=guardrails)
    read = history.last(run.result.looked_back)
    final = {name: run.values(name) for name in LABELS}
    cur = run.current
    saved = impact.savings(
        cur.cpu_request,
        final["cpu_request"],
        cur.mem_request,
        final["mem_request"],
        impact.replicas_now(read),
        engine,
    )
    risk = impact.risk(read, final["cpu_request"], final["mem_request"], final["mem_limit"])
    advice = replica_advice(read, cur.cpu_request, final["cpu_request"], hpas or {}, engine)
    return _materialise(run, strategy.name, computed_at, final, saved, risk, advice)


def _values(vector: Vector) -> list[float | None]:
    """A vector as Python values, NaN as None (one call instead of one per element)."""
    return [None if v != v else v for v in vector.tolist()]  # v != v: NaN


def _materialise(
    run: Run,
    strategy: str,
    computed_at: datetime,
    final: Mapping[str, Vector],
    saved: impact.SavingsColumns,
    risk: impact.RiskColumns,
    advice: Mapping[WorkloadRef, ReplicaAdvice],
) -> list[Recommendation]:
    history, result = run.history, run.result
    read_days = max(result.looked_back, 0)
    first = history.day(history.days - read_days) if read_days and history.days else None
    last = history.last_day if history.days else None
    settings_json = run.settings.model_dump(mode="json")
    estimates = run.proposal.estimates()
    # Python values once per column: element access on numpy arrays costs ten times more.
    target = {name: _values(final[name]) for name in LABELS}
    now = {name: _values(getattr(run.current, name)) for name in LABELS}
    bounds = result.bounds
    low_high = (
        [_values(v) for v in (bounds.cpu_low, bounds.cpu_high, bounds.mem_low, bounds.mem_high)]
        if bounds is not None
        else None
    )
    money = [_values(v) for v in (saved.cpu_core_hours, saved.mem_gib_hours, saved.usd)]
    above, throttle = _values(risk.cpu_time_above_request), _values(risk.throttle_max)
    over_request, over_limit = risk.mem_days_above_request.tolist(), risk.mem_days_above_limit.tolist()
    risk_days, ooms = risk.days.tolist(), risk.oom_kills.tolist()
    enough, used = result.enough.tolist(), result.days_used.tolist()
    confidence = np.clip(result.days_used / max(run.settings.days, 1), 0.0, 1.0).tolist()
    out = []
    for i, ref in enumerate(history.containers):
        ok = enough[i]
        if ok:
            explanation = "; ".join(_sentence(name, estimates[name], i) for name in LABELS) + "."
            explanation += _missing_requests(now["cpu_request"][i], now["mem_request"][i])
        else:
            explanation = f"Not enough data: {result.reason(i)}; the current values are kept."
        out.append(
            Recommendation(
                ref=ref,
                strategy=strategy,
                settings=settings_json,
                computed_at=computed_at,
                window=history.peak_window[i],
                first_day=first,
                last_day=last,
                days=used[i],
                status=Status.OK if ok else Status.NOT_ENOUGH_DATA,
                target=Resources(*(target[name][i] for name in LABELS)),
                current=Resources(*(now[name][i] for name in LABELS)),
                bounds=Bounds(*(v[i] for v in low_high)) if low_high is not None and ok else Bounds(),
                confidence=confidence[i],
                explanation=explanation,
                savings=Savings(money[0][i], money[1][i], money[2][i]),
                risk=Risk(
                    cpu_time_above_request=above[i],
                    mem_days_above_request=over_request[i],
                    mem_days_above_limit=over_limit[i],
                    days=risk_days[i],
                    throttle_max=throttle[i],
                    oom_kills=ooms[i],
                ),
                replicas=advice.get(ref.workload),
            )
        )
    return out


def _missing_requests(cpu: float | None, memory: float | None) -> str:
    """The sentence for a container without requests: nothing is reserved today to compare with."""
    missing = [name for name, value in (("CPU", cpu), ("memory", memory)) if value is None]
    if not missing:
        return ""
    return (
        f" No {' or '.join(missing)} request is set today, so the scheduler reserves nothing for it "
        "and no saving can be computed: the recommended request reserves what the history needs."
    )


def _sentence(name: str, estimate: Estimate, i: int) -> str:
    """ "CPU request 340m = highest daily 10:00-11:30 P95 of the last 10 days (2026-11-18), no margin"."""
    label, resource = LABELS[name]
    value = estimate.values[i]
    head = (
        f"{label} {unit_format(resource)(float(value))}"
        if not np.isnan(value)
        else f"no {label if resource == 'cpu' else label.lower()}"
    )
    phrases = estimate.phrases(i)
    if not phrases:
        return head
    joiner = " " if phrases[0].startswith("= ") else ": "
    return head + joiner + ", ".join(phrases)
