"""Recommendation benchmark: every strategy over 10,000 containers × 30 days of stored daily profiles.

Setup (not timed): a SQLite store filled with synthetic daily profiles (peak window and whole
day, one row per container and day, figures consistent with each other: P50 ≤ P90 ≤ P95 ≤
P99 ≤ max), kept under bench/.cache between runs. Measured, in a fresh process so that its
peak RSS is its own: open the store, read the history once, run every registered strategy
over every container (guardrails, savings, risk, replicas, explanations) and store all the
recommendations in one transaction — what `kubecap recommend` does, for every strategy.
Target: ≤ 10 s and ≤ 1 GB RSS.

    python bench/recommend.py [--containers 10000] [--days 30] [--strategy-days 30]

Prints a table, then one JSON object with every figure as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from kubecap.domain.usage import UsageProfile
from kubecap.domain.window import PeakWindow, windows_of_day
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.ports import WindowUsage
from kubecap.recommend.service import Job, Selection, recommend_from_store
from kubecap.recommend.settings import EngineSettings
from kubecap.recommend.strategies.registry import default_registry
from kubecap.store import Store

CACHE = Path(__file__).resolve().parent / ".cache"
LAST_DAY = date(2026, 10, 31)
PEAK = "10:00-11:30"
MIB = 2**20


def _refs(containers: int) -> list[tuple[WorkloadRef, str]]:
    """Workloads of one or two containers (every third has a sidecar), 25 per namespace."""
    out: list[tuple[WorkloadRef, str]] = []
    index = 0
    while len(out) < containers:
        kind = (WorkloadKind.DEPLOYMENT, WorkloadKind.DEPLOYMENT, WorkloadKind.STATEFULSET)[index % 3]
        ref = WorkloadRef("bench", f"team-{index // 25:04d}", kind, f"w-{index:05d}")
        out.append((ref, "app"))
        if index % 3 == 0 and len(out) < containers:
            out.append((ref, "sidecar"))
        index += 1
    return out


async def fill(url: str, containers: int, days: int) -> None:
    rng = np.random.default_rng(1)
    refs = _refs(containers)
    n = len(refs)
    level = rng.choice([0.02, 0.05, 0.1, 0.25, 0.5, 1.0], n) * rng.uniform(0.6, 1.4, n)
    memory = rng.choice([64, 128, 256, 512, 1024, 2048], n) * MIB * rng.uniform(0.7, 1.3, n)
    cpu_request = np.round(level * rng.uniform(1.0, 3.0, n), 3)
    mem_request = np.round(memory * rng.uniform(1.0, 2.0, n))
    replicas = rng.integers(1, 6, n).astype(float)
    tz = ZoneInfo("UTC")
    async with await Store.open(url) as store:
        for d in range(days):
            day = LAST_DAY - timedelta(days=days - 1 - d)
            for window in windows_of_day(day, [PeakWindow.parse(PEAK)], tz):
                busy = 1.0 if window.name == PEAK else 0.8
                scale = level * busy * rng.lognormal(0.0, 0.15, n)
                spread = np.sort(rng.uniform(0.3, 1.0, (n, 4)), axis=1)
                p50, p90, p95, p99 = (scale * spread[:, k] for k in range(4))
                peak = scale * rng.uniform(1.0, 1.6, n)
                used = memory * rng.uniform(0.8, 1.0, n)
                rows = [
                    UsageProfile(
                        workload=ref,
                        container=name,
                        day=day,
                        window=window.name,
                        replicas_min=replicas[i],
                        replicas_avg=replicas[i],
                        replicas_max=replicas[i],
                        cpu_p50=float(p50[i]),
                        cpu_p90=float(p90[i]),
                        cpu_p95=float(p95[i]),
                        cpu_p99=float(p99[i]),
                        cpu_max=float(peak[i]),
                        mem_p95=float(used[i] * 0.95),
                        mem_max=float(used[i]),
                        cpu_request=float(cpu_request[i]),
                        mem_request=float(mem_request[i]),
                        mem_limit=float(mem_request[i] * 1.5),
                        cpu_throttle_ratio=None,
                        oom_kills=0.0,
                        restarts=0.0,
                        samples=90 if window.name == PEAK else 1440,
                    )
                    for i, (ref, name) in enumerate(refs)
                ]
                await store.save_window("bench", window, WindowUsage(rows))


async def measure(url: str, days: int | None) -> dict[str, float]:
    registry = default_registry()
    jobs = [Job(s, s.settings_model() if days is None else s.settings_model(days=days)) for s in registry]
    steps: dict[str, float] = {}
    started = time.perf_counter()
    last = [started]

    def progress(step: str) -> None:
        now = time.perf_counter()
        steps[step] = now
        last[0] = now

    async with await Store.open(url) as store:
        opened = time.perf_counter()
        found = await recommend_from_store(
            store, jobs, EngineSettings(), Selection(), computed_at=datetime.now(UTC), progress=progress
        )
    finished = time.perf_counter()
    marks = sorted(steps.items(), key=lambda kv: kv[1])
    phases = {}
    for (name, at), (_, until) in zip(marks, [*marks[1:], ("end", finished)], strict=True):
        phases[name] = until - at
    return {
        "seconds": finished - started,
        "open_seconds": opened - started,
        "recommendations": len(found),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **{f"phase {k}": v for k, v in phases.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument(
        "--strategy-days",
        type=int,
        default=None,
        help="days every strategy reads (default: each one's own, ≤ 14)",
    )
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(asyncio.run(measure(f"sqlite:///{args.measure}", args.strategy_days))))
        return
    path = CACHE / f"recommend-c{args.containers}-d{args.days}.db"
    marker = path.with_suffix(".complete")
    setup = 0.0
    if not marker.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        t0 = time.perf_counter()
        asyncio.run(fill(f"sqlite:///{path}", args.containers, args.days))
        setup = time.perf_counter() - t0
        marker.write_text("")
    command = [sys.executable, __file__, "--measure", str(path)]
    if args.strategy_days is not None:
        command += ["--strategy-days", str(args.strategy_days)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    rows = len(_refs(args.containers)) * args.days * 2
    print(
        f"{args.containers:,} containers × {args.days} days ({rows:,} stored rows), {len(default_registry())} strategies"
    )
    for key, value in figures.items():
        print(f"  {key:<40} {value:>10.2f}" if isinstance(value, float) else f"  {key:<40} {value:>10}")
    verdict = figures["seconds"] <= 10 and figures["peak_rss_mb"] <= 1024
    print(f"target ≤ 10 s and ≤ 1 GB: {'met' if verdict else 'NOT met'}")
    print(
        json.dumps(
            {
                "containers": args.containers,
                "days": args.days,
                "stored_rows": rows,
                "strategies": len(default_registry()),
                "strategy_days": args.strategy_days,
                "setup_seconds": round(setup, 2),
                **{
                    k.replace(" ", "_"): round(v, 3) if isinstance(v, float) else v
                    for k, v in figures.items()
                },
                "target_met": verdict,
            }
        )
    )


if __name__ == "__main__":
    main()
