"""Load-aware scheduling benchmark: three placement policies on a trace-driven cluster, then extender latency.

Run ``python bench/scheduling.py`` (``--help`` for sizes). It reads the real traces in
``../shared/traces`` beside the repository (``--traces`` to override) and prints

1. the same arrivals placed by (a) kube-scheduler's requests-based default (least
   allocated), (b) kube-scheduler with kubecap's extender (filter + prioritize, weight
   ``--weight``), (c) (b) plus the auto-taint controller: node-minutes above 80 % CPU, the
   highest node utilisation (and CPU demand, which can exceed the node), the spread of
   utilisation between nodes, pods placed and not placed, taint changes per node per hour
   and flaps (a change undoing the node's previous change within 30 minutes);
2. the extender's latency over HTTP on 127.0.0.1 for ``--latency-nodes`` nodes: filter and
   prioritize requests exactly as kube-scheduler sends them (nodeCacheCapable), p50 / p99.

The last line of the output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from kubecap.scheduling.extender import build_extender
from kubecap.scheduling.load import Figure, LoadSnapshot, NodeLoad, ResourceLoad
from kubecap.scheduling.policy import LoadPolicy
from kubecap.scheduling.server import serving
from kubecap.scheduling.taint_policy import TaintPolicy
from kubecap.simulate.scheduling.engine import Figures, simulate
from kubecap.simulate.scheduling.policies import LeastAllocated, LoadAware, Placer
from kubecap.simulate.scheduling.shapes import CPU_SERIES, MEMORY_SERIES, shapes_from
from kubecap.simulate.scheduling.workload import Scenario, generate
from kubecap.simulate.trace_files import load_series

DEFAULT_TRACES = Path(__file__).resolve().parent.parent.parent / "shared" / "traces"

# A pod as kube-scheduler holds it right before binding (what it sends as ExtenderArgs.Pod).
POD: dict[str, Any] = {
    "metadata": {
        "name": "web-7d4b9c9f7-x2k8p",
        "generateName": "web-7d4b9c9f7-",
        "namespace": "shop",
        "uid": "8e2c5d3a-6a53-4c1e-9b7a-0c5c2d0e9f11",
        "resourceVersion": "4412087",
        "creationTimestamp": "2024-03-05T01:59:12Z",
        "labels": {"app": "web", "pod-template-hash": "7d4b9c9f7"},
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "web-7d4b9c9f7",
                "uid": "5f0c1b8e-1f6a-4b0e-8d5b-6a1f3f2c7e90",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    },
    "spec": {
        "containers": [
            {
                "name": "app",
                "image": "shop/web:2.7.1",
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "resources": {
                    "limits": {"cpu": "1", "memory": "512Mi"},
                    "requests": {"cpu": "250m", "memory": "256Mi"},
                },
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent",
            }
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default",
        "securityContext": {},
        "schedulerName": "default-scheduler",
        "tolerations": [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
        ],
        "priority": 0,
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
    },
    "status": {"phase": "Pending", "qosClass": "Burstable"},
}


def run_policies(args: argparse.Namespace) -> list[Figures]:
    series = load_series(args.traces)
    cpu = shapes_from(series, CPU_SERIES)
    memory = shapes_from(series, MEMORY_SERIES)
    scenario = Scenario(nodes=args.nodes, days=args.days, warmup_days=args.warmup_days, seed=args.seed)
    pods = generate(scenario, cpu, memory)
    policy = LoadPolicy()
    taints = TaintPolicy()  # the controller's defaults: 0.85 for 10 min, below 0.65 for 15 min, 30 % per pool
    runs: list[tuple[str, Placer, TaintPolicy | None]] = [
        ("(a) requests: least allocated", LeastAllocated(), None),
        (f"(b) kubecap extender, weight {args.weight}", LoadAware(policy=policy, weight=args.weight), None),
        ("(c) (b) + auto-taint", LoadAware(policy=replace(policy), weight=args.weight), taints),
    ]
    out = []
    for name, placer, taint_policy in runs:
        print(f"  simulating {name} ...", file=sys.stderr, flush=True)
        out.append(
            simulate(scenario, pods, cpu, memory, placer, taints=taint_policy, load_policy=policy, name=name)
        )
    return out


def latency_snapshot(nodes: int, now: datetime, seed: int) -> LoadSnapshot:
    rng = np.random.default_rng(seed)
    at = now - timedelta(seconds=20)
    loads = {}
    for i in range(nodes):
        cpu = rng.uniform(0.1, 0.9, size=3)
        memory = rng.uniform(0.2, 0.8, size=3)
        name = f"node-{i:04d}"
        loads[name] = NodeLoad(
            name,
            ResourceLoad(*(Figure(float(v), at) for v in cpu)),
            ResourceLoad(*(Figure(float(v), at) for v in memory)),
            cpu_cores=16.0,
            memory_bytes=64 * 2**30,
        )
    return LoadSnapshot(taken_at=now, nodes=loads)


def _serve(nodes: int, seed: int, ports: Any, stop: Any) -> None:
    """The extender in its own process (kube-scheduler is another process too), until ``stop`` is set."""
    snapshot = latency_snapshot(nodes, datetime.now(UTC), seed)
    extender = build_extender(lambda: snapshot, LoadPolicy(), clock=lambda: datetime.now(UTC))

    async def serve() -> None:
        async with serving(extender.app, "127.0.0.1", 0) as server:
            ports.put(server.port)
            await asyncio.to_thread(stop.wait)

    asyncio.run(serve())


def measure_latency(nodes: int, requests: int, seed: int) -> dict[str, float]:
    """filter then prioritize, ``requests`` times, over one kept-alive HTTP connection."""
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    stop = context.Event()
    process = context.Process(target=_serve, args=(nodes, seed, ports, stop), daemon=True)
    process.start()
    try:
        url = f"http://127.0.0.1:{ports.get(timeout=60)}"
    except Exception:
        process.kill()
        raise
    names = [f"node-{i:04d}" for i in range(nodes)]
    filter_ms: list[float] = []
    prioritize_ms: list[float] = []
    pair_ms: list[float] = []
    try:
        # Go's net package (kube-scheduler) sets TCP_NODELAY; without it headers and body wait on delayed ACKs.
        transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        with httpx.Client(trust_env=False, timeout=10, transport=transport) as http:
            headers = {"Content-Type": "application/json"}
            for index in range(requests + 50):  # the first 50 warm up connections and caches
                pod = {**POD, "metadata": {**POD["metadata"], "name": f"web-{index}", "uid": f"uid-{index}"}}
                body = json.dumps({"Pod": pod, "Nodes": None, "NodeNames": names}).encode()
                started = time.perf_counter()
                answer = http.post(f"{url}/filter", content=body, headers=headers).json()
                middle = time.perf_counter()
                passed = answer["NodeNames"]
                body = json.dumps({"Pod": pod, "Nodes": None, "NodeNames": passed}).encode()
                scores = http.post(f"{url}/prioritize", content=body, headers=headers).json()
                ended = time.perf_counter()
                if len(scores) != len(passed):
                    raise RuntimeError("prioritize did not score every node it was sent")
                if index >= 50:
                    filter_ms.append((middle - started) * 1000)
                    prioritize_ms.append((ended - middle) * 1000)
                    pair_ms.append((ended - started) * 1000)
    finally:
        stop.set()
        process.join(timeout=30)
        if process.is_alive():
            process.kill()

    def quantile(values: list[float], q: float) -> float:
        return round(float(np.quantile(values, q)), 3)

    return {
        "latency_nodes": nodes,
        "latency_requests": requests,
        "filter_p50_ms": quantile(filter_ms, 0.5),
        "filter_p99_ms": quantile(filter_ms, 0.99),
        "prioritize_p50_ms": quantile(prioritize_ms, 0.5),
        "prioritize_p99_ms": quantile(prioritize_ms, 0.99),
        "pair_p50_ms": quantile(pair_ms, 0.5),
        "pair_p99_ms": quantile(pair_ms, 0.99),
    }


def print_table(results: list[Figures], latency: dict[str, float], args: argparse.Namespace) -> None:
    print(
        f"\nPlacement on {args.nodes} nodes × 16 cores over {args.days:g} days "
        f"(first {args.warmup_days:g} day not measured), seed {args.seed}, same arrivals for every policy"
    )
    header = (
        f"{'policy':36} {'min>80%':>8} {'vs (a)':>7} {'max util':>8} {'max dem':>8} {'stdev':>6} {'mean':>6} "
        f"{'placed':>7} {'not pl.':>7} {'pend.min':>8} {'taint/n/h':>9} {'flaps':>5} {'secs':>5}"
    )
    print(header)
    base = results[0].node_minutes_above_80 or 1
    for f in results:
        print(
            f"{f.policy:36} {f.node_minutes_above_80:8d} {f.node_minutes_above_80 / base:7.2f} "
            f"{f.highest_utilisation:8.3f} {f.highest_demand:8.3f} {f.utilisation_stdev:6.3f} "
            f"{f.mean_utilisation:6.3f} {f.pods_placed:7d} {f.pods_not_placed:7d} {f.pending_pod_minutes:8d} "
            f"{f.taint_changes_per_node_hour:9.4f} {f.taint_flaps:5d} {f.seconds:5.1f}"
        )
    print(
        f"\nExtender latency over HTTP, {latency['latency_nodes']} nodes (NodeNames), "
        f"{latency['latency_requests']} filter + prioritize pairs"
    )
    print(f"{'request':12} {'p50 ms':>8} {'p99 ms':>8}")
    for verb in ("filter", "prioritize", "pair"):
        print(f"{verb:12} {latency[f'{verb}_p50_ms']:8.3f} {latency[f'{verb}_p99_ms']:8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--traces", type=Path, default=DEFAULT_TRACES, help="the shared/traces folder")
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--days", type=float, default=6.0)
    parser.add_argument("--warmup-days", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--weight", type=int, default=2, help="the extender's weight in KubeSchedulerConfiguration"
    )
    parser.add_argument("--latency-nodes", type=int, default=1000)
    parser.add_argument("--latency-requests", type=int, default=2000)
    args = parser.parse_args()
    if not args.traces.is_dir():
        print(f"traces folder {args.traces} not found: pass --traces PATH", file=sys.stderr)
        raise SystemExit(2)
    results = run_policies(args)
    print("  measuring extender latency ...", file=sys.stderr, flush=True)
    latency = measure_latency(args.latency_nodes, args.latency_requests, args.seed)
    print_table(results, latency, args)
    figures: dict[str, Any] = {
        "scenario": {
            "nodes": args.nodes,
            "days": args.days,
            "warmup_days": args.warmup_days,
            "seed": args.seed,
            "weight": args.weight,
        },
        "policies": {key: f.as_dict() for key, f in zip(("a", "b", "c"), results, strict=True)},
        "reduction_b_vs_a": round(
            1 - results[1].node_minutes_above_80 / max(1, results[0].node_minutes_above_80), 4
        ),
        "reduction_c_vs_a": round(
            1 - results[2].node_minutes_above_80 / max(1, results[0].node_minutes_above_80), 4
        ),
        "latency": latency,
    }
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
