"""A real Prometheus holding simulated clusters, for the contract and end-to-end tests.

The store holds three clusters told apart by a `cluster` label, as a central store would:
- "contract": the scenario below (Europe/Berlin, across the 2026-10-25 DST change), on three
  node pools: node-exporter names "apps" nodes by IP and port and "db" nodes by name, does
  not run on "spare", where only the DaemonSet runs (an idle pool);
- "twin": the same namespaces and workload names with other usage, so any selector that
  forgot the cluster label would mix the two;
- "no-ksm": only cAdvisor series, as when kube-state-metrics is not scraped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubecap.metrics.simulated import Scenario, SimulatedSource, scenario_from_yaml
from kubecap.testing.prometheus import PrometheusServer, backfill

CONTRACT_YAML = """
cluster: contract
timezone: Europe/Berlin
end: 2026-10-27T00:00
days: 3
seed: 7
peak_windows: ["10:00-11:30", "23:00-01:00"]
node_pools:
  - {name: apps, count: 2, cpu: "4", memory: 16Gi}
  - {name: db, count: 1, cpu: 3920m, memory: 8Gi, node_exporter: name}
  - {name: spare, count: 1, cpu: "2", memory: 4Gi, node_exporter: none}
namespaces:
  shop:
    - kind: Deployment
      name: web
      replicas: 3
      rollouts: ["2026-10-26T10:40"]
      hpa: {min: 2, max: 6, cpu: 70}
      labels: {app: web, app.kubernetes.io/part-of: shop}
      containers:
        - name: app
          requests: {cpu: 250m, memory: 256Mi}
          limits: {cpu: 500m, memory: 512Mi}
          cpu: {trace: crane_daily, low: 20m, high: 600m}
          memory: {trace: azure_memory, low: 120Mi, high: 300Mi}
        - name: proxy
          requests: {cpu: 50m, memory: 64Mi}
          cpu: {diurnal: {base: 30m, amplitude: 20m, peak: "10:30"}}
          memory: {constant: 40Mi}
    - kind: StatefulSet
      name: db
      replicas: 2
      pool: db
      hpa: {min: 2, max: 3, memory: 80, other: queue_depth}
      labels: {app: db, tier: data}
      containers:
        - name: postgres
          requests: {cpu: "1", memory: 1Gi}
          limits: {memory: 1Gi}
          cpu: {trace: wc98, low: 100m, high: 900m}
          memory: {trace: google_memory, low: 500Mi, high: 1100Mi}
  ops:
    - kind: DaemonSet
      name: agent
      replicas: 4
      containers:
        - name: agent
          requests: {cpu: 10m, memory: 32Mi}
          limits: {cpu: 20m, memory: 64Mi}
          cpu: {trace: nab_asg, low: 2m, high: 40m}
          memory: {constant: 30Mi}
"""

TWIN_YAML = (
    CONTRACT_YAML.replace("cluster: contract", "cluster: twin")
    .replace("seed: 7", "seed: 99")
    .replace("crane_daily", "google_cpu")
)

NO_KSM_PREFIXES = ("container_",)


@dataclass(frozen=True)
class SimulatedPrometheus:
    url: str
    contract: Scenario
    twin: Scenario

    def source(self, scenario: Scenario) -> SimulatedSource:
        return SimulatedSource(scenario)


def _only_cadvisor(files: list[Path], out_dir: Path) -> list[Path]:
    """Copies of OpenMetrics files keeping only the cAdvisor families."""
    out_dir.mkdir(parents=True, exist_ok=True)
    kept = []
    for path in files:
        lines, keep = [], False
        for line in path.read_text().splitlines():
            if line.startswith("# TYPE "):
                keep = line.split()[2].startswith(NO_KSM_PREFIXES)
            if keep or line == "# EOF":
                lines.append(line)
        target = out_dir / path.name
        target.write_text("\n".join(lines) + "\n")
        kept.append(target)
    return kept


@pytest.fixture(scope="session")
def simulated_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedPrometheus]:
    root = tmp_path_factory.mktemp("contract")
    contract = scenario_from_yaml(CONTRACT_YAML, source="contract scenario")
    twin = scenario_from_yaml(TWIN_YAML, source="twin scenario")
    files = SimulatedSource(contract).write_openmetrics(
        root / "contract", extra_labels={"cluster": "contract"}
    )
    files += SimulatedSource(twin).write_openmetrics(root / "twin", extra_labels={"cluster": "twin"})
    no_ksm = SimulatedSource(twin).write_openmetrics(root / "raw-no-ksm", extra_labels={"cluster": "no-ksm"})
    files += _only_cadvisor(no_ksm, root / "no-ksm")
    backfill(files, root / "data")
    with PrometheusServer(root / "data") as server:
        yield SimulatedPrometheus(server.url, contract, twin)
