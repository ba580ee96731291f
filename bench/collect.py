"""Collection benchmark: `kubecap collect --days 7` against a local Prometheus holding a large cluster.

For each size (default 1,000 and 2,000 workloads, two pods each, 7 days of 1-minute history),
a simulated cluster is written as OpenMetrics, backfilled with promtool and served by a real
Prometheus on 127.0.0.1. The backfilled data is cached under bench/.cache (delete it to rebuild).
Measured: the wall time, peak RSS and query count of the real `kubecap collect` process (one
peak window + the whole day). In the same run, over a sample of workloads: a KRR-style loop (two
queries per workload over the whole period: CPU P95 and memory max), and the equal-work loop
(every figure of every window, asked one workload at a time), for the per-workload ratio.

    python bench/collect.py [--sizes 1000 2000] [--days 7] [--krr-sample 100]

Prints a table, then one JSON object with every figure as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from kubecap.domain.window import DAY, PeakWindow
from kubecap.metrics.collector import plan_windows
from kubecap.metrics.prometheus import PrometheusClient, PrometheusOptions
from kubecap.metrics.promql import Catalogue, Matcher, Scope, WindowShape
from kubecap.metrics.simulated import Scenario, SimulatedSource, generate_scenario
from kubecap.testing.prometheus import PrometheusServer, backfill

END = datetime(2026, 11, 1, tzinfo=UTC)
PEAK = "10:00-11:30"
CACHE = Path(__file__).resolve().parent / ".cache"


def scenario_for(workloads: int, days: int) -> Scenario:
    return generate_scenario(workloads, 2, days, end=END, seed=1, cluster="bench", timezone="UTC")


def _build(workloads: int, days: int, data: Path) -> None:
    """Write the OpenMetrics and backfill it (run in a separate process, see build_data)."""
    source = SimulatedSource(scenario_for(workloads, days))
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        t0 = time.perf_counter()
        files = source.write_openmetrics(Path(tmp), static_every=4)
        timings = {"openmetrics_s": time.perf_counter() - t0}
        timings["openmetrics_mb"] = sum(f.stat().st_size for f in files) / 2**20
        t0 = time.perf_counter()
        backfill(files, data, parallel=2)
        timings["backfill_s"] = time.perf_counter() - t0
    (data.parent / "complete").write_text(json.dumps(timings))


def build_data(workloads: int, days: int) -> tuple[Path, dict[str, float]]:
    """The Prometheus data dir for a size, from the cache or built now.

    The history is generated in a spawned process: a forked `kubecap collect` child would
    otherwise count this process's gigabytes of generated arrays in its own peak RSS.
    """
    data = CACHE / f"w{workloads}-d{days}" / "data"
    marker = data.parent / "complete"
    if not marker.exists():
        data.mkdir(parents=True, exist_ok=True)
        child = multiprocessing.get_context("spawn").Process(target=_build, args=(workloads, days, data))
        child.start()
        child.join()
        if child.exitcode != 0 or not marker.exists():
            raise SystemExit(f"building the {workloads}-workload history failed (exit {child.exitcode})")
    return data, json.loads(marker.read_text())


def run_collect(url: str, days: int, workdir: Path) -> dict[str, Any]:
    """The real CLI in a child process; wall time, peak RSS (wait4) and queries from its summary."""
    config = workdir / "kubecap.yaml"
    config.write_text(
        f"database_url: sqlite:///{workdir / 'kubecap.db'}\n"
        f"clusters:\n  - name: bench\n    prometheus: {{url: '{url}', timeout_seconds: 600}}\n"
        f"    timezone: UTC\n    peak_windows: ['{PEAK}']\n"
    )
    until = (END - timedelta(days=1)).date()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBECAP_")}
    args = [
        sys.executable,
        "-m",
        "kubecap.cli",
        "collect",
        "--days",
        str(days),
        "--until",
        str(until),
        "--config",
        str(config),
    ]
    log = workdir / "collect.log"
    with log.open("w") as stderr:
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=stderr, text=True, env=env)
        # wait4 reaps the child and returns its own resource usage (peak RSS), not the sum of all children.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = log.read_text()
    if proc.returncode:
        raise SystemExit(f"kubecap collect failed ({proc.returncode}): {err.strip()}")
    summary = re.search(r"(\d+) collected.*?(\d+) rows from (\d+) queries", err)
    if summary is None:
        raise SystemExit(f"unexpected collect output: {err!r}")
    rss_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
    return {
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(rss_mb, 1),
        "windows": int(summary[1]),
        "rows": int(summary[2]),
        "queries": int(summary[3]),
    }


async def krr_style(url: str, scenario: Scenario, sample: int, days: int) -> dict[str, float]:
    """Two queries per workload over the whole period, the way KRR asks (one container each)."""
    workloads = scenario.workloads()[:sample]
    at = END
    span = f"{days}d"
    async with PrometheusClient(PrometheusOptions(url=url, timeout_s=600, concurrency=4)) as client:
        t0 = time.perf_counter()
        for namespace, workload in workloads:
            container = workload.containers[0].name
            selector = f'namespace="{namespace}", pod=~"{workload.name}-.*", container="{container}"'
            await client.instant(
                f"quantile_over_time(0.95, max by (pod) (rate(container_cpu_usage_seconds_total{{{selector}}}[5m]))"
                f"[{span}:1m])",
                at,
            )
            await client.instant(
                f"max_over_time(max by (pod) (container_memory_working_set_bytes{{{selector}}})[{span}:1m])",
                at,
            )
        elapsed = time.perf_counter() - t0
    return {
        "workloads": len(workloads),
        "wall_s": round(elapsed, 2),
        "per_workload_s": elapsed / len(workloads),
    }


async def per_workload_loop(url: str, scenario: Scenario, sample: int, days: int) -> dict[str, float]:
    """Our figures, asked one workload at a time (KRR's way of querying): the same catalogue queries,
    scoped to one workload's pods, for every window. The equal-work comparison with batching."""
    until = (END - timedelta(days=1)).date()
    windows = plan_windows(days, [PeakWindow.parse(PEAK)], UTC, END, until=until)
    workloads = scenario.workloads()[:sample]
    queries = 0
    async with PrometheusClient(PrometheusOptions(url=url, timeout_s=600, concurrency=4)) as client:
        t0 = time.perf_counter()
        for namespace, workload in workloads:
            cat = Catalogue(
                Scope((Matcher("namespace", "=", namespace), Matcher("pod", "=~", f"{workload.name}-.*")))
            )
            for window in windows:
                shape = WindowShape(window.seconds * 1000, 300 if window.name == DAY else 60)
                per_window = [
                    cat.ownership(shape),
                    *cat.cpu(shape),
                    *cat.memory(shape),
                    cat.resources(shape),
                    *cat.throttling(shape),
                    cat.restarts(shape),
                ]
                await asyncio.gather(*(client.instant(q, window.end) for q in per_window))
                queries += len(per_window)
        elapsed = time.perf_counter() - t0
    return {
        "workloads": len(workloads),
        "queries": queries,
        "wall_s": round(elapsed, 2),
        "per_workload_s": elapsed / len(workloads),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000], help="workload counts")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--krr-sample", type=int, default=100, help="workloads in the KRR-style loop")
    parser.add_argument(
        "--loop-sample", type=int, default=20, help="workloads in the equal-work per-workload loop"
    )
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)

    results: dict[str, Any] = {"days": args.days, "sizes": {}}
    for size in args.sizes:
        data, build = build_data(size, args.days)
        with PrometheusServer(data, extra_args=("--query.max-samples=200000000",)) as server:
            prometheus = psutil.Process(server.pid)
            with tempfile.TemporaryDirectory() as tmp:
                ours = run_collect(server.url, args.days, Path(tmp))
            figures: dict[str, Any] = {
                "workloads": size,
                "pods": size * 2,
                "collect": ours,
                "prometheus_rss_mb": round(prometheus.memory_info().rss / 2**20, 1),
                "build": {k: round(v, 1) for k, v in build.items()},
            }
            if size == args.sizes[0] and args.krr_sample:
                krr = asyncio.run(
                    krr_style(server.url, scenario_for(size, args.days), args.krr_sample, args.days)
                )
                ours_per_workload = ours["wall_s"] / size
                loop = asyncio.run(
                    per_workload_loop(server.url, scenario_for(size, args.days), args.loop_sample, args.days)
                )
                figures["per_workload_loop"] = {
                    **{k: round(v, 4) for k, v in loop.items()},
                    "batched_per_workload_s": round(ours["wall_s"] / size, 4),
                    "loop_to_batched_per_workload": round(
                        loop["per_workload_s"] / (ours["wall_s"] / size), 1
                    ),
                }
                figures["krr_style"] = {
                    **{k: round(v, 4) for k, v in krr.items()},
                    "ours_per_workload_s": round(ours_per_workload, 4),
                    "krr_to_ours_per_workload": round(krr["per_workload_s"] / ours_per_workload, 1),
                    "krr_queries_for_all_workloads": 2 * size,
                }
        results["sizes"][str(size)] = figures

    print(
        f"{'workloads':>9} {'pods':>6} {'wall s':>8} {'RSS MB':>8} {'queries':>8} {'windows':>8} {'rows':>7}"
    )
    for size, f in results["sizes"].items():
        c = f["collect"]
        print(
            f"{size:>9} {f['pods']:>6} {c['wall_s']:>8} {c['peak_rss_mb']:>8} {c['queries']:>8}"
            f" {c['windows']:>8} {c['rows']:>7}"
        )
    first = results["sizes"][str(args.sizes[0])]
    if "krr_style" in first:
        k = first["krr_style"]
        print(
            f"KRR-style loop: {k['workloads']} workloads in {k['wall_s']} s = {k['per_workload_s']} s/workload"
            f" (2 queries each, 7-day range, CPU P95 + memory max only);"
            f" ours {k['ours_per_workload_s']} s/workload for every figure of every window:"
            f" {k['krr_to_ours_per_workload']}x"
        )
    if len(args.sizes) > 1:
        a, b = (results["sizes"][str(s)]["collect"]["wall_s"] for s in args.sizes[:2])
        results["growth_wall"] = round(b / a, 2)
        print(f"wall time growth {args.sizes[0]} -> {args.sizes[1]} workloads: {results['growth_wall']}x")
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
