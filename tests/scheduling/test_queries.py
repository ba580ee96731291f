"""The node-load PromQL, pinned: what kubecap asks Prometheus (the real-Prometheus tests check the answers)."""

from __future__ import annotations

from kubecap.metrics.promql import Scope
from kubecap.scheduling.queries import NodeLoadQueries, RecentPodQueries

PROD = Scope.for_cluster({"cluster": "prod"})
CPU_5M = (
    '1 - sum without (cpu, mode) (rate(node_cpu_seconds_total{cluster="prod", mode=~"idle|iowait|steal"}[5m]))'
    ' / sum without (cpu, mode) (rate(node_cpu_seconds_total{cluster="prod"}[5m]))'
)
MEMORY_5M = (
    '1 - avg_over_time(node_memory_MemAvailable_bytes{cluster="prod"}[5m])'
    ' / avg_over_time(node_memory_MemTotal_bytes{cluster="prod"}[5m])'
)


def test_straight_from_node_exporter() -> None:
    queries = NodeLoadQueries(PROD)
    assert queries.current().cpu == CPU_5M
    assert queries.current().memory == MEMORY_5M
    assert queries.hour().cpu == f"max_over_time(({CPU_5M})[1h:1m])"
    assert queries.day().memory == f"max_over_time(({MEMORY_5M})[1d:5m])"
    assert (
        queries.capacity().cpu
        == 'count without (cpu, mode) (node_cpu_seconds_total{cluster="prod", mode="idle"})'
    )


def test_from_node_mixin_recording_rules() -> None:
    queries = NodeLoadQueries(PROD, rules=True)
    assert queries.current().cpu == 'instance:node_cpu_utilisation:rate5m{cluster="prod"}'
    assert queries.day().cpu == 'max_over_time(instance:node_cpu_utilisation:rate5m{cluster="prod"}[1d])'
    assert queries.hour().memory == (
        'max_over_time((avg_over_time(instance:node_memory_utilisation:ratio{cluster="prod"}[5m]))[1h:1m])'
    )
    assert queries.rules_present() == (
        'count by (__name__) ({__name__=~"instance:node_cpu_utilisation:rate5m|'
        'instance:node_memory_utilisation:ratio", cluster="prod"})'
    )


def test_label_values_are_escaped_and_no_scope_means_no_matchers() -> None:
    odd = NodeLoadQueries(Scope.for_cluster({"cluster": 'a"b\\c'}))
    assert 'cluster="a\\"b\\\\c"' in odd.current().memory
    assert NodeLoadQueries().node_info() == "max by (node, internal_ip) (kube_node_info)"


def test_recent_pods_from_kube_state_metrics() -> None:
    recent = RecentPodQueries(PROD, 300)
    window = '(max by (namespace, pod) (kube_pod_status_scheduled_time{cluster="prod"}) > time() - 300)'
    assert recent.scheduled() == (
        f"{window} * on (namespace, pod) group_left (node) "
        'max by (namespace, pod, node) (kube_pod_info{cluster="prod", node!=""})'
    )
    assert recent.sizes("kube_pod_container_resource_limits") == (
        "sum by (namespace, pod, resource) (max by (namespace, pod, container, resource) "
        '(kube_pod_container_resource_limits{cluster="prod", resource=~"cpu|memory"})) '
        f"and on (namespace, pod) {window}"
    )
