"""The real traces of ../shared/traces as containers, and every strategy replayed over them."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from kubecap.recommend.distribution import CPU_LEVELS, Mixture, cpu_knots
from kubecap.recommend.settings import EngineSettings
from kubecap.recommend.strategies.registry import default_registry
from kubecap.simulate.replay import Summary, replay, sample_evaluator
from kubecap.simulate.trace_files import SERIES, default_folder, load_series
from kubecap.simulate.traces import TraceFleet, busiest_window, fleet


@cache
def traces() -> TraceFleet:
    return fleet(load_series(default_folder(Path(__file__).resolve())))


@cache
def summaries() -> dict[str, Summary]:
    data = traces()
    evaluate = sample_evaluator(data.cpu, data.memory)
    return {
        s.name: replay(
            data.history, s, s.default_settings(), EngineSettings(), start=7, evaluate=evaluate
        ).summary()
        for s in default_registry()
    }


def test_every_series_becomes_a_container_sized_from_its_p95() -> None:
    data = traces()
    assert len(data.history) == len(SERIES) == 18
    assert np.allclose(data.history.latest("cpu_request"), 1.0)  # twice a P95 of 0.5 cores
    # The profiles are the day's quantiles, as the collector computes them.
    i = data.names.index("wc98_requests")
    points = data.cpu[i][10]
    assert data.history.whole["cpu_p95"][i, 10] == pytest.approx(np.quantile(points, 0.95))
    assert data.history.whole["samples"][i, 10] == len(points) == 1440


def test_the_peak_window_is_the_busiest_time_of_day() -> None:
    (cron,) = load_series(default_folder(Path(__file__).resolve()), (SERIES[9],))
    assert cron.name == "nab_ec2_24ae8d"
    # nab_ec2_24ae8d is flat but for a nightly cron 03:05-03:40 UTC: the busiest 90 minutes hold it.
    start = busiest_window(cron, 90)
    assert 2 * 3600 <= start <= 3 * 3600 + 5 * 60


@pytest.mark.parametrize(("q", "low", "high"), [(0.95, 0.0, 0.05), (0.99, 0.0, 0.03)])
def test_percentiles_of_mixed_days_are_close_to_those_of_the_raw_points(
    q: float, low: float, high: float
) -> None:
    data = traces()
    h = data.history
    errors = []
    for end in range(14, h.days, 5):
        days = h.span(end - 14, end)
        estimate = Mixture.build(cpu_knots(days.whole), CPU_LEVELS, days.whole["samples"]).quantile(q)
        for i in range(len(h)):
            points = np.concatenate([data.cpu[i][d] for d in range(end - 14, end)])
            if len(points) and not np.isnan(estimate[i]):
                errors.append(estimate[i] / np.quantile(points, q) - 1)
    assert len(errors) > 100
    # On average a little above (the linear pieces lean high in a skewed tail), never far.
    assert low < float(np.mean(errors)) < high
    assert float(np.median(np.abs(errors))) < 0.03


def test_every_strategy_gives_finite_values_on_every_trace() -> None:
    # The first 8 days: every trace has them (the shortest is 8 days long).
    first_week = traces().history.span(0, 8)
    for strategy in default_registry():
        result = strategy.run(first_week, strategy.default_settings())
        assert result.enough.all(), strategy.name
        for estimate in (result.cpu_request, result.mem_request):
            assert np.all(np.isfinite(estimate.values)) and np.all(estimate.values > 0), strategy.name


def test_kubecap_is_as_safe_as_the_safest_peer_and_saves_more() -> None:
    """The claim of docs/recommend.md and bench/quality.py, kept honest."""
    s = summaries()
    peers = [s[name] for name in ("peak", "percentile", "vpa", "crane")]
    ours = s["kubecap"]
    cpu_safest = min(peers, key=lambda p: p.cpu_time_above_request)
    assert cpu_safest.strategy == "crane"
    assert ours.cpu_time_above_request <= cpu_safest.cpu_time_above_request
    assert ours.cpu_request_reduction > cpu_safest.cpu_request_reduction
    assert ours.mem_days_above_limit <= min(p.mem_days_above_limit for p in peers)
    assert ours.mem_days_above_request <= min(p.mem_days_above_request for p in peers)
    assert ours.mem_request_reduction > s["percentile"].mem_request_reduction
