"""Node figures by hand: instance→node mapping, rows from Prometheus samples, the simulated figures, placement."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
import pytest

from kubecap.domain.node_identity import NodeIdentity, NodeIndex
from kubecap.domain.window import windows_of_day
from kubecap.errors import ConfigError
from kubecap.metrics.nodes import (
    NO_NODE_INFO,
    NodeDay,
    ksm_label,
    node_days_from_samples,
    node_rows,
)
from kubecap.metrics.sim_node_profile import NodeSamples, node_figures
from kubecap.metrics.sim_nodes import per_cpu
from kubecap.metrics.simulated import SimulatedSource, scenario_from_yaml

DAY = date(2026, 3, 9)
GI, MI = 2.0**30, 2.0**20


@dataclass(frozen=True)
class Sample:
    labels: Mapping[str, str]
    value: float = 1.0


def sample(figure: str, value: float = 1.0, **labels: str) -> Sample:
    return Sample({"figure": figure, **labels}, value)


INDEX = NodeIndex.build(
    NodeIdentity(name, (ip,))
    for name, ip in (("a", "10.0.0.1"), ("b", "10.0.0.2"), ("c", "10.0.0.3"), ("v6", "fd00::1"))
)


@pytest.mark.parametrize(
    ("instance", "node"),
    [
        ("10.0.0.1:9100", "a"),  # node-exporter's default: internal IP and port
        ("10.0.0.1", "a"),  # relabelled to the IP
        ("a", "a"),  # relabelled to the node name
        ("b:9100", "b"),  # a node name with a port
        ("[fd00::1]:9100", "v6"),
        ("fd00::1", "v6"),
        ("10.0.0.9:9100", None),  # no such IP
        ("elsewhere", None),
    ],
)
def test_instances_map_to_nodes_by_name_or_internal_ip(instance: str, node: str | None) -> None:
    assert INDEX.resolve({"instance": instance}) == node


def test_kube_state_metrics_labels() -> None:
    assert ksm_label("cloud.google.com/gke-nodepool") == "label_cloud_google_com_gke_nodepool"


def prometheus_samples() -> list[Sample]:
    """What the catalogue's nodes query returns for three nodes, written by hand."""
    return [
        sample("info", node="a", internal_ip="10.0.0.1"),
        sample("info", node="b", internal_ip="10.0.0.2"),
        sample("info", node="c", internal_ip="10.0.0.3"),
        sample("cpu_p99", 1.5, instance="10.0.0.1:9100"),
        sample("mem_p99", 3 * GI, instance="10.0.0.1:9100"),
        sample("cpu_p99", 0.25, instance="b"),
        sample("mem_p99", 1 * GI, instance="b"),
        sample("cpu_p99", 9.0, instance="10.0.0.9:9100"),  # a machine that is no node
        sample("labels", node="a", label_cloud_google_com_gke_nodepool="general"),
        sample("labels", node="b", label_agentpool="other", label_kubecap_io_pool="spare"),
        sample("cpu_allocatable", 4.0, node="a"),
        sample("mem_allocatable", 16 * GI, node="a"),
        sample("cpu_allocatable", 2.0, node="b"),
        sample("mem_allocatable", 8 * GI, node="b"),
        # c has no allocatable: left out, and named.
        sample("cpu_requests", 2.5, node="a"),
        sample("mem_requests", 6 * GI, node="a"),
        sample("other_pods", 3, node="a"),
        sample("unplaced_requests", 2),  # pending pods: not on any node
    ]


def test_rows_from_prometheus_samples() -> None:
    days, warnings = node_days_from_samples(prometheus_samples())
    assert warnings == [
        "node-exporter instance(s) 10.0.0.9:9100 match no node of kube_node_info by name or internal IP:"
        " their data is left out; relabel instance to the node name or its IP"
    ]
    assert days[0] == NodeDay("a", 1.5, 3 * GI, 4.0, 16 * GI, 2.5, 6 * GI, True, "general")
    # kubecap's own pool label wins over the clouds'; no requests and no other pods: a DaemonSet-only node.
    assert days[1] == NodeDay("b", 0.25, 1 * GI, 2.0, 8 * GI, None, None, False, "spare")
    assert days[2] == NodeDay("c", None, None, None, None, None, None, False, None)

    rows, more = node_rows("prod", DAY, days)
    assert [(r.node, r.daemonset_only, r.cpu_requests, r.mem_requests, r.pool) for r in rows] == [
        ("a", False, 2.5, 6 * GI, "general"),
        ("b", True, 0.0, 0.0, "spare"),
    ]
    assert all(r.cluster == "prod" and r.day == DAY for r in rows)
    assert more == [
        "no kube_node_status_allocatable for node(s) c: they are left out of the node figures;"
        " is kube-state-metrics v2 scraped?"
    ]


def test_without_node_info_or_node_labels_on_requests_there_are_no_rows() -> None:
    assert node_days_from_samples([sample("cpu_p99", 1.0, instance="x:9100")]) == ([], [NO_NODE_INFO])
    unplaced = [s for s in prometheus_samples() if not s.labels["figure"].endswith("_requests")]
    days, warnings = node_days_from_samples([*unplaced, sample("unplaced_requests", 40)])
    assert days == []
    assert warnings == [
        "kube_pod_container_resource_requests has no node label: node requests are unknown and node figures"
        " are left out; scrape kube-state-metrics v2, which adds it"
    ]


def test_nodes_without_node_exporter_are_named_and_kept() -> None:
    blind = [NodeDay(f"n{i}", None, None, 2.0, GI, None, None, True, None) for i in range(12)]
    rows, warnings = node_rows("prod", DAY, blind)
    assert len(rows) == 12 and all(r.cpu_p99 is None and r.mem_p99 is None for r in rows)
    assert warnings == [
        "no node-exporter data for node(s) n0, n1, n10, n11, n2, n3, n4, n5, n6, n7 and 2 more: their CPU and"
        " memory usage is unknown; is node-exporter scraped there, with an instance label naming the node or"
        " its internal IP?"
    ]


def test_per_cpu_counters_sum_to_the_node_and_never_decrease() -> None:
    totals = np.array([[7, 10, 13, 13, 20]], dtype=np.int64)
    split = per_cpu(totals, 3)
    assert split[:, 0].tolist() == [2, 2, 3]
    assert (split.sum(axis=0) == totals[0]).all()
    assert (np.diff(split, axis=1) >= 0).all()


@dataclass
class Samples:
    """Two nodes over 11 samples a minute apart; node 1 has no node-exporter."""

    times: np.ndarray = field(default_factory=lambda: np.arange(0, 660, 60, dtype=np.int64))

    def build(self) -> NodeSamples:
        t = self.times.astype(np.float64)
        # Node 0 has 2 CPUs and one busy mode: CPU 0 is busy 0.5 s/s until t=300, then 1 s/s;
        # CPU 1 is busy 0.25 s/s throughout.
        cpu0 = np.where(t <= 300, 0.5 * t, 150 + 1.0 * (t - 300))
        cpu1 = 100 + 0.25 * t
        # Pods: 0 (node 0, DaemonSet), 1 (node 0, other, gone after t=180), 2 (node 1, DaemonSet).
        pod_present = np.ones((3, 11), dtype=bool)
        pod_present[1, 4:] = False
        # Containers: of pod 0 (0.5 cores, 100 B), of pod 1 (0.25 cores, no memory request),
        # of pod 2 (1 core, 200 B), the last one only from t=480.
        container_present = pod_present.copy()
        container_present[2, :8] = False
        return NodeSamples(
            times=self.times,
            node_present=np.ones(11, dtype=bool),
            allocatable=np.array([[4.0, 1000.0], [2.0, 500.0]]),
            exporter=np.array([True, False]),
            busy=np.stack([cpu0, cpu1]),
            busy_node=np.array([0, 0]),
            mem_total=np.array([1000.0, 500.0]),
            mem_available=np.stack([1000.0 - 10 * np.arange(11), np.full(11, 400.0)]),
            requests=np.array([[0.5, 100.0], [0.25, np.nan], [1.0, 200.0]]),
            container_present=container_present,
            container_node=np.array([0, 0, 1]),
            pod_present=pod_present,
            pod_node=np.array([0, 0, 1]),
            pod_daemonset=np.array([True, False, True]),
        )


def test_node_figures_by_hand() -> None:
    figures = node_figures(Samples().build(), np.array([300, 600], dtype=np.int64))
    assert figures.seen.tolist() == [True, True]
    # Busy cores: 0.5 + 0.25 at t=300, 1 + 0.25 at t=600; P99 of two points = 0.75·0.01 + 1.25·0.99.
    assert figures.cpu_p99[0] == pytest.approx(0.75 * 0.01 + 1.25 * 0.99)
    # Used memory: 1000 − 950 at t=300, 1000 − 900 at t=600.
    assert figures.mem_p99[0] == pytest.approx(50 * 0.01 + 100 * 0.99)
    assert np.isnan(figures.cpu_p99[1]) and np.isnan(figures.mem_p99[1])  # no node-exporter
    # Requests: pod 1's container (last sample t=180) is in t=300's 5-minute lookback: 0.75 cores;
    # it has no memory request. Node 1's container appears at t=480.
    assert figures.requests.tolist() == [[0.75, 100.0], [1.0, 200.0]]
    assert figures.other_pods.tolist() == [True, False]
    assert figures.allocatable.tolist() == [[4.0, 1000.0], [2.0, 500.0]]


POOLS = """
cluster: nodes
timezone: UTC
end: "2026-03-10T00:00"
days: 1
pod_spread: 0
node_pools:
  - {name: a, count: 2, cpu: "2", memory: 4Gi, system_cpu: 0, system_memory: 0}
  - {name: b, count: 3, cpu: 1500m, memory: 2Gi, node_exporter: ip}
  - {name: idle, count: 1, cpu: "1", memory: 1Gi, system_cpu: 0, system_memory: 0}
namespaces:
  x:
    - kind: Deployment
      name: web
      replicas: 3
      containers:
        - name: app
          requests: {cpu: 100m, memory: 64Mi}
          cpu: {constant: 100m, noise: 0}
          memory: {constant: 100Mi, noise: 0}
    - kind: StatefulSet
      name: db
      replicas: 2
      pool: b
      containers:
        - {name: db, cpu: {constant: 10m}, memory: {constant: 10Mi}}
    - kind: Deployment
      name: api
      replicas: 2
      containers:
        - name: app
          requests: {cpu: 200m}
          cpu: {constant: 200m, noise: 0}
          memory: {constant: 20Mi, noise: 0}
    - kind: DaemonSet
      name: agent
      replicas: 6
      containers:
        - name: agent
          requests: {cpu: 50m, memory: 32Mi}
          cpu: {constant: 50m, noise: 0}
          memory: {constant: 30Mi, noise: 0}
    - kind: DaemonSet
      name: b-only
      replicas: 3
      pool: b
      containers:
        - {name: c, cpu: {constant: 1m}, memory: {constant: 1Mi}}
"""
NOW = datetime(2026, 3, 10, tzinfo=UTC)


def test_pods_are_placed_on_their_pools_round_robin_and_daemonsets_on_every_node() -> None:
    data = SimulatedSource(scenario_from_yaml(POOLS), now=NOW).data()
    assert [(n.name, n.internal_ip, n.instance, n.cpus) for n in data.nodes] == [
        ("a-0", "10.0.0.10", "10.0.0.10:9100", 2),
        ("a-1", "10.0.0.11", "10.0.0.11:9100", 2),
        ("b-0", "10.0.1.10", "10.0.1.10", 2),
        ("b-1", "10.0.1.11", "10.0.1.11", 2),
        ("b-2", "10.0.1.12", "10.0.1.12", 2),
        ("idle-0", "10.0.2.10", "10.0.2.10:9100", 1),
    ]
    assert data.nodes[0].mem_total == 4 * GI and data.nodes[2].mem_total == 2 * GI + 512 * MI
    placed: dict[str, list[str]] = {}
    for pod, node in zip(data.pods, data.pod_node.tolist(), strict=True):
        placed.setdefault(
            pod.owner_name.split("-")[0] if pod.owner_kind == "ReplicaSet" else pod.owner_name, []
        ).append(data.nodes[node].name)
    # web and api share the first pool (the default), api continuing where web stopped.
    assert placed == {
        "web": ["a-0", "a-1", "a-0"],
        "db": ["b-0", "b-1"],
        "api": ["a-1", "a-0"],
        "agent": ["a-0", "a-1", "b-0", "b-1", "b-2", "idle-0"],
        "b-only": ["b-0", "b-1", "b-2"],
    }


def test_simulated_node_figures_follow_the_pods_on_each_node() -> None:
    source = SimulatedSource(scenario_from_yaml(POOLS), now=NOW)
    (window,) = windows_of_day(date(2026, 3, 9), [], source.scenario.tz)
    rows, warnings = source.nodes(window)
    assert warnings == []
    by_node = {r.node: r for r in rows}
    a0, idle = by_node["a-0"], by_node["idle-0"]
    # a-0 runs two web pods, one api pod and the agent, with no noise and no system overhead.
    assert a0.cpu_p99 == pytest.approx(2 * 0.1 + 0.2 + 0.05, rel=1e-6)
    assert a0.mem_p99 == 2 * 100 * MI + 20 * MI + 30 * MI
    assert a0.cpu_requests == pytest.approx(0.45) and a0.mem_requests == 2 * 64 * MI + 32 * MI
    assert (a0.cpu_allocatable, a0.mem_allocatable, a0.pool, a0.daemonset_only) == (2.0, 4 * GI, "a", False)
    # Only the agent runs on the idle pool.
    assert idle.daemonset_only and idle.pool == "idle"
    assert idle.cpu_p99 == pytest.approx(0.05, rel=1e-6) and idle.mem_p99 == 30 * MI
    assert (idle.cpu_requests, idle.mem_requests) == (0.05, 32 * MI)
    assert not by_node["b-0"].daemonset_only  # db-0
    assert by_node["b-2"].daemonset_only  # only the two DaemonSets


def test_a_scenario_without_node_pools_has_no_node_figures() -> None:
    plain = POOLS[: POOLS.index("node_pools:")] + POOLS[POOLS.index("namespaces:") :]
    plain = (
        plain.replace("      pool: b\n", "")
        .replace("replicas: 6", "replicas: 2")
        .replace("replicas: 3\n      pool", "pool")
    )
    source = SimulatedSource(scenario_from_yaml(plain), now=NOW)
    (window,) = windows_of_day(date(2026, 3, 9), [], source.scenario.tz)
    assert source.nodes(window) == ([], [])
    assert source.data().nodes == () and (source.data().pod_node == -1).all()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "      pool: b\n      containers:\n        - {name: db",
            "      pool: z\n      containers:\n        - {name: db",
            "workload x/db runs in pool 'z', which is not a node pool; pools: a, b, idle",
        ),
        (
            "replicas: 6",
            "replicas: 5",
            "workload x/agent is a DaemonSet, one pod per node of its pools: set its replicas to 6",
        ),
        ("count: 3, cpu: 1500m", "count: 3, cpu: 0", "a node pool needs positive cpu and memory"),
        ("{name: idle,", "{name: a,", "node_pools has two pools named 'a'"),
    ],
)
def test_bad_node_pools_are_one_sentence(old: str, new: str, message: str) -> None:
    assert old in POOLS
    with pytest.raises(ConfigError) as caught:
        scenario_from_yaml(POOLS.replace(old, new), source="s.yaml")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_pool_without_node_pools_is_refused() -> None:
    plain = POOLS[: POOLS.index("node_pools:")] + POOLS[POOLS.index("namespaces:") :]
    with pytest.raises(ConfigError, match="runs in pool 'b', which is not a node pool; pools: none"):
        scenario_from_yaml(plain)
