"""The extender over real HTTP on 127.0.0.1, fed request bodies exactly as kube-scheduler sends them."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from kubecap.domain.node_identity import NodeIdentity
from kubecap.metrics.prometheus import PrometheusClient, PrometheusOptions
from kubecap.scheduling.extender import Extender, build_extender
from kubecap.scheduling.load import Figure, LoadSnapshot, NodeLoad, ResourceLoad
from kubecap.scheduling.metrics import NodeLoadMetrics
from kubecap.scheduling.nodeload import NodeLoadCache, NodeLoadReader
from kubecap.scheduling.policy import LoadPolicy
from kubecap.scheduling.server import serving
from kubecap.scheduling.settings import NodeLoadSettings
from kubecap.testing.prometheus import PrometheusServer, backfill
from tests.scheduling.kube_requests import DAEMONSET_POD, names_form, nodes_form
from tests.scheduling.node_exporter import ExporterNode, History, constant

NOW = datetime(2024, 3, 5, 2, 0, tzinfo=UTC)
HEADERS = {"Content-Type": "application/json"}


def _resource(value: float, hour: float | None = None) -> ResourceLoad:
    at = NOW - timedelta(seconds=20)
    return ResourceLoad(Figure(value, at), Figure(hour if hour is not None else value, at), Figure(value, at))


SNAPSHOT = LoadSnapshot(
    taken_at=NOW,
    nodes={
        "node-a": NodeLoad("node-a", _resource(0.20), _resource(0.30), cpu_cores=8, memory_bytes=32 * 2**30),
        "node-b": NodeLoad("node-b", _resource(0.80), _resource(0.30), cpu_cores=8, memory_bytes=32 * 2**30),
        "node-c": NodeLoad(
            "node-c", _resource(0.50, hour=0.60), _resource(0.40), cpu_cores=8, memory_bytes=32 * 2**30
        ),
    },
)


@dataclass
class Running:
    url: str
    http: httpx.AsyncClient
    extender: Extender
    learned: list[NodeIdentity] = field(default_factory=list)

    async def post(self, verb: str, body: bytes) -> httpx.Response:
        return await self.http.post(f"{self.url}/{verb}", content=body, headers=HEADERS)

    async def metrics(self) -> str:
        return (await self.http.get(f"{self.url}/metrics")).text


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    learned: list[NodeIdentity] = []
    extender = build_extender(lambda: SNAPSHOT, LoadPolicy(), clock=lambda: NOW, learn=learned.extend)
    async with serving(extender.app, "127.0.0.1", 0) as server, httpx.AsyncClient(trust_env=False) as http:
        yield Running(server.url, http, extender, learned)


def _sample(metrics: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    prefix = f"{name}{{{wanted}}} " if labels else f"{name} "
    for line in metrics.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return 0.0


async def test_filter_in_the_names_form(running: Running) -> None:
    response = await running.post("filter", names_form(["node-a", "node-b", "node-c"]))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "Nodes": None,
        "NodeNames": ["node-a", "node-c"],
        "FailedNodes": {"node-b": "kubecap: node is loaded: cpu avg_5m 0.80 > 0.65"},
        "FailedAndUnresolvableNodes": {},
        "Error": "",
    }


async def test_filter_in_the_nodes_form_returns_the_objects_and_learns_addresses(running: Running) -> None:
    body = nodes_form([("node-a", "10.0.0.1"), ("node-b", "10.0.0.2")])
    result = (await running.post("filter", body)).json()
    assert result["NodeNames"] is None
    assert [n["metadata"]["name"] for n in result["Nodes"]["items"]] == ["node-a"]
    assert result["Nodes"]["items"][0]["status"]["addresses"][0] == {
        "type": "InternalIP",
        "address": "10.0.0.1",
    }
    assert result["FailedNodes"] == {"node-b": "kubecap: node is loaded: cpu avg_5m 0.80 > 0.65"}
    assert NodeIdentity("node-a", ("10.0.0.1", "node-a")) in running.learned


async def test_prioritize_scores_every_candidate_from_0_to_10(running: Running) -> None:
    response = await running.post("prioritize", names_form(["node-c", "node-a", "node-gone"]))
    assert response.status_code == 200
    scores = response.json()
    assert [s["Host"] for s in scores] == ["node-c", "node-a", "node-gone"]
    assert all(isinstance(s["Score"], int) and 0 <= s["Score"] <= 10 for s in scores)
    by_host = {s["Host"]: s["Score"] for s in scores}
    assert by_host["node-a"] > by_host["node-c"]
    assert by_host["node-gone"] == 5  # renamed or gone: neutral, no error


async def test_prioritize_in_the_nodes_form(running: Running) -> None:
    scores = (await running.post("prioritize", nodes_form([("node-b", "10.0.0.2")]))).json()
    assert scores == [{"Host": "node-b", "Score": scores[0]["Score"]}]


async def test_daemonset_pods_pass_everywhere(running: Running) -> None:
    result = (await running.post("filter", names_form(["node-a", "node-b"], DAEMONSET_POD))).json()
    assert result["NodeNames"] == ["node-a", "node-b"] and result["FailedNodes"] == {}
    assert (
        _sample(await running.metrics(), "kubecap_extender_requests_total", verb="filter", outcome="skipped")
        == 1
    )


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", b'{"Pod": null, "NodeNames": ["a"]}', b'{"Pod": {"metadata": {"name": "p"}}}'],
)
async def test_malformed_requests_get_a_json_error_and_the_server_goes_on(
    running: Running, body: bytes
) -> None:
    response = await running.post("filter", body)
    assert response.status_code == 200  # kube-scheduler reads Error only from a 200
    result = response.json()
    assert result["Error"] and result["NodeNames"] is None and result["Nodes"] is None
    bad = await running.post("prioritize", body)
    assert bad.status_code == 400 and bad.json()["Error"] == result["Error"]
    good = await running.post("filter", names_form(["node-a"]))
    assert good.json()["NodeNames"] == ["node-a"]
    metrics = await running.metrics()
    assert _sample(metrics, "kubecap_extender_requests_total", verb="filter", outcome="error") == 1
    assert _sample(metrics, "kubecap_extender_requests_total", verb="prioritize", outcome="error") == 1


async def test_wrong_method_and_path(running: Running) -> None:
    assert (await running.http.get(f"{running.url}/filter")).status_code == 405
    assert (await running.http.post(f"{running.url}/bind", content=b"{}")).status_code == 404


async def test_metrics_count_decisions_and_time_them(running: Running) -> None:
    await running.post("filter", names_form(["node-a", "node-b", "node-c", "node-x"]))
    await running.post("prioritize", names_form(["node-a", "node-x"]))
    metrics = await running.metrics()
    assert _sample(metrics, "kubecap_extender_node_decisions_total", verb="filter", decision="passed") == 2
    assert _sample(metrics, "kubecap_extender_node_decisions_total", verb="filter", decision="filtered") == 1
    assert _sample(metrics, "kubecap_extender_node_decisions_total", verb="filter", decision="no_data") == 1
    assert (
        _sample(metrics, "kubecap_extender_node_decisions_total", verb="prioritize", decision="scored") == 1
    )
    assert _sample(metrics, "kubecap_extender_request_seconds_count", verb="filter") == 1
    assert _sample(metrics, "kubecap_extender_request_seconds_count", verb="prioritize") == 1


async def test_nodes_page_and_health(running: Running) -> None:
    document = (await running.http.get(f"{running.url}/nodes")).json()
    assert document["nodes"]["node-b"]["cpu_avg_5m"] == {
        "value": 0.8,
        "at": "2024-03-05T01:59:40+00:00",
        "fresh": True,
    }
    assert (await running.http.get(f"{running.url}/healthz")).text == "ok\n"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _extender_on_cache(cache: NodeLoadCache, registry: CollectorRegistry, clock: Any) -> Extender:
    return build_extender(
        lambda: cache.snapshot, LoadPolicy(), clock=clock, learn=cache.learn, registry=registry
    )


async def test_prometheus_down_fails_open() -> None:
    registry = CollectorRegistry()
    settings = NodeLoadSettings()
    async with PrometheusClient(
        PrometheusOptions(url=f"http://127.0.0.1:{_closed_port()}", retries=0)
    ) as client:
        load_metrics = NodeLoadMetrics(registry, lambda: cache.snapshot)
        cache = NodeLoadCache(
            NodeLoadReader(client, settings), settings, clock=lambda: NOW, on_step=load_metrics.step
        )
        snapshot = await cache.refresh()
    assert snapshot.problems and all("cannot reach Prometheus" in p for p in snapshot.problems)
    extender = await _extender_on_cache(cache, registry, lambda: NOW)
    async with serving(extender.app) as server, httpx.AsyncClient(trust_env=False) as http:
        result = (await http.post(f"{server.url}/filter", content=names_form(["node-a", "node-b"]))).json()
        scores = (
            await http.post(f"{server.url}/prioritize", content=names_form(["node-a", "node-b"]))
        ).json()
        metrics = (await http.get(f"{server.url}/metrics")).text
    assert result["NodeNames"] == ["node-a", "node-b"] and result["Error"] == ""
    assert scores == [{"Host": "node-a", "Score": 5}, {"Host": "node-b", "Score": 5}]
    assert _sample(metrics, "kubecap_node_load_up") == 0
    assert _sample(metrics, "kubecap_node_load_refresh_steps_total", step="current", result="failed") == 1
    assert _sample(metrics, "kubecap_extender_requests_total", verb="filter", outcome="fail_open") == 1
    assert _sample(metrics, "kubecap_extender_requests_total", verb="prioritize", outcome="fail_open") == 1


async def test_when_prometheus_goes_away_figures_turn_stale_and_the_extender_fails_open(
    tmp_path: Path,
) -> None:
    end = NOW
    history = History((end - timedelta(hours=2)).timestamp(), end.timestamp())
    history.node_exporter(ExporterNode({"instance": "node-a:9100"}, constant(0.9), constant(0.3)))
    history.node_exporter(ExporterNode({"instance": "node-b:9100"}, constant(0.1), constant(0.3)))
    backfill(history.write(tmp_path / "om"), tmp_path / "data")
    clock = [end]
    registry = CollectorRegistry()
    settings = NodeLoadSettings()
    async with PrometheusServer(tmp_path / "data") as prometheus:
        client = PrometheusClient(PrometheusOptions(url=prometheus.url, retries=0))
        cache = NodeLoadCache(NodeLoadReader(client, settings), settings, clock=lambda: clock[0])
        NodeLoadMetrics(registry, lambda: cache.snapshot)
        await cache.refresh(force=True)
    try:
        extender = await _extender_on_cache(cache, registry, lambda: clock[0])
        async with serving(extender.app) as server, httpx.AsyncClient(trust_env=False) as http:

            async def ask() -> tuple[Any, Any]:
                body = names_form(["node-a", "node-b"])
                filtered = (await http.post(f"{server.url}/filter", content=body)).json()
                scored = (await http.post(f"{server.url}/prioritize", content=body)).json()
                return filtered, scored

            filtered, scored = await ask()
            assert filtered["NodeNames"] == ["node-b"]  # node-a is at 0.9
            assert scored[0]["Score"] < scored[1]["Score"]
            clock[0] = end + timedelta(hours=3)  # Prometheus is gone: every figure ages past its limit
            await cache.refresh(force=True)
            assert any("cannot reach Prometheus" in p for p in cache.snapshot.problems)
            filtered, scored = await ask()
            assert filtered["NodeNames"] == ["node-a", "node-b"]
            assert [s["Score"] for s in scored] == [5, 5]
            document = (await http.get(f"{server.url}/nodes")).json()
            assert document["nodes"]["node-a"]["cpu_avg_5m"]["fresh"] is False
    finally:
        await client.aclose()
