"""Replica advice against hand-computed counts."""

from __future__ import annotations

from typing import Any

import numpy as np

from kubecap.domain.hpa import HpaInfo, HpaMetric
from kubecap.domain.recommendation import ReplicaAdvice
from kubecap.domain.usage import UsageProfile
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.recommend.engine import current_resources
from kubecap.recommend.replicas import replica_advice
from kubecap.recommend.settings import EngineSettings

from .builders import days_of, flat, history, ref


def two_container_workload(replicas_min: float = 4.0) -> list[UsageProfile]:
    app = [
        {**flat(0.3), "cpu_p50": 0.1, "cpu_request": 0.5, "replicas_avg": 4.0, "replicas_min": replicas_min}
    ]
    proxy = [
        {**flat(0.1), "cpu_p50": 0.05, "cpu_request": 0.2, "replicas_avg": 4.0, "replicas_min": replicas_min}
    ]
    return days_of(ref(), "app", app * 3) + days_of(ref(), "proxy", proxy * 3)


def advise(rows: list[UsageProfile], **settings: Any) -> dict[WorkloadRef, ReplicaAdvice]:
    h = history(rows)
    current = current_resources(h)
    return replica_advice(h, current.cpu_request, current.cpu_request, {}, EngineSettings(**settings))


def test_replicas_are_peak_total_over_request_times_target() -> None:
    advice = advise(two_container_workload())[ref()]
    # Peak total (0.3 + 0.1) × 4 = 1.6 cores; per pod 700m at 60 %: 1.6 / 0.42 = 3.8 → 4.
    assert advice.replicas == 4 and advice.current == 4.0
    assert advice.explanation == "peak total CPU 1600m on 2026-11-01 at 60% of 700m per pod needs 4"


def test_never_below_the_fewest_replicas_seen_unless_asked() -> None:
    advice = advise(two_container_workload(replicas_min=6.0))[ref()]
    assert advice.replicas == 6
    assert "kept at 6, the fewest it ran with" in advice.explanation
    assert advise(two_container_workload(replicas_min=6.0), below_observed_minimum=True)[ref()].replicas == 4


def test_bounds_apply() -> None:
    assert advise(two_container_workload(replicas_min=1.0), max_replicas=3)[ref()].replicas == 3
    assert advise(two_container_workload(replicas_min=1.0), target_utilization=1.0)[ref()].replicas == 3


def test_daemonsets_get_no_advice() -> None:
    rows = days_of(ref("agent", WorkloadKind.DAEMONSET), "agent", [flat(0.1)] * 3)
    assert advise(rows) == {}


def test_hpa_min_max_from_the_quiet_median_and_the_peak() -> None:
    h = history(two_container_workload())
    hpa = HpaInfo(ref(), "web", 1, 20, frozenset({HpaMetric.CPU, HpaMetric.OTHER}))
    current = current_resources(h)
    advice = replica_advice(h, current.cpu_request, current.cpu_request, {ref(): hpa}, EngineSettings())[
        ref()
    ]
    # max: 1.6 × 1.2 / 0.42 = 4.57 → 5; min: quiet median (0.1 + 0.05) × 4 = 0.6 / 0.42 = 1.43 → 2.
    assert (advice.hpa_min, advice.hpa_max, advice.replicas) == (2, 5, None)
    assert "scales on cpu, other" in advice.explanation
    assert np.isclose(advice.current or 0, 4.0)
