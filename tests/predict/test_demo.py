"""Predictive replicas in `kubecap demo`: the load comes from the simulated cluster (real traces),
the decisions act on the demo's in-memory cluster through the control table, as in serve.

shop/cart follows Crane's daily trace (``crane_daily``, 80m..700m per pod, three pods) shifted
so that its peak falls around 10:00-12:00 in the cluster's zone (Asia/Shanghai). Rounds are
replayed every 30 minutes through a morning with the real store and control service; the
simulation is the one the demo collects (same scenario, generator and rate rules).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from kubecap import wiring
from kubecap.cli.demo import demo_policy
from kubecap.config import Settings, load_settings
from kubecap.control.service import ControlService
from kubecap.domain.audit import AuditFilter, AuditResult
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.metrics.prometheus import PrometheusClient, PrometheusOptions
from kubecap.metrics.sim_load import range_points, workload_cpu, workload_index
from kubecap.metrics.sim_traces import load_trace
from kubecap.metrics.simulated import SimulatedSource
from kubecap.predict import Basis, Policy, PolicyService, Signal
from kubecap.predict.prometheus import PrometheusLoad
from kubecap.store import Store
from kubecap.testing.load import SimulatedLoad
from kubecap.testing.scenario_cluster import scenario_cluster
from tests.e2e.conftest import SimulatedPrometheus

ZONE = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 11, 20, tzinfo=ZONE)
CART = WorkloadRef("demo", "shop", WorkloadKind.DEPLOYMENT, "cart")
CHECKOUT = WorkloadRef("demo", "shop", WorkloadKind.DEPLOYMENT, "checkout")


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def demo_settings() -> Settings:
    return load_settings(None, clusters=[wiring.demo_cluster()])


def needs(load: float, target: float) -> int:
    return int(np.ceil(load / target - 1e-9))


async def test_the_load_is_the_cores_of_the_workloads_pods_following_its_trace() -> None:
    scenario = wiring.scenario(wiring.DEMO_SCENARIO)
    end = DAY + timedelta(hours=23)
    series = await SimulatedLoad(scenario).load(demo_policy("demo"), end - timedelta(days=14), end, 300)
    # A range query's answer: every 5 minutes over the 14 days, nothing missing.
    assert series.values.size == 14 * 288 + 1
    assert np.all(np.diff(series.timestamps) == 300)
    # The scenario's own model: 3 pods × (80m + 620m × trace), the trace 1 h early on the local clock.
    (_, cart), *_ = [(n, w) for n, ws in scenario.namespaces.items() for w in ws if w.name == "cart"]
    usage = cart.containers[0].cpu
    trace = load_trace("crane_daily")
    # As sim_generate replays it: seconds since the period's first local midnight (no DST in Shanghai).
    position = series.timestamps - scenario.period(end)[0].timestamp()
    q = np.mod(position - usage.offset - trace.start_second_of_day, trace.seconds) / trace.step
    assert usage.low is not None and usage.high is not None
    shape = usage.low + (usage.high - usage.low) * trace.values[np.floor(q).astype(int) % trace.values.size]
    expected = 3 * shape
    # Noise (6%) and pod spread (±12%) around it: same shape, same level.
    assert np.corrcoef(series.values, expected)[0, 1] > 0.95
    assert 0.85 < series.values.mean() / expected.mean() < 1.15


def test_the_sum_over_pods_counts_every_pod_through_a_rollout() -> None:
    """Each pod's rate is the one the collected figures take (sim_profile.rate); old and new pods sum."""
    scenario = wiring.scenario(wiring.DEMO_SCENARIO)
    end = DAY + timedelta(days=3, hours=12)  # shop/frontend rolls out 3 days before the end, at 10:40
    data = SimulatedSource(scenario, now=end).data()
    frontend = workload_index(data, "shop", WorkloadKind.DEPLOYMENT, "frontend")
    assert frontend is not None
    assert workload_index(data, "shop", WorkloadKind.DEPLOYMENT, "nothing") is None
    assert sum(p.workload == frontend for p in data.pods) == 8  # two ReplicaSets of 4 pods
    rollout = (DAY + timedelta(hours=10, minutes=40)).timestamp()
    points = range_points(rollout - 1800, rollout + 1800, 60)
    times, cores = workload_cpu(data, frontend, points)
    assert np.array_equal(times, points)
    # The new pods take over from the old ones (45 s of overlap each): no drop, no double count.
    assert np.max(np.abs(np.diff(cores)) / cores[1:]) < 0.15
    # Before the simulated period there is nothing: those points are left out.
    early = range_points(data.times[0] - 3600, data.times[0] + 600, 300)
    assert workload_cpu(data, frontend, early)[0].min() > data.times[0]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_cart_is_raised_ahead_of_its_simulated_daily_peak_through_the_control_table(
    store: Store,
) -> None:
    settings = demo_settings()
    policy = replace(demo_policy("demo"), preview=False)
    await PolicyService(store).set(policy, actor="alice")
    cluster = scenario_cluster(wiring.scenario(wiring.DEMO_SCENARIO))
    loads = wiring.demo_load(settings)
    load = loads["demo"]
    clock = Clock(DAY + timedelta(hours=7))
    ticks = []
    while clock.now <= DAY + timedelta(hours=14):
        report = await wiring.predict_round(settings, store, {"demo": cluster}, clock=clock, loads=loads)
        (outcome,) = report.outcomes
        assert outcome.decision is not None, outcome.error
        assert outcome.decision.basis is Basis.FORECAST, outcome.decision.reason
        seen = await load.load(policy, clock.now - timedelta(minutes=5), clock.now, 300)
        ticks.append((clock.now, cluster.workloads[CART].replicas or 0, needs(float(seen.values[-1]), 0.5)))
        clock.now += timedelta(minutes=30)
    peak = max(ticks, key=lambda t: t[2])
    assert 10 <= peak[0].hour < 12 and peak[2] >= 3
    # Ahead of the peak: raised to what the peak needs while the load seen still needs at most 2.
    ahead = next(t for t in ticks if t[1] >= peak[2])
    assert ahead[0] < peak[0] and ahead[2] <= 2
    assert all(replicas >= seen for at, replicas, seen in ticks if 10 <= at.hour < 12)
    # And back down once it is over.
    assert ticks[-1][1] <= 2
    # Through the control table, as in serve: the spec holds the replicas, each change audited.
    assert (await ControlService(store).spec(CART)).replicas == ticks[-1][1]
    changes = await store.audit_events(AuditFilter(action="predict.control-table"))
    assert changes and len(await store.audit_events(AuditFilter(action="control.set"))) == len(changes)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_demo_policy_previews_a_decision_and_a_promql_policy_fails_alone(store: Store) -> None:
    settings = demo_settings()
    await PolicyService(store).set(demo_policy("demo"), actor="demo")
    promql = replace(demo_policy("demo"), ref=CHECKOUT, signal=Signal.PROMQL, promql="sum(up)")
    await PolicyService(store).set(promql, actor="alice")
    cluster = scenario_cluster(wiring.scenario(wiring.DEMO_SCENARIO))
    clock = Clock(DAY + timedelta(hours=9))
    report = await wiring.predict_round(
        settings, store, {"demo": cluster}, clock=clock, loads=wiring.demo_load(settings)
    )
    outcomes = {o.ref: o for o in report.outcomes}
    cart = outcomes[CART]
    assert cart.decision is not None and cart.preview and not cart.applied and not cart.error
    # 09:00, an hour before the peak, after a quiet night: 3 replicas are more than the forecast needs.
    assert cart.decision.basis is Basis.FORECAST and cart.decision.reason.startswith("forecast load 0.8")
    assert (cart.decision.current, cart.decision.replicas) == (3, 2)
    assert cluster.workloads[CART].replicas == 3 and not cluster.calls_for("scale")
    assert outcomes[CHECKOUT].decision is None
    assert outcomes[CHECKOUT].error == (
        "demo/shop/Deployment/checkout reads its load with PromQL, but the simulated cluster 'demo' of the "
        "demo has no Prometheus to run it: use --signal cpu (its pods' CPU cores, simulated)"
    )
    failed = await store.audit_events(AuditFilter(action="predict.round"))
    assert [(e.target, e.result) for e in failed] == [(str(CHECKOUT), AuditResult.FAILED)]
    assert [e.target for e in await store.audit_events(AuditFilter(action="predict.preview"))] == [str(CART)]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_outside_the_demo_a_cluster_without_prometheus_still_fails_as_before(store: Store) -> None:
    settings = demo_settings()
    await PolicyService(store).set(demo_policy("demo"), actor="alice")
    cluster = scenario_cluster(wiring.scenario(wiring.DEMO_SCENARIO))
    report = await wiring.predict_round(settings, store, {"demo": cluster}, clock=Clock(DAY))
    (outcome,) = report.outcomes
    assert outcome.decision is None and "has no Prometheus to read its load from" in outcome.error


@pytest.mark.parametrize(
    "ref",
    [
        WorkloadRef("contract", "shop", WorkloadKind.DEPLOYMENT, "web"),  # rolled out on the last day
        WorkloadRef("contract", "shop", WorkloadKind.STATEFULSET, "db"),
    ],
)
async def test_the_simulated_load_is_what_the_cpu_query_returns_from_the_same_samples_in_prometheus(
    simulated_prometheus: SimulatedPrometheus, ref: WorkloadRef
) -> None:
    """The contract scenario backfilled into a real Prometheus: `PrometheusLoad`'s CPU query over
    those samples and `SimulatedLoad` over the simulation give the same series."""
    scenario = simulated_prometheus.contract
    start, end = scenario.period()
    policy = Policy(ref, target=1.0)
    begin = start + timedelta(hours=1)
    simulated = await SimulatedLoad(scenario).load(policy, begin, end, 300)
    async with PrometheusClient(PrometheusOptions(url=simulated_prometheus.url, retries=0)) as client:
        real = await PrometheusLoad(client, {"cluster": "contract"}).load(policy, begin, end, 300)
    assert simulated.values.size == real.values.size > 800
    assert np.array_equal(simulated.timestamps, real.timestamps)
    assert np.allclose(simulated.values, real.values, rtol=1e-6, atol=1e-9)
