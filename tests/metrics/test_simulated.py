"""The simulated source end to end: OOM kills, throttling, rollouts, the demo, determinism."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from kubecap.domain.usage import UsageProfile
from kubecap.domain.window import DAY, PeakWindow, windows_of_day
from kubecap.domain.workload import WorkloadKind
from kubecap.metrics.sim_generate import PAGE
from kubecap.metrics.sim_profile import rate
from kubecap.metrics.simulated import SimulatedSource, demo_scenario, scenario_from_yaml
from kubecap.ports import UsageSource

SCENARIO = """
cluster: sim
timezone: Asia/Shanghai
end: "2026-03-10T00:00"
days: 1
seed: {seed}
namespaces:
  shop:
    - kind: Deployment
      name: web
      replicas: 2
      rollouts: ["2026-03-09T10:40:00"]
      containers:
        - name: app
          requests: {{cpu: 100m, memory: 128Mi}}
          cpu: {{trace: crane_daily, low: 50m, high: 300m, offset: -1h}}
          memory: {{constant: 100Mi}}
        - name: proxy
          cpu: {{constant: 10m}}
          memory: {{constant: 30Mi}}
    - kind: Deployment
      name: leaky
      replicas: 2
      containers:
        - name: app
          limits: {{memory: 300Mi}}
          cpu: {{constant: 50m}}
          memory: {{diurnal: {{base: 250Mi, amplitude: 80Mi, peak: "11:00"}}, noise: 0.01}}
    - kind: StatefulSet
      name: busy
      replicas: 1
      rollouts: ["2026-03-09T03:00:00"]
      containers:
        - name: app
          requests: {{cpu: 200m}}
          limits: {{cpu: 200m}}
          cpu: {{diurnal: {{base: 200m, amplitude: 150m, peak: "11:00"}}, noise: 0.05}}
          memory: {{constant: 64Mi}}
    - kind: DaemonSet
      name: agent
      replicas: 3
      containers:
        - name: agent
          cpu: {{constant: 5m}}
          memory: {{constant: 20Mi}}
"""
NOW = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)  # 2026-03-10 00:00 in Shanghai
PEAK = PeakWindow.parse("10:00-11:30")


def _source(seed: int = 1) -> SimulatedSource:
    return SimulatedSource(scenario_from_yaml(SCENARIO.format(seed=seed)), now=NOW)


def _rows(source: SimulatedSource, day: date) -> dict[tuple[str, str, str], UsageProfile]:
    return {
        (p.window, p.workload.name, p.container): p
        for w in windows_of_day(day, [PEAK], source.scenario.tz)
        for p in source.profiles(w)
    }


def test_it_is_a_usage_source() -> None:
    source: UsageSource = _source()
    assert source.cluster == "sim"


async def test_window_usage_gives_one_row_per_workload_container() -> None:
    source = _source()
    window = windows_of_day(date(2026, 3, 9), [PEAK], source.scenario.tz)[0]
    usage = await source.window_usage(window)
    keys = sorted((p.workload.kind, p.workload.name, p.container) for p in usage.profiles)
    assert keys == [
        (WorkloadKind.DAEMONSET, "agent", "agent"),
        (WorkloadKind.DEPLOYMENT, "leaky", "app"),
        (WorkloadKind.DEPLOYMENT, "web", "app"),
        (WorkloadKind.DEPLOYMENT, "web", "proxy"),
        (WorkloadKind.STATEFULSET, "busy", "app"),
    ]
    assert usage.queries == 0 and usage.warnings == []
    # samples are pod-points: 90 points for each pod of a workload whose pods stayed put.
    steady = [p for p in usage.profiles if p.replicas_min == p.replicas_max]
    assert steady and all(p.samples == 90 * p.replicas_max for p in steady if p.replicas_max)


def test_a_rollout_inside_the_peak_window_keeps_one_row_per_workload() -> None:
    source = _source()
    data = source.data()
    web = [p for p in data.pods if p.namespace == "shop" and data.workloads[p.workload].name == "web"]
    assert len({p.owner_name for p in web}) == 2  # two ReplicaSets, 2 pods each
    rows = _rows(source, date(2026, 3, 9))
    peak = rows[("10:00-11:30", "web", "app")]
    # Both ReplicaSets' pods are in the one row; the surge shows in the ready replicas.
    assert peak.replicas_min == 2 and peak.replicas_max == 3
    # Old and new pods' points both count: more than two pods' worth, less than three.
    assert 2 * 90 < peak.samples < 3 * 90 and peak.cpu_request == pytest.approx(0.1)


def test_memory_above_the_limit_is_an_oom_kill() -> None:
    source = _source()
    data = source.data()
    leaky = np.flatnonzero([data.rows[r][0] == 1 for r in data.container_row])
    present = data.container_present[leaky]
    pages = data.memory_pages[leaky]
    restarts = data.restarts[leaky]
    limit = 300 * 2**20
    assert (pages[present].astype(np.int64) * PAGE <= limit).all()
    assert restarts.max() > 0
    # At each OOM sample the restart count rises, memory restarts low and the CPU counter resets.
    rows, cols = np.nonzero(np.diff(restarts, axis=1) > 0)
    cpu = data.cpu_us[leaky]
    assert len(rows) == restarts[:, -1].sum()
    assert (cpu[rows, cols + 1] < cpu[rows, cols]).all()
    assert (pages[rows, cols + 1] < pages[rows, cols]).all()
    figures = _rows(source, date(2026, 3, 9))
    day = figures[(DAY, "leaky", "app")]
    assert day.oom_kills is not None and day.oom_kills == day.restarts and day.oom_kills >= 1
    assert day.mem_max is not None and day.mem_max <= limit and day.mem_limit == limit
    assert figures[(DAY, "web", "app")].oom_kills == 0


def test_cpu_limits_cap_usage_and_throttle() -> None:
    source = _source()
    data = source.data()
    busy = np.flatnonzero([data.rows[r][0] == 2 for r in data.container_row])
    assert (data.cfs[busy] >= 0).all()
    usage = rate(data.times, data.cpu_us[busy] / 1e6, data.container_present[busy], data.times[5:])
    assert np.nanmax(usage) <= 0.2 * (1 + 1e-9)
    # 10 CFS periods per second of the container's life.
    periods = data.cfs_periods[data.cfs[busy]]
    assert np.diff(periods[0, 10:20]).tolist() == [600] * 9
    rows = _rows(source, date(2026, 3, 9))
    peak, day = rows[("10:00-11:30", "busy", "app")], rows[(DAY, "busy", "app")]
    assert peak.cpu_throttle_ratio is not None and day.cpu_throttle_ratio is not None
    assert peak.cpu_throttle_ratio > 0.5
    assert 0 < day.cpu_throttle_ratio < peak.cpu_throttle_ratio
    assert peak.cpu_max == pytest.approx(0.2, rel=1e-6)
    assert rows[(DAY, "web", "app")].cpu_throttle_ratio is None


def test_statefulset_pods_keep_their_names_across_a_rollout() -> None:
    data = _source().data()
    busy = [p for p in data.pods if p.owner_name == "busy"]
    assert [p.name for p in busy] == ["busy-0"]
    row = data.pod_present[data.pods.index(busy[0])]
    assert not row.all() and row.sum() >= len(row) - 1  # recreated: gone for one scrape at most


def test_windows_outside_the_period_have_fewer_points_and_a_warning() -> None:
    source = _source()
    before = windows_of_day(date(2026, 3, 8), [], source.scenario.tz)[0]
    assert source.profiles(before) == []
    after = windows_of_day(date(2026, 3, 10), [], source.scenario.tz)[0]
    # The whole day is evaluated every 5 minutes: its first point, 5 minutes after the end, sees one sample.
    assert source.profiles(after) == []
    fine = SimulatedSource(source.scenario, now=NOW, day_step=60)
    assert all(0 < p.samples <= 5 * p.replicas_max for p in fine.profiles(after) if p.replicas_max)


async def test_the_warning_names_the_window() -> None:
    source = _source()
    usage = await source.window_usage(windows_of_day(date(2026, 3, 10), [], source.scenario.tz)[0])
    assert len(usage.warnings) == 1 and "outside the simulated period" in usage.warnings[0]


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    day = date(2026, 3, 9)
    assert _rows(_source(1), day) == _rows(_source(1), day)
    assert _rows(_source(1), day) != _rows(_source(2), day)


def test_the_demo_gives_rows_for_every_workload_container_over_fourteen_days() -> None:
    scenario = demo_scenario()
    assert scenario.timezone == "Asia/Shanghai" and scenario.days == 14
    assert scenario.peak_windows == ["10:00-11:30"]
    workloads = scenario.workloads()
    assert len(workloads) >= 20 and len(scenario.namespaces) >= 5
    assert {w.kind for _, w in workloads} == set(WorkloadKind)
    expected = {(w.name, c.name) for _, w in workloads for c in w.containers}
    # Local midnight: the 14 previous days are whole.
    source = SimulatedSource(scenario, now=datetime(2026, 11, 20, 16, 0, tzinfo=UTC))
    first = date(2026, 11, 7)
    oom_kills = 0.0
    throttled = set()
    for offset in range(14):
        for window in windows_of_day(first + timedelta(days=offset), source.peak_windows, scenario.tz):
            rows = source.profiles(window)
            assert {(p.workload.name, p.container) for p in rows} == expected
            step = 300 if window.name == "day" else 60
            assert all(p.samples >= window.seconds // step for p in rows)
            oom_kills += sum(p.oom_kills or 0 for p in rows)
            throttled |= {p.workload.name for p in rows if (p.cpu_throttle_ratio or 0) > 0.1}
    assert oom_kills > 0 and throttled == {"search"}
