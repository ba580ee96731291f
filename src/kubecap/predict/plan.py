"""One round's decision for one workload, from its policy, its forecast and what runs now (pure).

The steps, in order: the replicas the load needs (the forecast's highest value within the
lead time, or — when there is no trustworthy forecast — the load seen now, "reactive"), a
cron window's floor, the policy's bounds, then the step limit. In ``hpa-min`` mode the
result is the HPA's minReplicas: never below the HPA's own minimum (restored when the
forecast is not trusted, so the HPA alone reacts) and never above its maximum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import numpy as np

from kubecap.domain.control import TEMPORARY_REPLICAS, ControlError, parse_temporary_replicas
from kubecap.forecast import CannotForecast, Forecast
from kubecap.predict.policy import Mode, Policy, epoch


class Basis(StrEnum):
    FORECAST = "forecast"
    REACTIVE = "reactive"


@dataclass(frozen=True, slots=True)
class Situation:
    """What runs now: the replicas (``control-table``) or the HPA's minReplicas (``hpa-min``)."""

    current: int
    load: float | None
    """The latest observed load (None: no recent sample)."""
    hpa_min: int | None = None
    """The HPA's own minReplicas, before kubecap raised it (``hpa-min`` only)."""
    hpa_max: int | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    replicas: int
    """The value to set this round (after every guardrail)."""
    current: int
    basis: Basis
    reason: str
    """One sentence: why this value."""
    wanted: int
    """What the load asked for, before bounds and the step limit."""
    expected_load: float | None = None
    backtest_error: float | None = None
    cron: str = ""

    @property
    def changed(self) -> bool:
        return self.replicas != self.current

    def to_json(self) -> dict[str, object]:
        return {
            "replicas": self.replicas,
            "current": self.current,
            "basis": self.basis.value,
            "reason": self.reason,
            "wanted": self.wanted,
            "expected_load": None if self.expected_load is None else round(self.expected_load, 6),
            "backtest_error": None if self.backtest_error is None else round(self.backtest_error, 4),
            "cron": self.cron,
        }


def needed(load: float, target: float) -> int:
    """Replicas for ``load`` at ``target`` per replica (a hair of tolerance for float noise)."""
    return max(0, math.ceil(load / target - 1e-9))


def expected_load(forecast: Forecast, now: datetime, lead_seconds: int) -> float:
    """The forecast's highest value from now to now + lead (the first value when the window is empty)."""
    t = forecast.timestamps
    start = epoch(now)
    inside = (t + forecast.step > start) & (t <= start + lead_seconds)
    values = forecast.values[inside] if inside.any() else forecast.values[:1]
    return float(np.max(values))


def temporary_hold(annotations: dict[str, str], now: datetime) -> str:
    """Why the replicas are held (an operator's temporary scale in force), or "" when they are not.

    The webhook keeps the temporary replicas until the annotation expires: scaling meanwhile
    would only be undone, so a round changes nothing then. A malformed annotation holds nothing
    (the webhook ignores it too).
    """
    text = annotations.get(TEMPORARY_REPLICAS)
    if text is None:
        return ""
    try:
        temporary = parse_temporary_replicas(text)
    except ControlError:
        return ""
    if not temporary.active(now):
        return ""
    return f"a temporary scale to {temporary.replicas} holds until {temporary.until.isoformat()}"


def decide(
    policy: Policy, now: datetime, situation: Situation, forecast: Forecast | CannotForecast
) -> Decision:
    """The replicas (or HPA minReplicas) to set this round, and why."""
    error: float | None = None
    expected: float | None = None
    if isinstance(forecast, CannotForecast):
        basis, reason = Basis.REACTIVE, f"{forecast}; reacting to the load seen now"
    elif forecast.backtest_error > policy.max_error:
        basis, error = Basis.REACTIVE, forecast.backtest_error
        reason = (
            f"backtest error {error:.1%} is above the threshold {policy.max_error:.1%}; "
            "reacting to the load seen now"
        )
    else:
        basis, error = Basis.FORECAST, forecast.backtest_error
        expected = expected_load(forecast, now, policy.lead_seconds)
        reason = (
            f"forecast load {expected:.4g} within the next {policy.lead_seconds // 60} min "
            f"(backtest error {error:.1%})"
        )
    observed = None if situation.load is None else needed(situation.load, policy.target)
    if basis is Basis.FORECAST:
        assert expected is not None
        wanted = needed(expected, policy.target)
        # The forecast never removes replicas the load already uses.
        if observed is not None:
            wanted = max(wanted, observed)
    elif policy.mode is Mode.HPA_MIN:
        wanted = situation.hpa_min if situation.hpa_min is not None else situation.current
        reason += " (the HPA's own minReplicas is restored; the HPA reacts)"
    else:
        wanted = situation.current if observed is None else observed
    cron = next((c for c in policy.crons if c.active(now)), None)
    if cron is not None and cron.replicas > wanted:
        wanted = cron.replicas
        reason += f"; cron window {cron} holds at least {cron.replicas}"
    low, high = policy.min_replicas, policy.max_replicas
    if policy.mode is Mode.HPA_MIN:
        if situation.hpa_min is not None:
            low = max(low, situation.hpa_min)
        if situation.hpa_max is not None:
            high = min(high, situation.hpa_max)
        low = min(low, high)
    bounded = min(max(wanted, low), high)
    if bounded != wanted:
        reason += f"; bounded to {low}..{high}"
    step = max(-policy.max_step, min(policy.max_step, bounded - situation.current))
    replicas = situation.current + step
    if replicas != bounded:
        reason += f"; at most {policy.max_step} per round"
    return Decision(
        replicas=replicas,
        current=situation.current,
        basis=basis,
        reason=reason,
        wanted=wanted,
        expected_load=expected,
        backtest_error=error,
        cron=str(cron) if cron is not None else "",
    )
