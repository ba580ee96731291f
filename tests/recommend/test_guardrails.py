"""The engine's guardrails, each on its own, in their declared order, and the HPA rule end to end."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from kubecap.domain.hpa import HpaInfo, HpaMetric
from kubecap.recommend.engine import recommend
from kubecap.recommend.guardrails import (
    GUARDRAILS,
    Context,
    Current,
    Proposal,
    apply,
    hold_hpa_resources,
    request_within_limit,
    whole_units,
)
from kubecap.recommend.settings import EngineSettings
from kubecap.recommend.steps import MIB, Estimate
from kubecap.recommend.strategies.registry import default_registry

from .builders import days_of, flat, history, memory, ref


def proposal(cpu: float, cpu_limit: float, mem: float, mem_limit: float) -> Proposal:
    def est(v: float) -> Estimate:
        return Estimate(np.array([v]))

    return Proposal(est(cpu), est(cpu_limit), est(mem), est(mem_limit))


def context(hpa_cpu: bool = False, hpa_memory: bool = False, **engine: bool) -> Context:
    current = Current(np.array([0.5]), np.array([1.0]), np.array([512 * MIB]), np.array([1024 * MIB]))
    return Context(current, np.array([hpa_cpu]), np.array([hpa_memory]), EngineSettings(**engine))


def test_the_declared_order() -> None:
    assert (hold_hpa_resources, request_within_limit, whole_units) == GUARDRAILS


def test_hpa_resources_keep_their_request_and_limit_unless_allowed() -> None:
    held = hold_hpa_resources(proposal(0.2, 0.4, 100 * MIB, 200 * MIB), context(hpa_cpu=True))
    assert (held.cpu_request.values[0], held.cpu_limit.values[0]) == (0.5, 1.0)
    assert held.mem_request.values[0] == 100 * MIB  # the HPA does not scale on memory
    assert "HPA scales on CPU utilisation" in held.cpu_request.phrases(0)[-1]
    allowed = hold_hpa_resources(
        proposal(0.2, 0.4, 100 * MIB, 200 * MIB), context(hpa_cpu=True, allow_hpa=True)
    )
    assert allowed.cpu_request.values[0] == 0.2


def test_a_request_above_its_limit_is_lowered_to_it() -> None:
    capped = request_within_limit(proposal(0.7, 0.5, 300 * MIB, np.nan), context())
    assert capped.cpu_request.values[0] == 0.5
    assert capped.cpu_request.phrases(0) == ["lowered to the 500m limit, which usage cannot exceed"]
    assert capped.mem_request.values[0] == 300 * MIB  # no limit: nothing to lower to


def test_whole_units_round_up_and_keep_exact_values() -> None:
    rounded = whole_units(proposal(0.3401, 1.0, 300.2 * MIB, np.nan), context())
    assert rounded.cpu_request.values[0] == pytest.approx(0.341)
    assert rounded.cpu_limit.values[0] == pytest.approx(1.0)
    assert rounded.mem_request.values[0] == 301 * MIB
    assert np.isnan(rounded.mem_limit.values[0])


def test_order_matters_rounding_comes_last() -> None:
    done = apply(proposal(0.7, 0.3333, 100 * MIB, 200 * MIB), context())
    # Lowered to the limit (333.3m), then both rounded up alike: the request never exceeds the limit.
    assert done.cpu_request.values[0] == done.cpu_limit.values[0] == pytest.approx(0.334)


def test_an_hpa_on_cpu_keeps_the_cpu_request_and_gets_min_max_advice() -> None:
    days = [{**flat(0.2), **memory(100 * 2**20), "cpu_request": 0.5, "replicas_avg": 4.0} for _ in range(3)]
    rows = days_of(ref(), "app", days)
    hpa = HpaInfo(ref(), "web", 2, 10, frozenset({HpaMetric.CPU}), target_cpu_utilization=0.5)
    strategy = default_registry().get("kubecap")
    (rec,) = recommend(
        history(rows),
        strategy,
        strategy.default_settings(),
        EngineSettings(),
        computed_at=datetime.now(UTC),
        hpas={ref(): hpa},
    )
    assert rec.target.cpu_request == 0.5
    assert rec.target.mem_request != rec.current.mem_request
    assert rec.replicas is not None and rec.replicas.replicas is None
    # Peak total 0.2 × 4 = 0.8 cores; at 50 % of 500m: 3.2 pods, + 20 % → ⌈3.84⌉ = 4; quiet: ⌈0.8/0.25⌉ = 4.
    assert (rec.replicas.hpa_min, rec.replicas.hpa_max) == (4, 4)
    assert rec.replicas.explanation.startswith("HPA web (scales on cpu; now 2-10)")
