"""The OpenMetrics export: well-formed per 2-hour block, accepted by promtool, read back by Prometheus."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from kubecap.errors import ConfigError
from kubecap.metrics.sim_profile import latest, rate
from kubecap.metrics.simulated import SimulatedSource, scenario_from_yaml
from kubecap.testing.prometheus import PrometheusServer, backfill

SCENARIO = """
cluster: om
timezone: UTC
end: "2026-03-09T03:00"
days: 1
namespaces:
  shop:
    - kind: Deployment
      name: web
      replicas: 2
      rollouts: ["2026-03-09T01:10:30"]
      containers:
        - name: app
          requests: {cpu: 100m, memory: 64Mi}
          limits: {cpu: 150m, memory: 100Mi}
          cpu: {trace: wc98, low: 50m, high: 300m}
          memory: {diurnal: {base: 80Mi, amplitude: 30Mi, peak: "02:00"}, noise: 0.02}
    - kind: StatefulSet
      name: db
      replicas: 1
      rollouts: ["2026-03-09T02:00:15"]
      containers:
        - name: pg
          cpu: {constant: 20m}
          memory: {constant: 50Mi}
    - kind: DaemonSet
      name: agent
      replicas: 2
      containers:
        - name: a
          cpu: {constant: 5m}
          memory: {constant: 10Mi}
"""
NOW = datetime(2026, 3, 9, 3, 0, tzinfo=UTC)
_LINE = re.compile(rb'^[a-z_]+\{(?:[a-z_]+="[^"]*",)*[a-z_]+="[^"]*"\} [0-9]+(?:\.[0-9]+)? [0-9]{10}$')


@pytest.fixture(scope="module")
def source() -> SimulatedSource:
    return SimulatedSource(scenario_from_yaml(SCENARIO), now=NOW)


def test_one_well_formed_file_per_two_hour_block(source: SimulatedSource, tmp_path: Path) -> None:
    files = source.write_openmetrics(tmp_path, extra_labels={"cluster": "om"})
    assert [f.name for f in files] == sorted(f.name for f in files)
    assert len(files) == 14  # 00:00 the day before .. 03:00: 27 hours
    for file in files:
        block = int(file.stem.removeprefix("block-"))
        lines = file.read_bytes().splitlines()
        assert lines[-1] == b"# EOF" and block % 7200 == 0
        families = [line.split()[2] for line in lines if line.startswith(b"# TYPE")]
        assert len(families) == len(set(families))  # each family once, so contiguous
        current = b""
        for line in lines[:-1]:
            if line.startswith(b"# TYPE "):
                _, _, current, kind = line.split()
                continue
            assert _LINE.match(line), line
            name = line.split(b"{")[0]
            assert name == (current + b"_total" if kind == b"counter" else current)
            assert b'cluster="om"' in line
            assert block <= int(line.rsplit(b" ", 1)[1]) < block + 7200
    text = b"".join(f.read_bytes() for f in files)
    assert b"# TYPE container_cpu_usage_seconds counter" in text
    assert b'kube_pod_container_resource_requests{namespace="shop",pod="web-' in text
    assert b'resource="cpu",unit="core",job="kube-state-metrics",cluster="om"} 0.1 ' in text
    assert b'reason="OOMKilled"' in text
    for metric in (b"kube_deployment_status_replicas_ready", b"kube_statefulset_status_replicas_ready"):
        assert metric in text
    assert b'kube_daemonset_status_number_ready{namespace="shop",daemonset="agent"' in text


def test_static_series_can_be_thinned(source: SimulatedSource, tmp_path: Path) -> None:
    full = sum(f.stat().st_size for f in source.write_openmetrics(tmp_path / "full"))
    thin = sum(f.stat().st_size for f in source.write_openmetrics(tmp_path / "thin", static_every=4))
    assert thin < 0.8 * full


def test_bad_export_options_are_one_sentence(source: SimulatedSource, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="extra label 'pod' is not usable"):
        source.write_openmetrics(tmp_path, extra_labels={"pod": "x"})
    with pytest.raises(ConfigError, match="choose static_every between 1 and 5"):
        source.write_openmetrics(tmp_path, static_every=6)


@pytest.mark.prometheus
@pytest.mark.parametrize("static_every", [1, 4])
def test_prometheus_reads_back_what_the_source_computes_from(
    source: SimulatedSource, tmp_path: Path, static_every: int
) -> None:
    """Backfill with promtool, then per-pod rate() and lookback values match the pure functions."""
    files = source.write_openmetrics(
        tmp_path / "om", extra_labels={"cluster": "om"}, static_every=static_every
    )
    backfill(files, tmp_path / "tsdb")
    data = source.data()
    points = np.arange(int(data.times[0]) + 300, int(data.times[-1]) + 1, 60, dtype=np.int64)
    present = data.container_present
    keys = [
        (data.pods[int(p)].name, data.rows[int(r)][1])
        for p, r in zip(data.container_pod, data.container_row, strict=True)
    ]
    expected = {
        "rate(container_cpu_usage_seconds_total[5m])": rate(data.times, data.cpu_us / 1e6, present, points),
        "container_memory_working_set_bytes": latest(
            data.times, data.memory_pages.astype(np.float64) * 4096, present, points
        ),
        "kube_pod_container_status_restarts_total": latest(
            data.times, data.restarts.astype(np.float64), present, points
        ),
        # The owner join: a pod counts where its kube_pod_owner is visible.
        "container_memory_working_set_bytes * on(namespace, pod) group_left() kube_pod_owner": latest(
            data.times, data.memory_pages.astype(np.float64) * 4096, present, points
        ),
    }
    assert data.restarts.max() > 0  # the export includes OOM kills and counter resets
    with PrometheusServer(tmp_path / "tsdb") as prometheus, httpx.Client(base_url=prometheus.url) as http:
        for query, mine in expected.items():
            answer = http.post(
                "/api/v1/query_range",
                data={
                    "query": f'{query}{{cluster="om"}}' if "(" not in query and " " not in query else query,
                    "start": str(points[0]),
                    "end": str(points[-1]),
                    "step": "60",
                },
            ).json()
            assert answer["status"] == "success", answer
            got = np.full(mine.shape, np.nan)
            for series in answer["data"]["result"]:
                row = keys.index((series["metric"]["pod"], series["metric"]["container"]))
                for t, value in series["values"]:
                    got[row, int((float(t) - points[0]) // 60)] = float(value)
            np.testing.assert_allclose(got, mine, rtol=1e-12, err_msg=query)
