"""The load of an opted-in workload read from Prometheus: its CPU cores, or the policy's own PromQL.

CPU is the sum over the workload's pods of cAdvisor's ``container_cpu_usage_seconds_total``
rate, the pods recognised by name (``<deployment>-<replicaset hash>-<pod hash>``,
``<statefulset>-<ordinal>``): one range query per workload and no kube-state-metrics join,
which a range query over 14 days would make costly. A PromQL expression must return one
series; several are summed, none is an empty series (the forecast then says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from kubecap.domain.workload import WorkloadKind
from kubecap.forecast import Series
from kubecap.metrics.prometheus import PrometheusClient
from kubecap.metrics.promql import Matcher, Scope, regex_escape
from kubecap.predict.policy import Policy, Signal

_POD_SUFFIX = {
    WorkloadKind.DEPLOYMENT: "-[a-z0-9]{1,10}-[a-z0-9]{5}",
    WorkloadKind.STATEFULSET: "-[0-9]+",
}


def cpu_query(policy: Policy, cluster_label: dict[str, str], rate_window: str = "5m") -> str:
    """Cores used by the workload's pods, summed."""
    ref = policy.ref
    selector = Scope.for_cluster(cluster_label).selector(
        "container_cpu_usage_seconds_total",
        Matcher("namespace", "=", ref.namespace),
        Matcher("pod", "=~", regex_escape(ref.name) + _POD_SUFFIX[ref.kind]),
        Matcher("container", "!=", ""),
        Matcher("container", "!=", "POD"),
    )
    return f"sum(rate({selector}[{rate_window}]))"


@dataclass
class PrometheusLoad:
    client: PrometheusClient
    cluster_label: dict[str, str] = field(default_factory=dict)

    def query(self, policy: Policy) -> str:
        return policy.promql if policy.signal is Signal.PROMQL else cpu_query(policy, self.cluster_label)

    async def load(self, policy: Policy, start: datetime, end: datetime, step: int) -> Series:
        found = await self.client.range(self.query(policy), start, end, step)
        if not found:
            return Series(np.empty(0), np.empty(0), str(policy.ref))
        times = np.unique(np.concatenate([s.timestamps for s in found]))
        total = np.zeros(times.size)
        for s in found:
            total[np.searchsorted(times, s.timestamps)] += s.values
        return Series(times, total, str(policy.ref))
