"""The PromQL of node load: straight from node-exporter, or from node-mixin's recording rules.

CPU utilisation is node-mixin's definition (the share of time not idle, in iowait or
stolen, averaged over the node's CPUs, over 5 minutes); memory utilisation is
1 − MemAvailable / MemTotal, averaged over 5 minutes. The 1-hour and 1-day figures are
the maximum of those 5-minute averages, evaluated every minute over the hour and every
5 minutes over the day (subqueries), so no recording rule is required; when Prometheus
has kube-prometheus' ``instance:node_cpu_utilisation:rate5m`` and
``instance:node_memory_utilisation:ratio`` they are used instead, which is cheaper.
Aggregations drop only ``cpu`` and ``mode``: every other label (``instance``, ``node``,
the cluster label) survives for matching series to nodes. Label values are escaped by the
catalogue's builder; the snapshot tests pin the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubecap.metrics.promql import Matcher, Scope

CPU_RULE = "instance:node_cpu_utilisation:rate5m"
MEMORY_RULE = "instance:node_memory_utilisation:ratio"
_NOT_BUSY = Matcher("mode", "=~", "idle|iowait|steal")
_IDLE = Matcher("mode", "=", "idle")
HOUR_SUBQUERY = "[1h:1m]"
DAY_SUBQUERY = "[1d:5m]"


@dataclass(frozen=True, slots=True)
class FigureQueries:
    cpu: str
    memory: str


@dataclass(frozen=True, slots=True)
class NodeLoadQueries:
    """Every node-load query for one scope (the cluster label of a shared store, or nothing)."""

    scope: Scope = field(default_factory=Scope)
    rules: bool = False

    def _cpu_5m(self) -> str:
        if self.rules:
            return self.scope.selector(CPU_RULE)
        # The share of all CPU seconds, not of wall time: rate() extrapolates every mode's counter by
        # the same factor, which cancels here, so a window the scrapes only partly cover (a new node,
        # an evaluation well after the last scrape) still gives the true share (kube-prometheus'
        # rule divides by the number of CPUs and reads 0.10 as 0.30 in that case).
        idle = (
            f"sum without (cpu, mode) (rate({self.scope.selector('node_cpu_seconds_total', _NOT_BUSY)}[5m]))"
        )
        every = f"sum without (cpu, mode) (rate({self.scope.selector('node_cpu_seconds_total')}[5m]))"
        return f"1 - {idle} / {every}"

    def _memory_5m(self) -> str:
        if self.rules:
            return f"avg_over_time({self.scope.selector(MEMORY_RULE)}[5m])"
        available = self.scope.selector("node_memory_MemAvailable_bytes")
        total = self.scope.selector("node_memory_MemTotal_bytes")
        return f"1 - avg_over_time({available}[5m]) / avg_over_time({total}[5m])"

    def current(self) -> FigureQueries:
        return FigureQueries(self._cpu_5m(), self._memory_5m())

    def current_timestamps(self) -> FigureQueries:
        """When the newest sample behind each current figure was scraped (or the rule evaluated)."""
        if self.rules:
            return FigureQueries(
                f"timestamp({self.scope.selector(CPU_RULE)})",
                f"timestamp({self.scope.selector(MEMORY_RULE)})",
            )
        return FigureQueries(
            f"max without (cpu, mode) (timestamp({self.scope.selector('node_cpu_seconds_total', _IDLE)}))",
            f"timestamp({self.scope.selector('node_memory_MemAvailable_bytes')})",
        )

    def hour(self) -> FigureQueries:
        return self._window(HOUR_SUBQUERY, "[1h]")

    def day(self) -> FigureQueries:
        return self._window(DAY_SUBQUERY, "[1d]")

    def _window(self, subquery: str, plain_range: str) -> FigureQueries:
        if self.rules:
            # The CPU rule already is a 5-minute average: a plain range over it needs no subquery.
            cpu = f"max_over_time({self.scope.selector(CPU_RULE)}{plain_range})"
        else:
            cpu = f"max_over_time(({self._cpu_5m()}){subquery})"
        return FigureQueries(cpu, f"max_over_time(({self._memory_5m()}){subquery})")

    def capacity(self) -> FigureQueries:
        """CPU cores and memory bytes of each node."""
        return FigureQueries(
            f"count without (cpu, mode) ({self.scope.selector('node_cpu_seconds_total', _IDLE)})",
            f"max without () ({self.scope.selector('node_memory_MemTotal_bytes')})",
        )

    def rules_present(self) -> str:
        names = Matcher("__name__", "=~", f"{CPU_RULE}|{MEMORY_RULE}")
        return f"count by (__name__) ({{{', '.join(str(m) for m in (names, *self.scope.matchers))}}})"

    def node_info(self) -> str:
        """kube-state-metrics' node name to internal IP map."""
        return f"max by (node, internal_ip) ({self.scope.selector('kube_node_info')})"


@dataclass(frozen=True, slots=True)
class RecentPodQueries:
    """Pods scheduled in the last ``window_s`` seconds, their node and sizes (kube-state-metrics)."""

    scope: Scope = field(default_factory=Scope)
    window_s: int = 300

    def _recent(self) -> str:
        scheduled = self.scope.selector("kube_pod_status_scheduled_time")
        return f"(max by (namespace, pod) ({scheduled}) > time() - {self.window_s})"

    def scheduled(self) -> str:
        """Scheduled time (the value) with the node as a label."""
        info = self.scope.selector("kube_pod_info", Matcher("node", "!=", ""))
        return (
            f"{self._recent()} * on (namespace, pod) group_left (node) max by (namespace, pod, node) ({info})"
        )

    def sizes(self, metric: str) -> str:
        """Per pod and resource, the sum over containers of ``metric`` (requests or limits)."""
        selector = self.scope.selector(metric, Matcher("resource", "=~", "cpu|memory"))
        per_container = f"max by (namespace, pod, container, resource) ({selector})"
        return f"sum by (namespace, pod, resource) ({per_container}) and on (namespace, pod) {self._recent()}"
