"""Node load read from a REAL Prometheus holding node-exporter and kube-state-metrics history.

The store holds three clusters told apart by a ``cluster`` label:
- "prod": nodes exported every way a scrape config names them — the internal IP with the
  exporter's port (node-a), the node name without a port (node-b), a ``node`` label next to
  an IP (node-c, known only from the cluster), an FQDN instance for a short node name
  (node-f); a node without any series (node-d) and a series of no known node (10.9.9.9);
  pods scheduled in the last minutes on node-a;
- "other": the same instances with everything at 0.99, so a query that forgot the cluster
  label would show it;
- "ruled": only node-mixin's recording rules, no raw node-exporter series.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubecap.domain.node_identity import NodeIdentity
from kubecap.metrics.prometheus import PrometheusClient, PrometheusOptions
from kubecap.scheduling.load import Freshness, LoadSnapshot, Span, freshness
from kubecap.scheduling.nodeload import NodeLoadCache, NodeLoadReader
from kubecap.scheduling.settings import NodeLoadSettings
from kubecap.testing.prometheus import PrometheusServer, backfill
from tests.scheduling.node_exporter import ExporterNode, History, constant, node_info, scheduled_pod

pytestmark = pytest.mark.prometheus

START = datetime(2024, 3, 4, tzinfo=UTC)
END = START + timedelta(hours=26)
E = END.timestamp()
GI = 2**30
MI = 2**20
PROD = {"cluster": "prod"}


def _history() -> History:
    history = History(START.timestamp(), E)
    job = {"job": "node-exporter"}
    prod_nodes = [
        ExporterNode(
            {**PROD, **job, "instance": "10.0.0.1:9100"},
            constant(0.30, (E - 10 * 3600, E - 10 * 3600 + 1200, 0.90)),
            constant(0.40),
        ),
        ExporterNode(
            {**PROD, **job, "instance": "node-b"}, constant(0.50, (E - 2400, E - 1500, 0.80)), constant(0.60)
        ),
        ExporterNode(
            {**PROD, **job, "instance": "10.0.0.3:9100", "node": "node-c"}, constant(0.70), constant(0.20)
        ),
        ExporterNode(
            {**PROD, **job, "instance": "node-f.example.internal:9100"}, constant(0.20), constant(0.30)
        ),
        ExporterNode({**PROD, **job, "instance": "10.9.9.9:9100"}, constant(0.10), constant(0.10)),
    ]
    for node in prod_nodes:
        history.node_exporter(node)
        twin = {**node.labels, "cluster": "other"}
        history.node_exporter(ExporterNode(twin, constant(0.99), constant(0.99)))
    known = [("node-a", "10.0.0.1"), ("node-b", "10.0.0.2"), ("node-d", "10.0.0.4"), ("node-f", "10.0.0.6")]
    node_info(history, PROD, known)
    node_info(history, {"cluster": "other"}, known)
    pods: list[tuple[str, float, list[tuple[str, float]], list[tuple[str, float]], str]] = [
        ("new-1", E - 120, [("cpu", 1.0), ("memory", GI)], [("cpu", 2.0), ("memory", GI)], "node-a"),
        ("new-2", E - 30, [("cpu", 0.5)], [], "node-a"),
        ("new-3", E - 45, [], [("memory", 512 * MI)], "node-a"),
        ("old", E - 1200, [("cpu", 4.0)], [], "node-b"),
    ]
    for pod, at, requests, limits, node_name in pods:
        scheduled_pod(
            history, PROD, namespace="shop", pod=pod, node=node_name, at=at, requests=requests, limits=limits
        )
    scheduled_pod(history, {"cluster": "other"}, namespace="shop", pod="twin", node="node-a", at=E - 60)
    ruled = {"cluster": "ruled", **job, "instance": "node-r:9100"}
    history.gauge(
        "instance:node_cpu_utilisation:rate5m",
        ruled,
        constant(0.42, (E - 3 * 3600, E - 3 * 3600 + 600, 0.77)),
    )
    history.gauge("instance:node_memory_utilisation:ratio", ruled, 0.33)
    node_info(history, {"cluster": "ruled"}, [("node-r", "10.1.0.1")])
    return history


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("nodeload")
    backfill(_history().write(root / "om"), root / "data")
    with PrometheusServer(root / "data") as server:
        yield server.url


@dataclass
class Read:
    snapshot: LoadSnapshot
    cache: NodeLoadCache


@pytest.fixture
async def client(prometheus_url: str) -> AsyncIterator[PrometheusClient]:
    async with PrometheusClient(PrometheusOptions(url=prometheus_url, retries=0)) as opened:
        yield opened


async def _read(client: PrometheusClient, cluster: str, **settings: Any) -> Read:
    config = NodeLoadSettings(**settings)
    reader = NodeLoadReader(client, config, cluster_label={"cluster": cluster})
    cache = NodeLoadCache(
        reader, config, clock=lambda: END, identities=[NodeIdentity("node-c")] if cluster == "prod" else ()
    )
    return Read(await cache.refresh(force=True), cache)


def _value(snapshot: LoadSnapshot, node: str, resource: str, span: Span) -> float | None:
    load = snapshot.nodes[node]
    figure = (load.cpu if resource == "cpu" else load.memory).figure(span)
    return None if figure is None else round(figure.value, 6)


EXPECTED = {
    # node: cpu (5m, 1h max, 1d max), memory (5m, 1h max, 1d max)
    "node-a": ((0.30, 0.30, 0.90), (0.40, 0.40, 0.40)),
    "node-b": ((0.50, 0.80, 0.80), (0.60, 0.60, 0.60)),
    "node-c": ((0.70, 0.70, 0.70), (0.20, 0.20, 0.20)),
    "node-f": ((0.20, 0.20, 0.20), (0.30, 0.30, 0.30)),
}


async def test_figures_from_node_exporter_with_subqueries(client: PrometheusClient) -> None:
    read = await _read(client, "prod")
    snapshot = read.snapshot
    assert snapshot.problems == ()
    assert set(snapshot.nodes) == set(EXPECTED)
    for node, (cpu, memory) in EXPECTED.items():
        for span, want_cpu, want_memory in zip(
            (Span.AVG_5M, Span.MAX_1H, Span.MAX_1D), cpu, memory, strict=True
        ):
            assert _value(snapshot, node, "cpu", span) == pytest.approx(want_cpu, abs=1e-6), (node, span)
            assert _value(snapshot, node, "memory", span) == pytest.approx(want_memory, abs=1e-6), (
                node,
                span,
            )
    a = snapshot.nodes["node-a"]
    assert (a.cpu_cores, a.memory_bytes) == (2.0, 8 * GI)
    assert a.series == "node_cpu_seconds_total"


async def test_every_figure_carries_its_time_and_staleness_is_explicit(client: PrometheusClient) -> None:
    snapshot = (await _read(client, "prod")).snapshot
    a = snapshot.nodes["node-a"]
    assert a.cpu.avg_5m is not None and a.cpu.max_1d is not None
    assert a.cpu.avg_5m.at == END  # the newest sample behind it
    assert a.cpu.max_1d.at == END  # a maximum describes its window, which ends now
    assert freshness(a.cpu.avg_5m, Span.AVG_5M, END + timedelta(minutes=2), snapshot.ages) is Freshness.FRESH
    assert freshness(a.cpu.avg_5m, Span.AVG_5M, END + timedelta(minutes=4), snapshot.ages) is Freshness.STALE
    assert freshness(a.cpu.max_1d, Span.MAX_1D, END + timedelta(minutes=90), snapshot.ages) is Freshness.FRESH


async def test_series_are_mapped_to_nodes_and_mismatches_named(client: PrometheusClient) -> None:
    snapshot = (await _read(client, "prod")).snapshot
    assert snapshot.without_data == ("node-d",)
    assert snapshot.unmatched == ("10.9.9.9:9100",)


async def test_recent_bindings_carry_their_estimates(client: PrometheusClient) -> None:
    snapshot = (await _read(client, "prod")).snapshot
    assert set(snapshot.recent) == {"node-a"}  # old is outside the window, twin in another cluster
    recent = snapshot.recent["node-a"]
    assert [(b.pod, b.at) for b in recent] == [
        ("shop/new-1", END - timedelta(seconds=120)),
        ("shop/new-3", END - timedelta(seconds=45)),
        ("shop/new-2", END - timedelta(seconds=30)),
    ]
    assert [round(b.cpu, 6) for b in recent] == [1.7, 0.25, 0.425]
    assert [round(b.memory) for b in recent] == [round(0.7 * GI), round(0.7 * 512 * MI), 200 * MI]


async def test_recording_rules_are_used_when_present(client: PrometheusClient) -> None:
    snapshot = (await _read(client, "ruled")).snapshot
    assert snapshot.problems == ()
    r = snapshot.nodes["node-r"]
    assert r.series == "instance:node_cpu_utilisation:rate5m"
    assert _value(snapshot, "node-r", "cpu", Span.AVG_5M) == pytest.approx(0.42)
    assert _value(snapshot, "node-r", "cpu", Span.MAX_1H) == pytest.approx(0.42)
    assert _value(snapshot, "node-r", "cpu", Span.MAX_1D) == pytest.approx(0.77)
    assert _value(snapshot, "node-r", "memory", Span.MAX_1D) == pytest.approx(0.33)


async def test_without_recording_rules_forced_the_raw_series_answer(client: PrometheusClient) -> None:
    # The "ruled" cluster has no raw series: refusing the rules leaves it without data, by name.
    snapshot = (await _read(client, "ruled", recording_rules="never")).snapshot
    assert snapshot.nodes == {}
    assert snapshot.without_data == ("node-r",)


async def test_a_refresh_round_runs_only_the_steps_that_are_due(client: PrometheusClient) -> None:
    steps: list[str] = []
    config = NodeLoadSettings()
    reader = NodeLoadReader(client, config, cluster_label=PROD)
    cache = NodeLoadCache(reader, config, clock=lambda: END, on_step=lambda name, ok, _s: steps.append(name))
    await cache.refresh()
    assert steps == ["identities", "current", "hour", "day", "recent"]
    steps.clear()
    await cache.refresh()
    assert steps == []  # nothing due a moment later
    assert cache.snapshot.nodes["node-a"].cpu.max_1d is not None  # figures kept between rounds


async def test_cluster_label_values_are_escaped(prometheus_url: str) -> None:
    # A quote in the cluster name must not break out of the matcher: no series, no error.
    async with PrometheusClient(PrometheusOptions(url=prometheus_url, retries=0)) as opened:
        config = NodeLoadSettings()
        reader = NodeLoadReader(opened, config, cluster_label={"cluster": 'x"} or vector(1) #'})
        snapshot = await NodeLoadCache(reader, config, clock=lambda: END).refresh(force=True)
    assert snapshot.nodes == {}
    assert snapshot.problems == ()
