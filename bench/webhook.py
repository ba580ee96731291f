"""Webhook benchmark: AdmissionReview load over TLS with keep-alive on loopback, against the webhook
and against a trivial allow-all ASGI app (the floor), each in its own single process.

The load is what a busy cluster sends: Deployment UPDATE reviews (three containers, a pod
template change) for a workload whose control spec differs from the object, so every
review takes the full path: decode, snapshot lookup, decision, a JSON patch for replicas
and two containers, encoding, metrics and an audit event written in the background to the
SQLite store. The webhook runs as ``kubecap webhook serve`` (uvicorn, httptools, uvloop); the
floor is the same server stack with an app that only reads the body, decodes it and
answers "allowed" with its uid.

The load generator is wrk (Debian's package, installed here when root and missing) with a
Lua script for the POST body, on its own thread and core. Both servers run throughout and
take turns at each load (webhook, then floor), so that drift in the machine's speed falls
on both alike. Each server gets: 500/s and
1,000/s for --duration seconds (wrk paces each connection with ``delay()``; the achieved
rate is reported), then --distinct-rates again with other container resources in every
review (the webhook's per-container plan memo never hits: its miss path's cost), then a
saturating run for --max-duration seconds whose throughput without errors is the maximum
sustained rate. Reported: p50/p99 latency, throughput,
errors, audit events the webhook lost (its queue full: read from its /metrics), peak RSS,
the server's CPU time per review (the cost, compared with the floor) and the machine's load
average (other work on the machine inflates CPU times and latencies).

    python bench/webhook.py [--duration 60] [--max-duration 20] [--rates 500,1000] [--distinct-rates 1000]

Prints a table, then one JSON object with every figure as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psutil

from kubecap.control.certs import make_ca, make_serving
from kubecap.domain.control import ContainerSpec, ControlSpec, ReplicasMode
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.store import Store
from kubecap.testing.admission import body, container, review, workload

CLUSTER = "bench"
LUA = r"""
local file = io.open(os.getenv("KUBECAP_BENCH_BODY"), "rb")
wrk.method = "POST"
wrk.path = "/mutate?timeout=10s"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
-- Distinct: every review carries other container resources (app's and istio-proxy's memory
-- requests), so the webhook's per-container plan memo never hits, as for many workloads.
-- Made before the run (wrk's own time), more than the memo holds, cycled.
if os.getenv("KUBECAP_BENCH_DISTINCT") == "1" then
  local requests = {}
  for n = 1, 10000 do
    local body = wrk.body:gsub('"512Mi"', '"' .. (100000 + n) .. 'Ki"'):gsub('"128Mi"', '"' .. (200000 + n) .. 'Ki"')
    requests[n] = wrk.format(nil, nil, nil, body)
  end
  local i = 0
  function request()
    i = i % #requests + 1
    return requests[i]
  end
end
local pause = tonumber(os.getenv("KUBECAP_BENCH_DELAY_MS") or "0")
if pause > 0 then
  function delay()
    return pause
  end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'KUBECAP_RESULT {"requests": %d, "duration_us": %d, "socket_errors": %d, "non_2xx": %d, ' ..
    '"timeouts": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def floor_app() -> Any:
    """The trivial allow-all ASGI app: read the body, decode it, allow it."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        # The same JSON library as the webhook: the floor is what any correct webhook must do.
        uid = orjson.loads(b"".join(chunks))["request"]["uid"]
        answer = orjson.dumps(
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "response": {"uid": uid, "allowed": True},
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    return app


def serve_floor(cert: Path, key: Path) -> None:
    """Run the floor app with the webhook's server stack (uvicorn + httptools + uvloop + TLS)."""
    import uvloop

    from kubecap.control.server import WebhookServer, listening_socket
    from kubecap.control.tls import ReloadingContext

    server = WebhookServer(floor_app(), ReloadingContext(cert, key), listening_socket("127.0.0.1", 0))
    print(f"floor on https://127.0.0.1:{server.port}/mutate", file=sys.stderr, flush=True)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(server.serve())


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing Debian's wrk package for the load generator", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"], check=True, env=env
        )
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is missing: install it (apt-get install wrk) and run the benchmark again")
    return found


async def prepare_store(url: str) -> None:
    spec = ControlSpec(
        WorkloadRef(CLUSTER, "shop", WorkloadKind.DEPLOYMENT, "web"),
        ReplicasMode.FIXED,
        4,
        (
            ContainerSpec("app", {"cpu": "250m", "memory": "384Mi"}, {"cpu": None, "memory": "768Mi"}),
            ContainerSpec("istio-proxy", {"cpu": "50m", "memory": "96Mi"}, {"memory": "192Mi"}),
        ),
    ).validate()
    async with await Store.open(url) as store:
        await store.save_control_specs([spec], now=datetime.now(UTC), actor="bench", reason="bench")


def review_body() -> bytes:
    containers = [
        container("app", {"cpu": "500m", "memory": "512Mi"}, {"cpu": "1", "memory": "1Gi"}),
        container("istio-proxy", {"cpu": "100m", "memory": "128Mi"}, {"memory": "256Mi"}),
        container("log-shipper", {"cpu": "20m", "memory": "64Mi"}, {"memory": "128Mi"}),
    ]
    old = workload("web", "shop", replicas=6, containers=containers)
    new = json.loads(json.dumps(old))
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com/shop/app:1.5.0"
    new["metadata"]["generation"] += 1
    return body(review(new, old))


class Server:
    """A server subprocess whose URL is read from its stderr, with its RSS sampled."""

    def __init__(self, command: list[str], marker: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
        self.has_metrics = marker.startswith("kubecap")
        assert self.process.stderr is not None
        self.url = ""
        for _ in range(500):
            line = self.process.stderr.readline()
            if not line:
                raise SystemExit(f"the server stopped before serving: {' '.join(command)}")
            if marker in line:
                self.url = line.rsplit(" on ", 1)[1].strip().removesuffix("/mutate")
                break
        self.ps = psutil.Process(self.process.pid)
        self.peak_rss = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        # Drain stderr so the server never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.process.stderr or []], daemon=True).start()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.peak_rss = max(self.peak_rss, self.ps.memory_info().rss)
            except psutil.Error:
                return

    def cpu_seconds(self) -> float:
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    def stop(self) -> None:
        self._stop.set()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def run_wrk(
    wrk: str,
    url: str,
    script: Path,
    body_file: Path,
    *,
    connections: int,
    delay_ms: int,
    seconds: int,
    distinct: bool = False,
) -> dict[str, Any]:
    env = {
        **os.environ,
        "KUBECAP_BENCH_BODY": str(body_file),
        "KUBECAP_BENCH_DELAY_MS": str(delay_ms),
        "KUBECAP_BENCH_DISTINCT": "1" if distinct else "0",
    }
    done = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            url + "/mutate",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    line = next((out for out in done.stdout.splitlines() if out.startswith("KUBECAP_RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(line.removeprefix("KUBECAP_RESULT "))
    return result


def audit_dropped(server: Server) -> int | None:
    """kubecap_webhook_audit_dropped_total from the server's /metrics (None for the floor, which has none)."""
    if not server.has_metrics:
        return None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # loopback, our own throwaway certificate
    try:
        with urllib.request.urlopen(server.url + "/metrics", context=context, timeout=5) as answer:
            text = answer.read().decode()
    except (OSError, ValueError):
        return None
    for line in text.splitlines():
        if line.startswith("kubecap_webhook_audit_dropped_total "):
            return int(float(line.split()[1]))
    return None


def measure(
    server: Server,
    wrk: str,
    script: Path,
    body_file: Path,
    rate: int | None,
    seconds: int,
    *,
    distinct: bool = False,
) -> dict[str, Any]:
    if rate is None:
        connections, delay_ms = 32, 0
    else:
        # Each connection sends one review every `delay_ms` (plus the answer's latency).
        connections = max(1, rate // 20)
        delay_ms = round(connections * 1000 / rate)
    dropped_before = audit_dropped(server)
    cpu_before = server.cpu_seconds()
    result = run_wrk(
        wrk,
        server.url,
        script,
        body_file,
        connections=connections,
        delay_ms=delay_ms,
        seconds=seconds,
        distinct=distinct,
    )
    cpu = server.cpu_seconds() - cpu_before
    dropped_after = audit_dropped(server)
    # Audit events the webhook could not write (queue full): every mutation must be audited, so
    # these count as errors of the webhook even though the apiserver got its answers.
    dropped = None if dropped_before is None or dropped_after is None else dropped_after - dropped_before
    requests = result["requests"]
    errors = result["socket_errors"] + result["non_2xx"] + result["timeouts"]
    return {
        "target_rate": rate,
        "distinct": distinct,
        "connections": connections,
        "seconds": seconds,
        "requests": requests,
        "throughput": round(requests / (result["duration_us"] / 1e6), 1),
        "p50_ms": round(result["p50_us"] / 1000, 3),
        "p99_ms": round(result["p99_us"] / 1000, 3),
        "max_ms": round(result["max_us"] / 1000, 3),
        "errors": errors,
        "audit_dropped": dropped,
        "cpu_ms_per_review": round(cpu * 1000 / requests, 4) if requests else None,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=60, help="seconds per fixed-rate run")
    parser.add_argument("--max-duration", type=int, default=20, help="seconds of the saturating run")
    parser.add_argument("--rates", default="500,1000", help="fixed rates, reviews per second")
    parser.add_argument(
        "--distinct-rates",
        default="1000",
        help="fixed rates run again with distinct container resources in every review (empty: none)",
    )
    parser.add_argument("--floor-server", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_server:
        serve_floor(*args.floor_server)
        return
    wrk = ensure_wrk()
    rates = [int(r) for r in args.rates.split(",") if r]
    distinct_rates = [int(r) for r in args.distinct_rates.split(",") if r]
    with tempfile.TemporaryDirectory(prefix="kubecap-bench-webhook-") as tmp:
        folder = Path(tmp)
        now = datetime.now(UTC)
        ca = make_ca("bench", now, 2)
        serving = make_serving(ca, ["127.0.0.1"], now, 2)
        cert, key = folder / "tls.crt", folder / "tls.key"
        cert.write_bytes(serving.cert_pem)
        key.write_bytes(serving.key_pem)
        script, body_file = folder / "review.lua", folder / "review.json"
        script.write_text(LUA)
        payload = review_body()
        body_file.write_bytes(payload)
        database = f"sqlite:///{folder / 'kubecap.db'}"
        asyncio.run(prepare_store(database))
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBECAP_")}
        servers = {
            "webhook": (
                [
                    sys.executable,
                    "-m",
                    "kubecap.cli",
                    "webhook",
                    "serve",
                    "--no-read-annotations",
                    "--cert-file",
                    str(cert),
                    "--key-file",
                    str(key),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--database-url",
                    database,
                    "--cluster",
                    CLUSTER,
                ],
                "kubecap webhook for cluster",
            ),
            "floor": ([sys.executable, __file__, "--floor-server", str(cert), str(key)], "floor on "),
        }
        # Both servers run from the start and take turns, load by load (webhook, then floor):
        # the machine's speed drifts over minutes, and measuring one server's runs all before
        # the other's turned that drift into the cost ratio.
        started = {name: Server(command, marker, env) for name, (command, marker) in servers.items()}
        results: dict[str, Any] = {name: {"runs": []} for name in started}
        loads = [(rate, args.duration, False) for rate in rates]
        # The same fixed rates again, every review's containers new to the plan memo.
        loads += [(rate, args.duration, True) for rate in distinct_rates]
        try:
            for server in started.values():  # warm up: TLS sessions, caches, the snapshot
                measure(server, wrk, script, body_file, 200, 3)
            for rate, seconds, distinct in loads:
                for name, server in started.items():
                    run = measure(server, wrk, script, body_file, rate, seconds, distinct=distinct)
                    results[name]["runs"].append(run)
            for name, server in started.items():
                saturated = measure(server, wrk, script, body_file, None, args.max_duration)
                results[name]["max"] = saturated
                # Sustained: no error and no audit event lost (every mutation is audited).
                results[name]["max_sustained_rate"] = (
                    saturated["throughput"]
                    if saturated["errors"] == 0 and not saturated["audit_dropped"]
                    else None
                )
        finally:
            for name, server in started.items():
                server.stop()
                results[name]["peak_rss_mib"] = round(server.peak_rss / 2**20, 1)
    hook, floor = results["webhook"], results["floor"]
    cost = [
        round(h["cpu_ms_per_review"] / f["cpu_ms_per_review"], 2)
        if h["cpu_ms_per_review"] and f["cpu_ms_per_review"]
        else None
        for h, f in zip([*hook["runs"], hook["max"]], [*floor["runs"], floor["max"]], strict=True)
    ]
    print(
        f"{'server':<8} {'load':>16} {'achieved/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'audit lost':>10} {'cpu ms/review':>14} {'loadavg':>8}"
    )
    for name in ("webhook", "floor"):
        for run in [*results[name]["runs"], results[name]["max"]]:
            load = f"{run['target_rate']}/s" if run["target_rate"] else "max"
            load += " distinct" if run["distinct"] else ""
            print(
                f"{name:<8} {load:>16} {run['throughput']:>11.1f} {run['p50_ms']:>8.3f} {run['p99_ms']:>8.3f} "
                f"{run['errors']:>7} {'-' if run['audit_dropped'] is None else run['audit_dropped']:>10} "
                f"{run['cpu_ms_per_review'] or 0:>14.4f} {run['load_average_1m']:>8.2f}"
            )
        print(
            f"{name:<8} peak RSS {results[name]['peak_rss_mib']} MiB, max sustained {results[name]['max_sustained_rate']}/s"
        )
    print(f"cost (webhook CPU per review / floor's), per load: {cost}; body {len(payload)} bytes")
    summary = {
        "benchmark": "webhook",
        "review_bytes": len(payload),
        "rates": rates,
        "distinct_rates": distinct_rates,
        "duration_s": args.duration,
        "max_duration_s": args.max_duration,
        "webhook": hook,
        "floor": floor,
        "cost_ratio": cost,
        "p99_ms_at_1000": next(
            (r["p99_ms"] for r in hook["runs"] if r["target_rate"] == 1000 and not r["distinct"]), None
        ),
        "errors": sum(r["errors"] for r in [*hook["runs"], hook["max"]]),
        "audit_dropped": sum(r["audit_dropped"] or 0 for r in [*hook["runs"], hook["max"]]),
        "wrk": subprocess.run([wrk, "--version"], capture_output=True, text=True)
        .stdout.split("\n")[0]
        .strip(),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
