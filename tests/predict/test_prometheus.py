"""Predictive replicas over a real Prometheus and a fake apiserver on loopback, through the command line.

Five days of cAdvisor CPU counters for the pods of Deployment shop/web (two pods, each half of
1 + 8 × Crane's daily trace, in cores) are backfilled into Prometheus and end five minutes ago;
``kubecap predict run --once`` reads them, forecasts and scales web through the apiserver.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.metrics.prometheus import PrometheusClient, PrometheusOptions
from kubecap.metrics.sim_traces import load_trace
from kubecap.predict import Policy, Signal
from kubecap.predict.prometheus import PrometheusLoad, cpu_query
from kubecap.testing.apiserver import FakeApiServer
from kubecap.testing.prometheus import PrometheusServer, backfill
from tests.recommend.test_cli import kubecap
from tests.scheduling.node_exporter import History

STEP = 300
END = (int(time.time()) // STEP - 1) * STEP
START = END - 5 * 86_400
ORIGIN = START - 7 * 86_400  # day 7 of the trace is the first day of history
WEB = WorkloadRef("prod", "shop", WorkloadKind.DEPLOYMENT, "web")


def cores(times: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    trace = load_trace("crane_daily").values
    index = ((times - ORIGIN) // STEP).astype(int) % trace.size
    return np.asarray(1.0 + 8.0 * trace[index], dtype=np.float64)


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("predict-prometheus")
    history = History(START - 600, END, step=60.0)
    times = history.times
    for pod in ("web-5d8f9c7b6-abcde", "web-5d8f9c7b6-fghij"):
        # Counter at sample k: the CPU seconds of the steps before it (half the load each).
        used = np.concatenate([[0.0], np.cumsum(cores(times[:-1]) / 2 * 60.0)])
        labels = {"namespace": "shop", "pod": pod, "container": "app"}
        history.add("container_cpu_usage_seconds_total", "counter", labels, times, 100.0 + used)
    # Neither another namespace's web, nor a pod whose name only starts like web's, nor the pause container.
    for labels in (
        {"namespace": "other", "pod": "web-5d8f9c7b6-abcde", "container": "app"},
        {"namespace": "shop", "pod": "web-api-0", "container": "app"},
        {"namespace": "shop", "pod": "web-5d8f9c7b6-abcde", "container": "POD"},
    ):
        history.add(
            "container_cpu_usage_seconds_total", "counter", labels, times, 5.0 * times - 5.0 * times[0]
        )
    backfill(history.write(root / "om"), root / "data")
    with PrometheusServer(root / "data") as server:
        yield server.url


def test_the_cpu_query_escapes_the_name_and_scopes_the_cluster() -> None:
    policy = Policy(WorkloadRef("prod", "shop", WorkloadKind.STATEFULSET, "db.v2"), target=1.0)
    assert cpu_query(policy, {"cluster": 'eu"1'}) == (
        'sum(rate(container_cpu_usage_seconds_total{cluster="eu\\"1", namespace="shop", '
        'pod=~"db\\\\.v2-[0-9]+", container!="", container!="POD"}[5m]))'
    )


async def test_the_load_is_the_workloads_cores_and_a_promql_signal_is_read_as_it_is(
    prometheus_url: str,
) -> None:
    end = datetime.fromtimestamp(END, UTC)
    async with PrometheusClient(PrometheusOptions(url=prometheus_url, retries=0)) as client:
        source = PrometheusLoad(client)
        series = await source.load(Policy(WEB, target=1.0), end - timedelta(days=14), end, STEP)
        # rate[5m] at t averages the 5 minutes before t: the trace's step that ended at t.
        expected = cores(series.timestamps - STEP)
        assert series.values.size >= 5 * 288 - 2
        np.testing.assert_allclose(series.values, expected, rtol=1e-6)
        doubled = Policy(
            WEB,
            target=1.0,
            signal=Signal.PROMQL,
            promql='2 * sum(rate(container_cpu_usage_seconds_total{namespace="shop",pod=~"web-.*-.*"}[5m]))',
        )
        other = await source.load(doubled, end - timedelta(hours=2), end, STEP)
        assert other.values.size == 25
        nothing = Policy(WEB, target=1.0, signal=Signal.PROMQL, promql='up{job="none"}')
        assert (await source.load(nothing, end - timedelta(hours=1), end, STEP)).values.size == 0


def test_predict_run_once_forecasts_from_prometheus_and_scales_through_the_apiserver(
    prometheus_url: str, tmp_path: Path
) -> None:
    with FakeApiServer() as apiserver:
        apiserver.add_workload("shop", "web", replicas=1)
        kubeconfig = apiserver.write_kubeconfig(tmp_path / "kubeconfig")
        config = tmp_path / "kubecap.yaml"
        config.write_text(
            f"database_url: sqlite:///{tmp_path / 'kubecap.db'}\n"
            "clusters:\n"
            f"  - {{name: prod, prometheus: {{url: '{prometheus_url}'}}, kubernetes: {{kubeconfig: '{kubeconfig}'}}}}\n"
        )
        opted = kubecap("predict", "set", "web", "-n", "shop", "--target", "1", "--max", "12", "--max-error", "5",
                        "--config", str(config))  # fmt: skip
        assert opted.returncode == 0, opted.stderr
        done = kubecap("predict", "run", "--once", "--json", "--config", str(config))
        assert done.returncode == 0, done.stderr
        (outcome,) = json.loads(done.stdout)["workloads"]
        decision = outcome["decision"]
        assert outcome["error"] == "" and decision["basis"] == "forecast"
        assert decision["expected_load"] >= 1.0 and 1 <= decision["replicas"] <= 12
        assert apiserver.get("deployments", "shop", "web")["spec"]["replicas"] == decision["replicas"]
        shown = kubecap("predict", "show", "--json", "--config", str(config))
        (policy,) = json.loads(shown.stdout)
        assert policy["state"]["last"]["replicas"] == decision["replicas"]
        # A policy on a cluster without a Prometheus fails alone, in one sentence, exit 2.
        config.write_text(
            f"database_url: sqlite:///{tmp_path / 'kubecap.db'}\n"
            f"clusters:\n  - {{name: prod, simulated: demo, kubernetes: {{kubeconfig: '{kubeconfig}'}}}}\n"
        )
        failed = kubecap("predict", "run", "--once", "--config", str(config))
        assert failed.returncode == 2
        assert "has no Prometheus to read its load from: set clusters[prod].prometheus.url" in failed.stdout
