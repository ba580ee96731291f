"""The trace-driven simulator and the extender's assumptions (which the simulator runs as the server does)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from kubecap.scheduling.decide import Decider
from kubecap.scheduling.load import Figure, LoadSnapshot, NodeLoad, RecentBinding, ResourceLoad
from kubecap.scheduling.pods import PodInfo
from kubecap.scheduling.policy import LoadPolicy
from kubecap.scheduling.taint_policy import TaintPolicy
from kubecap.simulate.scheduling.engine import simulate
from kubecap.simulate.scheduling.policies import LeastAllocated, LoadAware
from kubecap.simulate.scheduling.shapes import CPU_SERIES, MEMORY_SERIES, Shapes, shapes_from, to_minutes
from kubecap.simulate.scheduling.workload import Scenario, generate
from kubecap.simulate.trace_files import TraceSeries, default_folder, load_series

NOW = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)


def _idle(nodes: int) -> LoadSnapshot:
    at = NOW - timedelta(seconds=30)
    figure = Figure(0.2, at)
    loads = {
        f"n{i}": NodeLoad(
            f"n{i}", ResourceLoad(figure, figure, figure), ResourceLoad(figure, figure, figure), 8.0, 2**35
        )
        for i in range(nodes)
    }
    return LoadSnapshot(taken_at=NOW, nodes=loads)


def test_a_burst_of_replicas_is_spread_by_the_assumptions() -> None:
    decider = Decider(LoadPolicy())
    snapshot = _idle(4)
    decider.refresh(snapshot, NOW)
    names = [f"n{i}" for i in range(4)]
    favourites: list[str | None] = []
    for replica in range(4):
        pod = PodInfo("shop", f"web-{replica}", cpu_request=1.0, cpu_limit=2.0, memory_request=2**30)
        favourites.append(decider.prioritize(pod, names).favourite)
    assert (
        sorted(f or "" for f in favourites) == names
    )  # each replica counted where it went: the next one goes elsewhere
    without = Decider(LoadPolicy(assume_for=timedelta(0)))
    without.refresh(snapshot, NOW)
    pods = [PodInfo("shop", f"web-{r}", cpu_request=1.0, memory_request=2**30) for r in range(4)]
    assert {without.prioritize(p, names).favourite for p in pods} == {"n0"}  # all on the first coolest node


def test_assumptions_end_when_metrics_show_the_pod_or_after_their_time() -> None:
    decider = Decider(LoadPolicy())
    decider.refresh(_idle(2), NOW)
    decider.prioritize(PodInfo("shop", "web-0", cpu_request=1.0), ["n0", "n1"])
    decider.prioritize(PodInfo("shop", "web-1", cpu_request=1.0), ["n0", "n1"])
    assert len(decider.assumptions) == 2
    shown = LoadSnapshot(
        taken_at=NOW,
        nodes=_idle(2).nodes,
        recent={"n1": (RecentBinding("n1", "shop/web-0", NOW, 0.85, 0.0),)},
    )
    decider.refresh(shown, NOW + timedelta(seconds=5))
    assert len(decider.assumptions) == 1  # web-0 is in kube-state-metrics now (on n1, not where we guessed)
    decider.refresh(shown, NOW + timedelta(minutes=3))
    assert len(decider.assumptions) == 0


def test_shapes_keep_whole_days_and_put_the_quantile_at_one() -> None:
    day = 86_400
    times = np.arange(day // 2, 3 * day + day // 2, 300, dtype=np.int64)  # starts and ends mid-day
    values = 10.0 + (times % day) / day  # a daily ramp 10 → 11
    minutes = to_minutes(TraceSeries("ramp", times, values, 300), cap=1.5, quantile=0.95)
    assert minutes is not None and len(minutes) == 2 * 1440  # the two whole days between
    assert float(np.quantile(minutes, 0.95)) == pytest.approx(1.0, abs=1e-3)
    assert minutes[0] < minutes[1439]  # minute 0 is midnight, the low of the ramp
    assert to_minutes(TraceSeries("short", times[:100], values[:100], 300), cap=1.5, quantile=0.95) is None


@pytest.fixture(scope="module")
def shapes() -> tuple[Shapes, Shapes]:
    series = load_series(default_folder(Path(__file__).resolve()))
    return shapes_from(series, CPU_SERIES), shapes_from(series, MEMORY_SERIES)


def test_the_same_seed_gives_the_same_run_and_every_pod_is_accounted_for(
    shapes: tuple[Shapes, Shapes],
) -> None:
    cpu, memory = shapes
    scenario = Scenario(nodes=8, days=1.0, warmup_days=0.25, seed=3)
    pods = generate(scenario, cpu, memory)
    assert np.all(np.diff(pods.arrival) >= 0)
    first = simulate(scenario, pods, cpu, memory, LoadAware())
    second = simulate(scenario, generate(scenario, cpu, memory), cpu, memory, LoadAware())
    assert {k: v for k, v in first.as_dict().items() if k != "seconds"} == {
        k: v for k, v in second.as_dict().items() if k != "seconds"
    }
    assert first.pods_placed + first.pods_not_placed == len(pods)
    assert 0 < first.mean_utilisation < first.highest_utilisation <= 1.0


def test_the_taint_controller_in_the_simulation_respects_the_cap_and_never_flaps(
    shapes: tuple[Shapes, Shapes],
) -> None:
    cpu, memory = shapes
    # A crowded cluster: requests fill it and usage runs hot, so the controller has work to do.
    scenario = Scenario(nodes=10, days=1.0, warmup_days=0.25, request_share=1.0, usage_median=1.2, seed=5)
    pods = generate(scenario, cpu, memory)
    policy = TaintPolicy(high=0.8, low=0.6, high_for=timedelta(minutes=5), max_share=0.3)
    figures = simulate(scenario, pods, cpu, memory, LeastAllocated(), taints=policy)
    assert figures.taint_changes > 0
    assert figures.most_tainted <= 3
    assert figures.taint_flaps == 0
