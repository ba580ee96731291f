"""Benchmark: the workloads list API, the workloads page and the overview page over a big store.

Builds a SQLite store with N workloads × D days (a peak window and the whole day, one
container each), serves `kubecap serve`'s app (API + UI) with uvicorn on 127.0.0.1, logs in
over HTTP and times repeated requests. Prints a table, then one JSON line with every figure.

    python bench/ui.py [--workloads 5000] [--days 30] [--repeat 20] [--database-url postgresql://...]

The first request after a collection computes the summaries (its own column, "first ms");
`kubecap serve` computes them right after each collection, so users meet the p50/p95 figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import uvicorn

from kubecap import wiring
from kubecap.config import load_settings
from kubecap.domain.usage import UsageProfile
from kubecap.domain.window import DAY, DailyWindow, PeakWindow, day_bounds
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.ports import WindowUsage
from kubecap.store import Store, upgrade_database

CLUSTER = "bench"
PEAK = "10:00-11:30"


async def fill(url: str, workloads: int, days: int) -> float:
    started = time.perf_counter()
    rng = random.Random(7)
    refs = [
        WorkloadRef(CLUSTER, f"ns-{i % 50}", WorkloadKind.DEPLOYMENT, f"app-{i}") for i in range(workloads)
    ]
    base = [(rng.uniform(0.05, 2.0), rng.uniform(64, 4096) * 2**20) for _ in refs]
    last = date(2026, 11, 20)
    tz = ZoneInfo("UTC")
    peak = PeakWindow.parse(PEAK)
    async with await Store.open(url) as store:
        for offset in range(days):
            day = last - timedelta(days=days - 1 - offset)
            windows = [(peak.name, *peak.bounds(day, tz)), (DAY, *day_bounds(day, tz))]
            for name, start, end in windows:
                profiles = []
                for ref, (cpu, mem) in zip(refs, base, strict=True):
                    use = cpu * rng.uniform(0.3, 0.9)
                    profiles.append(
                        UsageProfile(
                            ref, "app", day, name, replicas_min=2, replicas_avg=2, replicas_max=2,
                            cpu_p50=use * 0.7, cpu_p90=use * 0.9, cpu_p95=use, cpu_p99=use * 1.1, cpu_max=use * 1.3,
                            mem_p95=mem * 0.6, mem_max=mem * 0.7, cpu_request=cpu, mem_request=mem, mem_limit=mem * 2,
                            samples=60,
                        )
                    )  # fmt: skip
                await store.save_window(CLUSTER, DailyWindow(day, name, start, end), WindowUsage(profiles))
    return time.perf_counter() - started


def timed(client: httpx.Client, path: str, repeat: int) -> dict[str, float]:
    """p50 and p95 over ``repeat`` requests, after a first one timed on its own: the first after a
    collection computes the cluster's summaries (serve's loops compute them right after collecting)."""
    started = time.perf_counter()
    client.get(path)
    cold = (time.perf_counter() - started) * 1000
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:  # a redirect to the login page would time the wrong thing
            raise SystemExit(f"GET {path} answered {answer.status_code}, not 200")
    samples.sort()
    return {
        "first_ms": round(cold, 1),
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=5000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--database-url",
        help="an EMPTY database to fill, e.g. PostgreSQL (default: a SQLite file in a temporary directory)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kubecap-bench-ui-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade_database(url)
        fill_s = asyncio.run(fill(url, args.workloads, args.days))
        settings = load_settings(None, database_url=url)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        port = sock.getsockname()[1]
        ready = threading.Event()
        password: list[str | None] = []
        server: list[uvicorn.Server] = []

        async def serve() -> None:
            async with wiring.store(settings) as store:
                ctx = wiring.api_context(settings, store)
                password.append(await ctx.auth.bootstrap())
                app = wiring.api_app(ctx, ui=True)
                server.append(uvicorn.Server(uvicorn.Config(app, log_level="warning")))
                ready.set()
                await server[0].serve(sockets=[sock])

        thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
        thread.start()
        ready.wait(120)
        base = f"http://127.0.0.1:{port}"
        results: dict[str, object] = {
            "database": url.split(":", 1)[0],
            "workloads": args.workloads,
            "days": args.days,
            "fill_s": round(fill_s, 1),
        }
        with httpx.Client(base_url=base, timeout=120) as client:
            for _ in range(200):
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            login = client.post("/api/auth/login", json={"username": "admin", "password": password[0]})
            login.raise_for_status()
            results["workloads_api"] = timed(client, "/api/workloads?limit=100", args.repeat)
            results["workloads_api_search"] = timed(
                client, "/api/workloads?limit=50&sort=name&q=app-12", args.repeat
            )
            results["overview_api"] = timed(client, "/api/overview", args.repeat)
            # The pages accept the API's session cookie: the whole server-side render of each page.
            results["workloads_page"] = timed(client, "/workloads", args.repeat)
            results["overview_page"] = timed(client, "/", args.repeat)
        with httpx.Client(base_url=base, timeout=120) as client:
            results["page_shell"] = timed(client, "/login", args.repeat)
        server[0].should_exit = True
        thread.join(30)
    results["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(f"{'figure':<22} {'first ms':>10} {'p50 ms':>10} {'p95 ms':>10}")
    for key in (
        "workloads_api",
        "workloads_api_search",
        "overview_api",
        "workloads_page",
        "overview_page",
        "page_shell",
    ):
        figures = results[key]
        assert isinstance(figures, dict)
        print(f"{key:<22} {figures['first_ms']:>10} {figures['p50_ms']:>10} {figures['p95_ms']:>10}")
    print(f"load average (1 min) at the end: {results['load_avg_1m']}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
