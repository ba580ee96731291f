"""Quality benchmark: every strategy through the what-if replay over the real traces of ../shared/traces.

Each series becomes a container (simulate/traces.py: CPU and memory follow it, its P95 is
0.5 cores and 512 MiB, its current request twice that). Every strategy, with its default
settings, recommends each day from the days before and is scored on that day. Printed: one
table strategy × (CPU and memory request reduction, share of time CPU usage was above the
request, days whose memory maximum exceeded the request and the limit), then the Pareto
check of the kubecap default against the peers, then, last, one JSON line with every figure.

    python bench/quality.py [--traces DIR] [--warmup DAYS]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, ClassVar

from kubecap.recommend.history import DailyHistory
from kubecap.recommend.settings import EngineSettings, StrategySettings
from kubecap.recommend.strategies.base import Strategy, StrategyResult, kept, sufficiency
from kubecap.recommend.strategies.registry import default_registry
from kubecap.simulate.replay import Summary, replay, sample_evaluator
from kubecap.simulate.trace_files import default_folder, load_series
from kubecap.simulate.traces import fleet

PEERS = ("peak", "percentile", "vpa", "crane")


class Current(Strategy[StrategySettings]):
    """The baseline: today's requests and limits, unchanged (2× each trace's P95)."""

    name: ClassVar[str] = "(current)"
    summary: ClassVar[str] = "no change"

    def __init__(self) -> None:
        super().__init__(StrategySettings)

    def run(self, history: DailyHistory, settings: StrategySettings) -> StrategyResult:
        h = history.last(settings.days)
        used, enough, reason = sufficiency(self.name, h, settings, h.has_day())
        return StrategyResult(
            cpu_request=kept(h.latest("cpu_request")),
            cpu_limit=kept(h.latest("cpu_limit")),
            mem_request=kept(h.latest("mem_request")),
            mem_limit=kept(h.latest("mem_limit")),
            days_used=used,
            looked_back=h.days,
            enough=enough,
            reason=reason,
        )


def run(traces: Path, warmup: int) -> list[Summary]:
    data = fleet(load_series(traces))
    engine = EngineSettings()
    evaluate = sample_evaluator(data.cpu, data.memory)
    summaries = []
    strategies: list[Strategy[Any]] = [Current(), *default_registry()]
    for strategy in strategies:
        outcome = replay(
            data.history, strategy, strategy.default_settings(), engine, start=warmup, evaluate=evaluate
        )
        summaries.append(outcome.summary(engine))
    return summaries


def pareto(summaries: list[Summary]) -> dict[str, Any]:
    """Per resource: is kubecap at least as safe as the safest peer default, and does it save more than it?"""
    by_name = {s.strategy: s for s in summaries}
    ours = by_name["kubecap"]
    peers = [by_name[name] for name in PEERS]
    cpu_safest = min(peers, key=lambda p: p.cpu_time_above_request)
    mem_safest = min(peers, key=lambda p: (p.mem_days_above_limit, p.mem_days_above_request))
    verdict: dict[str, Any] = {
        "cpu_safest_peer": cpu_safest.strategy,
        "cpu_as_safe": ours.cpu_time_above_request <= cpu_safest.cpu_time_above_request,
        "cpu_saves_more": ours.cpu_request_reduction > cpu_safest.cpu_request_reduction,
        "memory_safest_peer": mem_safest.strategy,
        "memory_as_safe": ours.mem_days_above_limit <= min(p.mem_days_above_limit for p in peers)
        and ours.mem_days_above_request <= min(p.mem_days_above_request for p in peers),
        "memory_saves_more": ours.mem_request_reduction > mem_safest.mem_request_reduction,
    }
    # Per peer and resource: no worse on safety and savings, better on one.
    dominates: dict[str, dict[str, bool]] = {}
    for p in peers:
        cpu = (ours.cpu_time_above_request, -ours.cpu_request_reduction)
        their_cpu = (p.cpu_time_above_request, -p.cpu_request_reduction)
        mem = (ours.mem_days_above_limit, ours.mem_days_above_request, -ours.mem_request_reduction)
        their_mem = (p.mem_days_above_limit, p.mem_days_above_request, -p.mem_request_reduction)
        dominates[p.strategy] = {"cpu": _dominates(cpu, their_cpu), "memory": _dominates(mem, their_mem)}
    verdict["kubecap_dominates"] = dominates
    return verdict


def _dominates(ours: tuple[float, ...], theirs: tuple[float, ...]) -> bool:
    return all(a <= b for a, b in zip(ours, theirs, strict=True)) and ours != theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--traces", type=Path, default=None, help="folder of the traces (default ../shared/traces)"
    )
    parser.add_argument("--warmup", type=int, default=7, help="days of history before the first scored day")
    args = parser.parse_args()
    traces = args.traces or default_folder(Path(__file__).resolve())
    started = time.perf_counter()
    summaries = run(traces, args.warmup)
    elapsed = time.perf_counter() - started

    header = f"{'strategy':<11} {'CPU req -%':>10} {'mem req -%':>10} {'CPU time>req':>12} {'worst':>7} {'mem days>req':>12} {'OOM days':>8} {'$/month':>9}"
    print(
        f"What-if replay over {summaries[0].containers} real traces, {summaries[0].container_days} scored container-days"
    )
    print(header)
    print("-" * len(header))
    for s in summaries:
        print(
            f"{s.strategy:<11} {s.cpu_request_reduction:>10.1%} {s.mem_request_reduction:>10.1%} "
            f"{s.cpu_time_above_request:>12.2%} {s.cpu_time_above_request_worst:>7.1%} "
            f"{s.mem_days_above_request:>12d} {s.mem_days_above_limit:>8d} {s.monthly_savings_usd:>9.2f}"
        )
    verdict = pareto(summaries)
    print()
    print(
        f"CPU: safest peer {verdict['cpu_safest_peer']}; kubecap as safe: {verdict['cpu_as_safe']}, "
        f"saves more: {verdict['cpu_saves_more']}"
    )
    print(
        f"memory: safest peer {verdict['memory_safest_peer']}; kubecap as safe: {verdict['memory_as_safe']}, "
        f"saves more: {verdict['memory_saves_more']}"
    )
    for peer, resources in verdict["kubecap_dominates"].items():
        print(f"kubecap Pareto-better than {peer}: CPU {resources['cpu']}, memory {resources['memory']}")
    print(
        json.dumps(
            {"seconds": round(elapsed, 2), "strategies": [s.as_dict() for s in summaries], "pareto": verdict}
        )
    )


if __name__ == "__main__":
    main()
