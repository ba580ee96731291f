"""Predictive replicas end to end: a real daily trace, the real store (SQLite and PostgreSQL), the real
control service, the in-memory cluster; rounds every 15 minutes through one day of the trace.

The trace is Crane's ``input1`` (crane_daily): a sharp peak around 11:00-12:00 every day. As
CPU cores it is 1 + 8 × the normalised trace; one replica carries one core. Day 12 is
replayed, so the forecast has 12 days of history.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from kubecap.control.service import ControlService
from kubecap.domain.audit import AuditFilter
from kubecap.domain.control import TEMPORARY_REPLICAS
from kubecap.domain.workload import WorkloadRef
from kubecap.predict import Basis, Mode, Policy, PolicyService, PredictController
from kubecap.store import Store
from kubecap.testing.cluster import InMemoryCluster
from kubecap.testing.load import TraceLoad
from kubecap.wiring import PredictControlTable

ORIGIN = datetime(2026, 11, 1, tzinfo=UTC)
DAY12 = ORIGIN + timedelta(days=12)
LOAD = TraceLoad("crane_daily", ORIGIN, scale=8.0, offset=1.0)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class Tick:
    at: datetime
    replicas: int
    basis: Basis
    reason: str
    load_needs: int


def setup(hpa: bool = False) -> tuple[InMemoryCluster, WorkloadRef]:
    cluster = InMemoryCluster()
    ref = cluster.add_workload("shop", "web", replicas=1)
    if hpa:
        cluster.add_hpa("shop", "web", ref, 2, 20)
    return cluster, ref


def policy(ref: WorkloadRef, **changes: object) -> Policy:
    base = Policy(
        ref, target=1.0, min_replicas=1, max_replicas=12, max_step=3, lead_seconds=3600, max_error=1.0
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def replay(
    store: Store,
    cluster: InMemoryCluster,
    wanted: Policy,
    read: Callable[[], int],
    *,
    start: datetime = DAY12 + timedelta(hours=6),
    hours: int = 10,
) -> list[Tick]:
    await PolicyService(store).set(wanted, actor="alice")
    clock = Clock(start)
    controller = PredictController(
        store, {cluster.name: cluster}, LOAD, PredictControlTable(store), clock=clock
    )
    ticks = []
    while clock.now < start + timedelta(hours=hours):
        report = await controller.run_round()
        (outcome,) = report.outcomes
        assert outcome.decision is not None, outcome.error
        seen = await LOAD.load(wanted, clock.now - timedelta(minutes=1), clock.now, 300)
        needs = int(-(-float(seen.values[-1]) // 1))
        ticks.append(Tick(clock.now, read(), outcome.decision.basis, outcome.decision.reason, needs))
        clock.now += timedelta(minutes=15)
    return ticks


def at(ticks: list[Tick], hour: int, minute: int = 0) -> Tick:
    return next(t for t in ticks if (t.at.hour, t.at.minute) == (hour, minute))


def check_ahead_and_back(ticks: list[Tick], low: int) -> None:
    assert all(t.basis is Basis.FORECAST for t in ticks)
    assert at(ticks, 7).replicas <= 3
    # Up before the peak: 7 or more replicas while the load seen still needs at most 2.
    first_high = next(t for t in ticks if t.replicas >= 7)
    assert first_high.at < DAY12 + timedelta(hours=11)
    assert first_high.load_needs <= 2
    # Through the peak (11:00-12:00) never fewer replicas than the load seen needs.
    peak = [t for t in ticks if 11 <= t.at.hour < 12]
    assert all(t.replicas >= t.load_needs for t in peak)
    # Back down after it.
    assert at(ticks, 15, 45).replicas == low
    steps = [abs(b.replicas - a.replicas) for a, b in itertools.pairwise(ticks)]
    assert max(steps) <= 3


async def test_control_table_mode_raises_replicas_before_the_peak_and_lowers_them_after(store: Store) -> None:
    cluster, ref = setup()
    ticks = await replay(store, cluster, policy(ref), lambda: cluster.workloads[ref].replicas or 0)
    check_ahead_and_back(ticks, low=2)
    spec = await ControlService(store).spec(ref)
    assert spec.replicas == ticks[-1].replicas
    changes = await store.audit_events(AuditFilter(action="predict.control-table"))
    assert changes and all(e.actor == "predict" and e.target == str(ref) for e in changes)
    assert len(await store.audit_events(AuditFilter(action="control.set"))) == len(changes)
    assert len(cluster.calls_for("scale")) == len(changes)


async def test_hpa_min_mode_raises_min_replicas_before_the_peak_and_restores_it_after(store: Store) -> None:
    cluster, ref = setup(hpa=True)
    ticks = await replay(store, cluster, policy(ref, mode=Mode.HPA_MIN), lambda: cluster.hpas[0].min_replicas)
    check_ahead_and_back(ticks, low=2)
    assert cluster.calls_for("scale") == []  # the HPA scales; kubecap only moves its floor
    assert cluster.hpas[0].max_replicas == 20
    (record,) = await store.predict_policies()
    assert "hpa_min" not in record.state  # restored: nothing left to remember
    assert await store.audit_events(AuditFilter(action="predict.hpa-min"))


async def test_a_high_backtest_error_falls_back_to_reactive(store: Store) -> None:
    cluster, ref = setup(hpa=True)
    ticks = await replay(
        store, cluster, policy(ref, mode=Mode.HPA_MIN, max_error=0.2), lambda: cluster.hpas[0].min_replicas
    )
    assert all(t.basis is Basis.REACTIVE and "above the threshold 20.0%" in t.reason for t in ticks)
    assert cluster.calls_for("set_hpa_min_replicas") == []  # the HPA's own minimum stays
    cluster2, ref2 = setup()
    ticks = await replay(
        store, cluster2, policy(ref2, max_error=0.2), lambda: cluster2.workloads[ref2].replicas or 0
    )
    # Reactive: replicas follow the load seen (within the step limit), never ahead of it.
    assert all(t.replicas <= max(t.load_needs, 2) for t in ticks[1:])


async def test_a_series_too_short_cannot_be_forecast_and_reacts(store: Store) -> None:
    cluster, ref = setup()
    ticks = await replay(
        store,
        cluster,
        policy(ref),
        lambda: cluster.workloads[ref].replicas or 0,
        start=ORIGIN + timedelta(days=1, hours=10),
        hours=2,
    )
    assert all(t.basis is Basis.REACTIVE for t in ticks)
    assert all("cannot forecast" in t.reason and "at least 3d are needed" in t.reason for t in ticks)
    # Reactive: the replicas the load seen needs, at most 3 more or fewer per round, from 1.
    expected, current = [], 1
    for t in ticks:
        current += max(-3, min(3, max(t.load_needs, 1) - current))
        expected.append(current)
    assert [t.replicas for t in ticks] == expected


async def test_guardrails_bound_replicas_and_steps(store: Store) -> None:
    cluster, ref = setup()
    ticks = await replay(
        store, cluster, policy(ref, max_replicas=5, max_step=1), lambda: cluster.workloads[ref].replicas or 0
    )
    assert max(t.replicas for t in ticks) == 5
    assert all(abs(b.replicas - a.replicas) <= 1 for a, b in itertools.pairwise(ticks))
    assert any("bounded to 1..5" in t.reason for t in ticks)


async def test_preview_only_records_what_it_would_do(store: Store) -> None:
    cluster, ref = setup()
    ticks = await replay(
        store, cluster, policy(ref, preview=True), lambda: cluster.workloads[ref].replicas or 0
    )
    assert {t.replicas for t in ticks} == {1}
    assert cluster.calls == []
    assert await store.control_spec(ref) is None
    previews = await store.audit_events(AuditFilter(action="predict.preview"))
    assert previews and all(e.after is not None and e.after["replicas"] > 1 for e in previews)
    (record,) = await store.predict_policies()
    assert record.state["preview"] is True and record.state["last"]["replicas"] >= 1


async def test_control_table_mode_refuses_a_workload_an_hpa_scales(store: Store) -> None:
    cluster, ref = setup(hpa=True)
    await PolicyService(store).set(policy(ref), actor="alice")
    clock = Clock(DAY12 + timedelta(hours=10))
    controller = PredictController(
        store, {cluster.name: cluster}, LOAD, PredictControlTable(store), clock=clock
    )
    (outcome,) = (await controller.run_round()).outcomes
    assert (
        outcome.decision is None
        and "is scaled by HPA 'web'" in outcome.error
        and "--mode hpa-min" in outcome.error
    )
    assert cluster.calls == []
    (failed,) = await store.audit_events(AuditFilter(action="predict.round"))
    assert failed.result.value == "failed" and failed.message == outcome.error
    (record,) = await store.predict_policies()
    assert record.state["error"] == outcome.error


async def test_a_lagging_webhook_is_caught_up_without_a_second_table_change(store: Store) -> None:
    cluster, ref = setup()
    await PolicyService(store).set(policy(ref, max_step=20), actor="alice")
    clock = Clock(DAY12 + timedelta(hours=10, minutes=15))
    controller = PredictController(
        store, {cluster.name: cluster}, LOAD, PredictControlTable(store), clock=clock
    )
    (first,) = (await controller.run_round()).outcomes
    assert first.decision is not None and first.applied
    wanted = first.decision.replicas
    await cluster.scale(ref, 1)  # a webhook with a stale snapshot put the old count back
    clock.now += timedelta(minutes=1)
    (second,) = (await controller.run_round()).outcomes
    assert second.decision is not None and not second.decision.changed and not second.applied
    assert cluster.workloads[ref].replicas == wanted
    assert len(await store.audit_events(AuditFilter(action="control.set"))) == 1


async def test_an_operators_temporary_scale_holds_the_replicas_until_it_expires(store: Store) -> None:
    cluster, ref = setup()
    await PolicyService(store).set(policy(ref, max_step=20), actor="alice")
    clock = Clock(DAY12 + timedelta(hours=10, minutes=15))
    until = clock.now + timedelta(minutes=30)
    cluster.annotate_workload(ref, {TEMPORARY_REPLICAS: f"12@{until.isoformat()}"})
    controller = PredictController(
        store, {cluster.name: cluster}, LOAD, PredictControlTable(store), clock=clock
    )
    (held,) = (await controller.run_round()).outcomes
    assert held.decision is not None and not held.decision.changed and not held.applied
    assert "a temporary scale to 12 holds until" in held.decision.reason
    assert cluster.calls == [] and await store.control_spec(ref) is None
    clock.now = until  # expired: the forecast applies again
    (after,) = (await controller.run_round()).outcomes
    assert (
        after.decision is not None
        and after.applied
        and cluster.workloads[ref].replicas == after.decision.replicas
    )
