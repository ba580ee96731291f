"""The pure parts of predictive replicas: the policy's validation and one round's decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.forecast import CannotForecast, Forecast, Reason
from kubecap.predict import (
    Basis,
    CronWindow,
    Mode,
    Policy,
    PolicyError,
    Signal,
    Situation,
    decide,
    parse_cron_window,
)

REF = WorkloadRef("prod", "shop", WorkloadKind.DEPLOYMENT, "web")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def flat_then_peak(error: float = 0.1) -> Forecast:
    """Load 2 for the first hour after now, 9.5 in the second hour, 2 after (5-minute steps)."""
    values = np.full(288, 2.0)
    values[12:24] = 9.5
    return Forecast(
        name="web",
        start=NOW.timestamp(),
        step=300,
        values=values,
        lower=values * 0.9,
        upper=values * 1.1,
        coverage=0.9,
        period=None,
        members=(),
        backtest_error=error,
        backtest_origins=3,
        history_start=(NOW - timedelta(days=7)).timestamp(),
    )


def policy(**changes: object) -> Policy:
    fields: dict[str, object] = {"target": 1.0, "max_replicas": 20, "max_step": 20, "lead_seconds": 3600}
    fields.update(changes)
    return Policy(REF, **fields).validate()  # type: ignore[arg-type]


def test_replicas_cover_the_highest_forecast_within_the_lead_time() -> None:
    d = decide(policy(), NOW, Situation(2, 2.0), flat_then_peak())
    assert (d.basis, d.wanted, d.replicas) == (Basis.FORECAST, 10, 10)  # 9.5 at +60 min is inside the lead
    short = decide(policy(lead_seconds=1800), NOW, Situation(2, 2.0), flat_then_peak())
    assert short.replicas == 2  # the peak is beyond 30 minutes: not yet


def test_the_forecast_never_removes_replicas_the_load_already_uses() -> None:
    assert decide(policy(lead_seconds=1800), NOW, Situation(6, 5.5), flat_then_peak()).replicas == 6


def test_bounds_then_step_limit() -> None:
    d = decide(policy(max_replicas=8, max_step=3), NOW, Situation(2, 2.0), flat_then_peak())
    assert (d.wanted, d.replicas) == (10, 5)
    assert "bounded to 1..8" in d.reason and "at most 3 per round" in d.reason
    floor = decide(policy(min_replicas=4, lead_seconds=0), NOW, Situation(4, 0.5), flat_then_peak())
    assert floor.replicas == 4


def test_a_high_backtest_error_reacts_to_the_load_seen() -> None:
    d = decide(policy(max_error=0.2), NOW, Situation(3, 4.2), flat_then_peak(error=0.35))
    assert (d.basis, d.replicas) == (Basis.REACTIVE, 5)
    assert d.reason.startswith("backtest error 35.0% is above the threshold 20.0%")


def test_cannot_forecast_reacts_and_says_why() -> None:
    failure = CannotForecast("web", Reason.TOO_SHORT, "it holds 1d of history; at least 3d are needed")
    d = decide(policy(), NOW, Situation(3, 1.5), failure)
    assert d.basis is Basis.REACTIVE and d.replicas == 2
    assert d.reason.startswith("cannot forecast series 'web': it holds 1d")
    assert decide(policy(), NOW, Situation(3, None), failure).replicas == 3  # no load seen: keep


def test_hpa_min_mode_stays_within_the_hpas_own_bounds_and_restores_on_fallback() -> None:
    hpa = Situation(2, 2.0, hpa_min=2, hpa_max=6)
    assert decide(policy(mode=Mode.HPA_MIN), NOW, hpa, flat_then_peak()).replicas == 6
    raised = Situation(6, 2.0, hpa_min=2, hpa_max=6)
    fallback = decide(policy(mode=Mode.HPA_MIN, max_error=0.05), NOW, raised, flat_then_peak())
    assert (fallback.basis, fallback.replicas) == (Basis.REACTIVE, 2)
    assert "HPA's own minReplicas is restored" in fallback.reason


def test_a_cron_window_holds_its_replicas() -> None:
    cron = CronWindow("0 8 * * *", "0 10 * * *", 12)
    d = decide(policy(crons=(cron,), lead_seconds=0), NOW, Situation(2, 2.0), flat_then_peak())
    assert (d.replicas, d.cron) == (12, str(cron))
    later = decide(
        policy(crons=(cron,), lead_seconds=0), NOW + timedelta(hours=2), Situation(2, 2.0), flat_then_peak()
    )
    assert later.replicas == 2 and later.cron == ""


def test_cron_windows_are_parsed_from_one_string() -> None:
    w = parse_cron_window("0 9 * * 1-5..0 18 * * 1-5=6@Europe/Paris")
    assert w == CronWindow("0 9 * * 1-5", "0 18 * * 1-5", 6, "Europe/Paris")
    assert w.active(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))  # a Tuesday, 13:00 in Paris
    assert not w.active(datetime(2026, 12, 5, 12, 0, tzinfo=UTC))  # a Saturday


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 9 * *..0 18 * * *=3", "is not a cron expression"),
        ("0 9 * * *-0 18 * * *=3", "is not START..END=REPLICAS"),
        ("0 9 * * *..0 18 * * *=many", "is not a whole number"),
        ("0 9 * * *..0 18 * * *=3@Mars/Olympus", "Mars/Olympus"),
    ],
)
def test_bad_cron_windows_are_refused_in_one_sentence(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message) as caught:
        parse_cron_window(text)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"target": 0.0}, "must be a positive number"),
        ({"min_replicas": 5, "max_replicas": 2}, "0 <= min <= max"),
        ({"max_step": 0}, "at least 1 replica"),
        ({"lead_seconds": 90_000}, "within 0s..24h"),
        ({"max_error": 0.0}, "must be positive"),
        ({"signal": Signal.PROMQL}, "needs an expression"),
        ({"promql": "up"}, "only used with --signal promql"),
    ],
)
def test_bad_policies_are_refused_in_one_sentence(changes: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        policy(**changes)


def test_daemonsets_cannot_opt_in() -> None:
    with pytest.raises(PolicyError, match="Deployments and StatefulSets"):
        Policy(WorkloadRef("prod", "kube-system", WorkloadKind.DAEMONSET, "agent"), target=1.0).validate()


def test_a_policy_survives_its_json() -> None:
    p = policy(
        mode=Mode.HPA_MIN, crons=(CronWindow("0 8 * * *", "0 10 * * *", 12, "Asia/Shanghai"),), preview=True
    )
    assert Policy.from_json(REF, p.to_json()) == p
