"""The PromQL catalogue: every query kubecap sends, built in one place.

Queries are assembled from a small builder that escapes label values and adds the scope's
matchers (the cluster label of a shared store, a namespace chunk) to every selector, so no
series of another cluster can enter a join. The meaning of each figure is specified in
docs/collection.md; the snapshot tests in tests/metrics/test_promql.py pin the exact text.

Two kinds of query per window:
- range queries (evaluated at the window's points) for the per-step workload CPU and memory,
  summarised locally, so one evaluation gives every quantile and the maximum;
- instant queries at the window's end with subqueries over the same points, for figures
  that reduce to one number per series on the server (requests, replicas, throttling,
  restarts, series counts).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

WORKLOAD_LABELS = ("namespace", "workload_kind", "workload")
CONTAINER_LABELS = (*WORKLOAD_LABELS, "container")
_BY_WORKLOAD = ", ".join(WORKLOAD_LABELS)
_BY_CONTAINER = ", ".join(CONTAINER_LABELS)

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


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Every query of a window, for one scope."""

    scope: Scope = field(default_factory=Scope)

    # -- building blocks -------------------------------------------------------------
    def pod_workload(self) -> str:
        """One series per pod with its workload: (namespace, pod, workload_kind, workload) = 1."""
        s = self.scope
        direct = s.selector("kube_pod_owner", Matcher("owner_kind", "=~", "StatefulSet|DaemonSet"))
        rs_pods = s.selector("kube_pod_owner", eq("owner_kind", "ReplicaSet"))
        rs_owner = s.selector("kube_replicaset_owner", eq("owner_kind", "Deployment"))
        return (
            "max by (namespace, pod, workload_kind, workload) ("
            f'label_replace(label_replace({direct}, "workload", "$1", "owner_name", "(.+)"),'
            ' "workload_kind", "$1", "owner_kind", "(.+)")'
            " or label_replace(label_replace("
            "max by (namespace, pod, replicaset) ("
            f'label_replace({rs_pods}, "replicaset", "$1", "owner_name", "(.+)"))'
            " * on (namespace, replicaset) group_left (owner_name)"
            f" max by (namespace, replicaset, owner_name) ({rs_owner}),"
            ' "workload", "$1", "owner_name", "(.+)"), "workload_kind", "Deployment", "", ""))'
        )

    def _per_pod(self, expr: str) -> str:
        """A per (namespace, pod, container) expression joined to its workload."""
        return (
            f"(max by (namespace, pod, container) ({expr})"
            f" * on (namespace, pod) group_left (workload_kind, workload) {self.pod_workload()})"
        )

    def _cpu_rate(self, metric: str, shape: WindowShape) -> str:
        return f"rate({self.scope.selector(metric, *_real_container())}[{shape.rate}])"

    def _stats(self, per_pod: str) -> str:
        """Average and maximum across a workload's pods, labelled stat="avg" / stat="max"."""
        return (
            f'label_replace(avg by ({_BY_CONTAINER}) ({per_pod}), "stat", "avg", "", "")'
            f' or label_replace(max by ({_BY_CONTAINER}) ({per_pod}), "stat", "max", "", "")'
        )

    # -- range queries (evaluated at the window's points) -----------------------------
    def cpu_steps(self, shape: WindowShape) -> str:
        return self._stats(self._per_pod(self._cpu_rate("container_cpu_usage_seconds_total", shape)))

    def memory_steps(self) -> str:
        selector = self.scope.selector("container_memory_working_set_bytes", *_real_container())
        return self._stats(self._per_pod(selector))

    def ready_replicas_steps(self) -> str:
        s = self.scope
        parts = []
        for kind, metric, label in (
            ("Deployment", "kube_deployment_status_replicas_ready", "deployment"),
            ("StatefulSet", "kube_statefulset_status_replicas_ready", "statefulset"),
            ("DaemonSet", "kube_daemonset_status_number_ready", "daemonset"),
        ):
            parts.append(
                f"label_replace(label_replace(max by (namespace, {label}) ({s.selector(metric)}),"
                f' "workload", "$1", "{label}", "(.+)"), "workload_kind", "{kind}", "", "")'
            )
        return f"max by ({_BY_WORKLOAD}) ({' or '.join(parts)})"

    # -- instant queries at the window's end ------------------------------------------
    def resources(self, shape: WindowShape) -> str:
        """Highest request and limit per container, labelled figure=cpu_request|cpu_limit|mem_request|mem_limit."""
        parts = []
        for metric, kind in (
            ("kube_pod_container_resource_requests", "request"),
            ("kube_pod_container_resource_limits", "limit"),
        ):
            for resource, prefix in (("cpu", "cpu"), ("memory", "mem")):
                per_pod = self._per_pod(self.scope.selector(metric, eq("resource", resource)))
                parts.append(
                    f"label_replace(max_over_time((max by ({_BY_CONTAINER}) {per_pod}){shape.subquery}),"
                    f' "figure", "{prefix}_{kind}", "", "")'
                )
        return " or ".join(parts)

    def throttling(self, shape: WindowShape) -> str:
        """Throttled CFS periods over all periods in the window, per container."""

        def total(metric: str) -> str:
            per_pod = self._per_pod(self._cpu_rate(metric, shape))
            return f"sum_over_time((sum by ({_BY_CONTAINER}) {per_pod}){shape.subquery})"

        return (
            f"{total('container_cpu_cfs_throttled_periods_total')}"
            f" / {total('container_cpu_cfs_periods_total')}"
        )

    def restarts(self, shape: WindowShape) -> str:
        """Restart increase per container, and the part that ended in an OOM kill (figure=restarts|oom_kills)."""
        s = self.scope
        count = (
            f"max by (namespace, pod, container) ({s.selector('kube_pod_container_status_restarts_total')})"
        )
        increase = f"(max_over_time(({count}){shape.subquery}) - min_over_time(({count}){shape.subquery}))"
        oom_seen = (
            "max_over_time((max by (namespace, pod, container) ("
            f"{s.selector('kube_pod_container_status_last_terminated_reason', eq('reason', 'OOMKilled'))}"
            f" == 1)){shape.subquery})"
        )
        pods = f"max_over_time(({self.pod_workload()}){shape.subquery})"

        def per_workload(expr: str, figure: str) -> str:
            return (
                f"label_replace(sum by ({_BY_CONTAINER}) ({expr}"
                f" * on (namespace, pod) group_left (workload_kind, workload) {pods}),"
                f' "figure", "{figure}", "", "")'
            )

        return (
            per_workload(increase, "restarts")
            + " or "
            + per_workload(f"({increase} and on (namespace, pod, container) {oom_seen})", "oom_kills")
        )

    def container_series_by_namespace(self, shape: WindowShape) -> str:
        """How many container memory series each namespace had in the window (for chunking)."""
        selector = self.scope.selector("container_memory_working_set_bytes", *_real_container())
        return f"count by (namespace) (count_over_time({selector}[{duration(shape.range_ms - 1)}]))"

    def present_series(self, shape: WindowShape, metrics: Iterable[str]) -> str:
        """Which of ``metrics`` have any series in the window (one sample per present metric)."""
        span = duration(shape.range_ms - 1)
        parts = [
            f'label_replace(count(count_over_time({self.scope.selector(m)}[{span}])), "metric", "{m}", "", "")'
            for m in metrics
        ]
        return " or ".join(parts)
