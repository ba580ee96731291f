"""The PromQL catalogue: every query kubecap sends, built in one place.

Queries are assembled from a small builder that escapes label values and adds the scope's
matchers (the cluster label of a shared store, a namespace chunk) to every selector, so no
series of another cluster can enter a join. The meaning of each figure is specified in
docs/collection.md; the snapshot tests in tests/metrics/test_promql.py pin the exact text.

All figure queries are instant queries at the window's end whose subqueries evaluate the
window's points (docs/collection.md). They compute per pod container, never joining series
at each point: a per-point join of cAdvisor to kube-state-metrics series cost 5-6 s per
figure and day for 200 pods on Prometheus 2.42, the same figure without the join 0.05-0.14 s.
The owner chain is read once per window and applied by kubecap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kubecap.domain.usage import CPU_QUANTILES, MEMORY_QUANTILES

WORKLOAD_LABEL_SERIES = {
    "kube_deployment_labels": "deployment",
    "kube_statefulset_labels": "statefulset",
    "kube_daemonset_labels": "daemonset",
}
"""kube-state-metrics' label series of each workload kind and the label naming the workload."""

NAMESPACE_CONTAINERS = "namespace_containers"
"""The ``metric`` label of the inventory's per-namespace container counts."""

READY_REPLICAS = {
    "kube_deployment_status_replicas_ready": "deployment",
    "kube_statefulset_status_replicas_ready": "statefulset",
    "kube_daemonset_status_number_ready": "daemonset",
}
"""The ready-replicas gauge of each workload kind and the label naming the workload."""

REQUIRED_SERIES = {
    "kube_pod_owner": "is kube-state-metrics scraped?",
    "container_cpu_usage_seconds_total": "is the kubelet's cAdvisor endpoint scraped?",
    "container_memory_working_set_bytes": "is the kubelet's cAdvisor endpoint scraped?",
}
OPTIONAL_SERIES = {
    "kube_replicaset_owner": "Deployments cannot be told apart from their ReplicaSets; is kube-state-metrics scraped?",
    "kube_pod_container_resource_requests": "requests will be empty; is kube-state-metrics v2 scraped?",
    "kube_pod_container_status_restarts_total": "restarts and OOM kills will be empty",
    "container_cpu_cfs_periods_total": "CPU throttling will be empty (no CPU limits, or cAdvisor without CFS stats)",
}

NODE_QUANTILE = 0.99
IDLE_CPU_MODES = "idle|iowait|steal"
"""node-exporter CPU modes that are not busy time (as kube-prometheus' node CPU utilisation)."""
NODE_BOUND_KINDS = "DaemonSet|Node"
"""kube_pod_info's created_by_kind of pods bound to their node: DaemonSets' and static (mirror) pods."""


def escape(value: str) -> str:
    """A label value as a PromQL double-quoted string body."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def regex_escape(value: str) -> str:
    """A literal inside an RE2 regular expression."""
    special = set(r"\.+*?()|[]{}^$")
    return "".join("\\" + c if c in special else c for c in value)


@dataclass(frozen=True, slots=True)
class Matcher:
    label: str
    op: str  # one of = != =~ !~
    value: str

    def __str__(self) -> str:
        return f'{self.label}{self.op}"{escape(self.value)}"'


@dataclass(frozen=True, slots=True)
class Scope:
    """Matchers added to every selector: the cluster label, a namespace chunk."""

    matchers: tuple[Matcher, ...] = ()

    @classmethod
    def for_cluster(cls, labels: dict[str, str]) -> Scope:
        return cls(tuple(Matcher(k, "=", v) for k, v in sorted(labels.items())))

    def with_namespaces(self, namespaces: Iterable[str]) -> Scope:
        pattern = "|".join(regex_escape(n) for n in sorted(namespaces))
        return Scope((*self.matchers, Matcher("namespace", "=~", pattern)))

    def selector(self, metric: str, *matchers: Matcher) -> str:
        parts = ", ".join(str(m) for m in (*self.matchers, *matchers))
        return f"{metric}{{{parts}}}" if parts else metric


def eq(label: str, value: str) -> Matcher:
    return Matcher(label, "=", value)


def _real_container() -> tuple[Matcher, Matcher]:
    # cAdvisor also exports the pod cgroup (container="") and the pause container ("POD").
    return Matcher("container", "!=", ""), Matcher("container", "!=", "POD")


def duration(milliseconds: int) -> str:
    """A PromQL duration literal in milliseconds ("5399999ms")."""
    return f"{milliseconds}ms"


@dataclass(frozen=True, slots=True)
class WindowShape:
    """The evaluation points of one window: (end − range, end] every ``step`` seconds."""

    range_ms: int
    step_s: int
    rate: str = "5m"

    @property
    def subquery(self) -> str:
        # One millisecond less than the window drops the point at its start (docs/collection.md).
        return f"[{duration(self.range_ms - 1)}:{self.step_s}s]"


POD_LABELS = ("namespace", "pod", "container")
_BY_POD = ", ".join(POD_LABELS)


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Every query of a window, for one scope.

    Figures are computed per pod container on the server, where each is one pass over the
    series with no join; pods are mapped to workloads and aggregated by kubecap
    (docs/collection.md). Every query returns series labelled ``figure=...``. Cheap figures of
    a family share one query; the CPU and memory figures that each need a pass over a day of
    usage samples are one query each, because Prometheus evaluates a query on one core and
    separate queries spread over all of them.
    """

    scope: Scope = field(default_factory=Scope)

    def _figure(self, expr: str, figure: str, by: str = _BY_POD) -> str:
        return f'label_replace(max by ({by}) ({expr}), "figure", "{figure}", "", "")'

    def _union(self, parts: Iterable[str]) -> str:
        return " or ".join(parts)

    def _cpu_rate(self, metric: str, shape: WindowShape) -> str:
        return f"rate({self.scope.selector(metric, *_real_container())}[{shape.rate}])"

    def ownership(self, shape: WindowShape) -> str:
        """Pods with their owner, and ReplicaSets with theirs, seen at any point of the window."""
        s = self.scope
        return (
            "max by (namespace, pod, owner_kind, owner_name) "
            f"(max_over_time({s.selector('kube_pod_owner')}{shape.subquery}))"
            " or max by (namespace, replicaset, owner_kind, owner_name) "
            f"(max_over_time({s.selector('kube_replicaset_owner', eq('owner_kind', 'Deployment'))}{shape.subquery}))"
        )

    def cpu(self, shape: WindowShape) -> list[str]:
        """Per pod container: CPU quantiles, maximum and point count over the window (a query each)."""
        inner = f"{self._cpu_rate('container_cpu_usage_seconds_total', shape)}{shape.subquery}"
        parts = [
            self._figure(f"quantile_over_time({q}, {inner})", f"cpu_p{round(q * 100)}") for q in CPU_QUANTILES
        ]
        parts.append(self._figure(f"max_over_time({inner})", "cpu_max"))
        parts.append(self._figure(f"count_over_time({inner})", "cpu_points"))
        return parts

    def memory(self, shape: WindowShape) -> list[str]:
        """Per pod container: working-set quantiles, maximum and point count over the window (a query each)."""
        inner = (
            f"{self.scope.selector('container_memory_working_set_bytes', *_real_container())}{shape.subquery}"
        )
        parts = [
            self._figure(f"quantile_over_time({q}, {inner})", f"mem_p{round(q * 100)}")
            for q in MEMORY_QUANTILES
        ]
        parts.append(self._figure(f"max_over_time({inner})", "mem_max"))
        parts.append(self._figure(f"count_over_time({inner})", "mem_points"))
        return parts

    def resources(self, shape: WindowShape) -> str:
        """Per pod container: the highest CPU and memory request and limit seen."""
        parts = []
        for metric, kind in (
            ("kube_pod_container_resource_requests", "request"),
            ("kube_pod_container_resource_limits", "limit"),
        ):
            for resource, prefix in (("cpu", "cpu"), ("memory", "mem")):
                selector = self.scope.selector(metric, eq("resource", resource))
                parts.append(self._figure(f"max_over_time({selector}{shape.subquery})", f"{prefix}_{kind}"))
        return self._union(parts)

    def ready_replicas(self, shape: WindowShape) -> str:
        """Per workload: min, mean and max of ready replicas over the window."""
        parts = []
        for metric, label in READY_REPLICAS.items():
            selector = self.scope.selector(metric)
            for stat in ("min", "avg", "max"):
                by = f"namespace, {label}"
                parts.append(
                    self._figure(f"{stat}_over_time({selector}{shape.subquery})", f"replicas_{stat}", by)
                )
        return self._union(parts)

    def throttling(self, shape: WindowShape) -> list[str]:
        """Per pod container: the sums over the points of throttled and of all CFS periods per second."""
        return [
            self._figure(f"sum_over_time({self._cpu_rate(metric, shape)}{shape.subquery})", figure)
            for metric, figure in (
                ("container_cpu_cfs_throttled_periods_total", "throttled"),
                ("container_cpu_cfs_periods_total", "periods"),
            )
        ]

    def restarts(self, shape: WindowShape) -> str:
        """Per pod container: the restart increase, and whether a termination was an OOM kill."""
        s = self.scope
        count = f"{s.selector('kube_pod_container_status_restarts_total')}{shape.subquery}"
        oom = s.selector("kube_pod_container_status_last_terminated_reason", eq("reason", "OOMKilled"))
        return self._union(
            [
                self._figure(f"max_over_time({count}) - min_over_time({count})", "restarts"),
                self._figure(f"max_over_time({oom}{shape.subquery})", "oom_seen"),
            ]
        )

    def workload_labels(self, shape: WindowShape) -> str:
        """Each workload's Kubernetes labels (``label_*``, as allowlisted in kube-state-metrics), last seen."""
        return self._union(
            f"last_over_time({self.scope.selector(metric)}{shape.subquery})"
            for metric in WORKLOAD_LABEL_SERIES
        )

    def hpas(self, shape: WindowShape) -> str:
        """HorizontalPodAutoscalers seen in the window: scale target, min/max replicas, metric targets (last values)."""
        s = self.scope
        hpa = "namespace, horizontalpodautoscaler"

        def last(metric: str) -> str:
            return f"last_over_time({s.selector(metric)}{shape.subquery})"

        return self._union(
            [
                self._figure(
                    last("kube_horizontalpodautoscaler_info"),
                    "target",
                    f"{hpa}, scaletargetref_kind, scaletargetref_name",
                ),
                self._figure(last("kube_horizontalpodautoscaler_spec_min_replicas"), "min_replicas", hpa),
                self._figure(last("kube_horizontalpodautoscaler_spec_max_replicas"), "max_replicas", hpa),
                self._figure(
                    last("kube_horizontalpodautoscaler_spec_target_metric"),
                    "metric",
                    f"{hpa}, metric_name, metric_target_type",
                ),
            ]
        )

    def nodes(self, shape: WindowShape) -> str:
        """Per node (kube-state-metrics) and per node-exporter instance: the node figures of a window.

        By ``instance``: the P99 of busy CPU cores (the rate of every mode but idle, iowait and
        steal, summed over the CPUs) and of used memory (MemTotal − MemAvailable of the same
        instance). By ``node``: its info (internal IP) and labels, allocatable CPU and memory,
        the highest sums of pod requests, how many pods neither of a DaemonSet nor static ran there;
        plus the number of request series placed on no node. Instances are mapped to nodes by
        kubecap (metrics/nodes.py), never joined here. Use the cluster scope only: node series
        carry no namespace.
        """
        s, sub = self.scope, shape.subquery
        busy = s.selector("node_cpu_seconds_total", Matcher("mode", "!~", IDLE_CPU_MODES))
        used = f"{s.selector('node_memory_MemTotal_bytes')} - {s.selector('node_memory_MemAvailable_bytes')}"
        parts = [
            self._figure(
                f"quantile_over_time({NODE_QUANTILE}, (sum by (instance) (rate({busy}[{shape.rate}]))){sub})",
                "cpu_p99",
                "instance",
            ),
            self._figure(f"quantile_over_time({NODE_QUANTILE}, ({used}){sub})", "mem_p99", "instance"),
            self._figure(f"max_over_time({s.selector('kube_node_info')}{sub})", "info", "node, internal_ip"),
            f'label_replace(max_over_time({s.selector("kube_node_labels")}{sub}), "figure", "labels", "", "")',
        ]
        for resource, prefix in (("cpu", "cpu"), ("memory", "mem")):
            allocatable = s.selector("kube_node_status_allocatable", eq("resource", resource))
            parts.append(self._figure(f"max_over_time({allocatable}{sub})", f"{prefix}_allocatable", "node"))
        for resource, prefix in (("cpu", "cpu"), ("memory", "mem")):
            requests = s.selector(
                "kube_pod_container_resource_requests", eq("resource", resource), Matcher("node", "!=", "")
            )
            parts.append(
                self._figure(
                    f"max_over_time((sum by (node) ({requests})){sub})", f"{prefix}_requests", "node"
                )
            )
        others = s.selector(
            "kube_pod_info", Matcher("created_by_kind", "!~", NODE_BOUND_KINDS), Matcher("node", "!=", "")
        )
        parts.append(self._figure(f"count by (node) (max_over_time({others}{sub}))", "other_pods", "node"))
        unplaced = s.selector("kube_pod_container_resource_requests", eq("node", ""))
        parts.append(
            f'label_replace(count(max_over_time({unplaced}{sub})), "figure", "unplaced_requests", "", "")'
        )
        return self._union(parts)

    def inventory(self, span_ms: int, metrics: Iterable[str]) -> str:
        """Which of ``metrics`` have series in the ``span_ms`` before the evaluation time (one sample each,
        labelled ``metric``), and how many container series each namespace has there (for chunking,
        labelled ``metric="namespace_containers"``)."""
        span = f"[{duration(span_ms)}]"
        containers = self.scope.selector("container_memory_working_set_bytes", *_real_container())
        parts = [
            f'label_replace(count(count_over_time({self.scope.selector(m)}{span})), "metric", "{m}", "", "")'
            for m in metrics
        ]
        parts.append(
            f"label_replace(count by (namespace) (count_over_time({containers}{span})),"
            f' "metric", "{NAMESPACE_CONTAINERS}", "", "")'
        )
        return self._union(parts)
