"""The Settings page's Prometheus connection test: reachable, and which series are there.

One inventory query over the last hour, scoped by the cluster's label, tells which of the
series kubecap needs exist; a missing one is named with what usually causes it. An
unreachable Prometheus is the client's own one-sentence error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubecap.config import ClusterSettings
from kubecap.errors import KubecapError
from kubecap.metrics.prometheus import PrometheusClient
from kubecap.metrics.promql import OPTIONAL_SERIES, REQUIRED_SERIES, Catalogue, Scope
from kubecap.wiring import prometheus_options

NODE_SERIES = {"node_cpu_seconds_total": "node load needs node-exporter; is it scraped?"}
HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class PrometheusCheck:
    cluster: str
    url: str | None
    reachable: bool
    present: tuple[str, ...] = ()
    missing: tuple[tuple[str, str], ...] = ()  # (series, why it matters)
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.reachable and not any(name in REQUIRED_SERIES for name, _ in self.missing)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "url": self.url,
            "ok": self.ok,
            "reachable": self.reachable,
            "present": list(self.present),
            "missing": [{"series": s, "hint": h} for s, h in self.missing],
            "message": self.message,
        }


async def check_prometheus(cluster: ClusterSettings, now: datetime) -> PrometheusCheck:
    prom = cluster.prometheus
    if prom is None:
        return PrometheusCheck(
            cluster.name,
            None,
            False,
            message=f"cluster {cluster.name!r} has no Prometheus (simulated: {cluster.simulated}); nothing to test",
        )
    wanted = {**REQUIRED_SERIES, **OPTIONAL_SERIES, **NODE_SERIES}
    query = Catalogue(Scope.for_cluster(cluster.cluster_label)).inventory(HOUR_MS, list(wanted))
    try:
        async with PrometheusClient(prometheus_options(prom)) as client:
            samples = await client.instant(query, now)
    except KubecapError as exc:
        return PrometheusCheck(cluster.name, prom.url, False, message=str(exc))
    present = {s.labels.get("metric", "") for s in samples}
    missing = tuple((name, hint) for name, hint in wanted.items() if name not in present)
    found = tuple(name for name in wanted if name in present)
    if not found:
        message = (
            "Prometheus answers but has none of kubecap's series in the last hour"
            + (f" for {cluster.cluster_label}" if cluster.cluster_label else "")
            + ": check the cluster label and that cAdvisor and kube-state-metrics are scraped"
        )
    elif missing:
        message = f"Prometheus answers; missing: {', '.join(name for name, _ in missing)}"
    else:
        message = "Prometheus answers and every series kubecap reads is present"
    return PrometheusCheck(cluster.name, prom.url, True, found, missing, message)
