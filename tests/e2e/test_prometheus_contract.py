"""Contract: the PromQL catalogue over a real Prometheus gives the simulated source's rows.

Both implement docs/collection.md on the same samples. The simulated source reproduces
Prometheus 2.x's rate, lookback and extrapolation rules, so the rows agree to rounding: the
tolerance is a relative 1e-6 (float64 sums taken in another order, and the text round trip
of OpenMetrics values, printed with 9+ significant digits) plus an absolute 1e-9 for zeros.
"""

from __future__ import annotations

import math
from dataclasses import fields
from datetime import date

import pytest

from kubecap.domain.hpa import HpaMetric
from kubecap.domain.labels import LabelSelector
from kubecap.domain.node import NodeUsage
from kubecap.domain.usage import UsageProfile
from kubecap.domain.window import DAY, DailyWindow, PeakWindow, windows_of_day
from kubecap.errors import MissingSeriesError
from kubecap.metrics.nodes import NO_NODE_INFO
from kubecap.metrics.prometheus import PrometheusClient, PrometheusOptions
from kubecap.metrics.prometheus_source import PrometheusUsageSource
from kubecap.metrics.simulated import SimulatedSource
from tests.e2e.conftest import SimulatedPrometheus

pytestmark = pytest.mark.prometheus

REL, ABS = 1e-6, 1e-9
DAYS = [date(2026, 10, 24), date(2026, 10, 25), date(2026, 10, 26)]


def contract_windows(sim: SimulatedPrometheus) -> list[DailyWindow]:
    peaks = [PeakWindow.parse(p) for p in sim.contract.peak_windows]
    return [w for day in DAYS for w in windows_of_day(day, peaks, sim.contract.tz)]


def by_key(rows: list[UsageProfile]) -> dict[tuple[str, str, str, str], UsageProfile]:
    keyed = {(p.workload.namespace, p.workload.kind.value, p.workload.name, p.container): p for p in rows}
    assert len(keyed) == len(rows), "two rows for one workload container"
    return keyed


def differences(expected: UsageProfile, actual: UsageProfile) -> list[str]:
    out = []
    for figure in UsageProfile.figure_names():
        e, a = getattr(expected, figure), getattr(actual, figure)
        if e is None or a is None:
            if e is not a:
                out.append(f"{figure}: simulated {e} vs prometheus {a}")
        elif not math.isclose(e, a, rel_tol=REL, abs_tol=ABS):
            out.append(f"{figure}: simulated {e} vs prometheus {a}")
    return out


def source(client: PrometheusClient, cluster: str, **kwargs: object) -> PrometheusUsageSource:
    return PrometheusUsageSource(client, cluster=cluster, cluster_label={"cluster": cluster}, **kwargs)  # type: ignore[arg-type]


async def test_prometheus_rows_match_the_simulated_rows(simulated_prometheus: SimulatedPrometheus) -> None:
    simulated = SimulatedSource(simulated_prometheus.contract)
    windows = contract_windows(simulated_prometheus)
    assert [w.seconds for w in windows if w.name == DAY] == [86400, 90000, 86400]  # DST ends on the 25th
    problems = []
    async with PrometheusClient(PrometheusOptions(url=simulated_prometheus.url, retries=0)) as client:
        prometheus = source(client, "contract")
        for window in windows:
            expected = by_key(simulated.profiles(window))
            actual = by_key((await prometheus.window_usage(window)).profiles)
            assert expected, window
            assert sorted(actual) == sorted(expected), window
            for key, row in expected.items():
                problems += [f"{window.day} {window.name} {key}: {d}" for d in differences(row, actual[key])]
    assert not problems, "\n".join(problems[:40])


async def test_hpas_match_the_simulated_ones(simulated_prometheus: SimulatedPrometheus) -> None:
    simulated = SimulatedSource(simulated_prometheus.contract)
    window = contract_windows(simulated_prometheus)[-1]
    async with PrometheusClient(PrometheusOptions(url=simulated_prometheus.url, retries=0)) as client:
        seen = await source(client, "contract").hpas(window)
    expected = await simulated.hpas(window)
    assert seen == expected
    web, db = sorted(seen, key=lambda h: h.name, reverse=True)
    assert (web.workload.name, web.min_replicas, web.max_replicas, web.target_cpu_utilization) == (
        "web",
        2,
        6,
        0.7,
    )
    assert web.scales_on(HpaMetric.CPU) and not web.scales_on(HpaMetric.MEMORY)
    assert db.workload.kind.value == "StatefulSet" and db.target_memory_utilization == 0.8
    assert db.metrics == {HpaMetric.MEMORY, HpaMetric.OTHER}


async def test_workload_labels_match_the_simulated_ones(simulated_prometheus: SimulatedPrometheus) -> None:
    simulated = SimulatedSource(simulated_prometheus.contract)
    window = contract_windows(simulated_prometheus)[-1]
    async with PrometheusClient(PrometheusOptions(url=simulated_prometheus.url, retries=0)) as client:
        seen = await source(client, "contract").workload_labels(window)
    assert seen == await simulated.workload_labels(window)
    by_name = {ref.name: labels for ref, labels in seen.items()}
    assert by_name == {
        "web": {"app": "web", "app_kubernetes_io_part_of": "shop"},
        "db": {"app": "db", "tier": "data"},
        "agent": {},
    }
    assert [
        n
        for n, labels in by_name.items()
        if LabelSelector.parse("app.kubernetes.io/part-of=shop").matches(labels)
    ] == ["web"]


async def test_a_rollout_inside_a_window_keeps_one_row_per_workload(
    simulated_prometheus: SimulatedPrometheus,
) -> None:
    peak = next(
        w for w in contract_windows(simulated_prometheus) if w.day == DAYS[2] and w.name == "10:00-11:30"
    )
    async with PrometheusClient(PrometheusOptions(url=simulated_prometheus.url, retries=0)) as client:
        rows = (await source(client, "contract").window_usage(peak)).profiles
    web = [p for p in rows if p.workload.name == "web"]
    assert sorted(p.container for p in web) == ["app", "proxy"]
    # Old and new pods overlap for up to the 5-minute lookback, never more than twice the replicas.
    assert all(p.replicas_max is not None and 3 <= p.replicas_max <= 6 for p in web)


async def test_namespace_chunks_give_the_same_rows(simulated_prometheus: SimulatedPrometheus) -> None:
    window = contract_windows(simulated_prometheus)[0]
    async with PrometheusClient(PrometheusOptions(url=simulated_prometheus.url, retries=0)) as client:
        whole = await source(client, "contract").window_usage(window)
        chunked = await source(client, "contract", series_budget=3).window_usage(window)
    assert chunked.queries > whole.queries  # more, smaller queries
    expected, actual = by_key(whole.profiles), by_key(chunked.profiles)
    assert sorted(actual) == sorted(expected)
    assert all(not differences(expected[k], actual[k]) for k in expected)


async def test_batched_not_per_workload(simulated_prometheus: SimulatedPrometheus) -> None:
    window = contract_windows(simulated_prometheus)[1]
    async with PrometheusClient(PrometheusOptions(url=simulated_prometheus.url, retries=0)) as client:
        usage = await source(client, "contract").window_usage(window)
    assert len(usage.profiles) == 4
    # The inventory, the owners, ready replicas, then the per-pod figures for the whole cluster:
    # CPU 6, memory 3, requests and limits 1, throttling 2, restarts 1.
    assert usage.queries == 16


async def test_a_cluster_label_matching_nothing_is_named(simulated_prometheus: SimulatedPrometheus) -> None:
    window = contract_windows(simulated_prometheus)[0]
    async with PrometheusClient(PrometheusOptions(url=simulated_prometheus.url, retries=0)) as client:
        wrong = PrometheusUsageSource(client, cluster="prod", cluster_label={"cluster": "prod"})
        with pytest.raises(MissingSeriesError, match=r'no series match the cluster label \{cluster="prod"\}'):
            await wrong.window_usage(window)


async def test_missing_kube_state_metrics_is_named(simulated_prometheus: SimulatedPrometheus) -> None:
    window = contract_windows(simulated_prometheus)[0]
    async with PrometheusClient(PrometheusOptions(url=simulated_prometheus.url, retries=0)) as client:
        with pytest.raises(
            MissingSeriesError, match=r"no kube_pod_owner series .* is kube-state-metrics scraped\?"
        ):
            await source(client, "no-ksm").window_usage(window)


async def test_a_window_without_data_is_empty(simulated_prometheus: SimulatedPrometheus) -> None:
    tz = simulated_prometheus.contract.tz
    window = windows_of_day(date(2026, 9, 1), [], tz)[0]
    async with PrometheusClient(PrometheusOptions(url=simulated_prometheus.url, retries=0)) as client:
        usage = await source(client, "contract").window_usage(window)
    assert usage.profiles == []
    assert usage.warnings == ["no series in this window"]


def node_differences(expected: NodeUsage, actual: NodeUsage) -> list[str]:
    out = []
    for field in fields(NodeUsage):
        e, a = getattr(expected, field.name), getattr(actual, field.name)
        if isinstance(e, float) and isinstance(a, float):
            if not math.isclose(e, a, rel_tol=REL, abs_tol=ABS):
                out.append(f"{field.name}: simulated {e} vs prometheus {a}")
        elif e != a:
            out.append(f"{field.name}: simulated {e!r} vs prometheus {a!r}")
    return out


async def test_prometheus_node_figures_match_the_simulated_ones(
    simulated_prometheus: SimulatedPrometheus,
) -> None:
    simulated = SimulatedSource(simulated_prometheus.contract)
    days = [w for w in contract_windows(simulated_prometheus) if w.name == DAY]
    problems = []
    async with PrometheusClient(PrometheusOptions(url=simulated_prometheus.url, retries=0)) as client:
        prometheus = source(client, "contract")
        for window in days:
            expected, expected_warnings = simulated.nodes(window)
            actual = await prometheus.node_usage(window)
            assert actual.queries == 1  # one query per day for every node of the cluster
            assert actual.warnings == expected_warnings
            assert (
                [n.node for n in actual.nodes]
                == [n.node for n in expected]
                == ["apps-0", "apps-1", "db-0", "spare-0"]
            )
            for e, a in zip(expected, actual.nodes, strict=True):
                problems += [f"{window.day} {e.node}: {d}" for d in node_differences(e, a)]
    assert not problems, "\n".join(problems[:40])
    # The shape of the contract cluster, so that the comparison above cannot pass on empty figures.
    by_node = {n.node: n for n in actual.nodes}
    assert [n.pool for n in actual.nodes] == ["apps", "apps", "db", "spare"]
    assert [n.daemonset_only for n in actual.nodes] == [False, False, False, True]
    assert all(n.cpu_p99 and n.mem_p99 for n in actual.nodes[:3])  # by ip:port and by node name
    assert by_node["spare-0"].cpu_p99 is None and by_node["spare-0"].cpu_requests == 0.01  # the agent's
    assert by_node["db-0"].cpu_allocatable == 3.92 and by_node["db-0"].cpu_requests >= 2.0  # both db pods
    assert actual.warnings == [
        "no node-exporter data for node(s) spare-0: their CPU and memory usage is unknown; is node-exporter"
        " scraped there, with an instance label naming the node or its internal IP?"
    ]


async def test_node_figures_without_kube_state_metrics_are_empty_and_say_why(
    simulated_prometheus: SimulatedPrometheus,
) -> None:
    window = next(w for w in contract_windows(simulated_prometheus) if w.name == DAY)
    async with PrometheusClient(PrometheusOptions(url=simulated_prometheus.url, retries=0)) as client:
        usage = await source(client, "no-ksm").node_usage(window)
    assert usage.nodes == [] and usage.warnings == [NO_NODE_INFO]
