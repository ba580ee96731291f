"""The minute-by-minute simulation: departures, arrivals and placement, usage, the taint controller.

Each minute: pods whose lifetime is over leave; arriving pods join the queue and are placed
in order (a pod nobody can take waits, and is counted as not placed if its lifetime ends
first); the nodes' CPU and memory utilisation follow the running pods' traces; the
auto-taint controller, when there is one, takes its turn. The load a policy or the
controller sees is what the node-load cache would hold: the 5-minute average as of
``current_lag`` minutes ago, the 1-hour and 1-day maxima refreshed every ``hour_refresh``
and ``day_refresh`` minutes, and pods bound at least ``binding_lag`` minutes ago (what
kube-state-metrics shows) — kube-scheduler's own request bookkeeping sees every placement
at once. Taints are PreferNoSchedule or NoSchedule as the policy says.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from kubecap.scheduling.load import Figure, LoadSnapshot, NodeLoad, RecentBinding, ResourceLoad
from kubecap.scheduling.pods import Estimator, PodInfo
from kubecap.scheduling.policy import LoadPolicy
from kubecap.scheduling.taint_policy import Action, TaintObservation, TaintPolicy, Timers, plan
from kubecap.simulate.scheduling.policies import NodeState, Placer
from kubecap.simulate.scheduling.shapes import MINUTES_PER_DAY, Shapes
from kubecap.simulate.scheduling.workload import Pods, Scenario

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
HOT = 0.8


def at_minute(minute: int) -> datetime:
    return EPOCH + timedelta(minutes=minute)


@dataclass(frozen=True)
class CacheLag:
    """How the node-load cache lags the cluster (scrape interval, refresh periods)."""

    current_lag: int = 1
    hour_refresh: int = 5
    day_refresh: int = 30
    binding_lag: int = 1


@dataclass(frozen=True)
class Figures:
    """What one policy did over the measured minutes (after the warm-up)."""

    policy: str
    node_minutes_above_80: int
    highest_utilisation: float
    highest_demand: float
    utilisation_stdev: float
    mean_utilisation: float
    pods: int
    pods_placed: int
    pods_not_placed: int
    pending_pod_minutes: int
    taint_changes: int
    taint_changes_per_node_hour: float
    taint_flaps: int
    most_tainted: int = 0  # the most nodes tainted at once
    seconds: float = 0.0

    def as_dict(self) -> dict[str, float | int | str]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class _Run:
    scenario: Scenario
    pods: Pods
    cpu_shapes: Shapes
    memory_shapes: Shapes
    lag: CacheLag
    estimator: Estimator
    recent_window: int
    nodes: NodeState = field(init=False)
    util: npt.NDArray[np.float64] = field(init=False)
    demand: npt.NDArray[np.float64] = field(init=False)
    memory_util: npt.NDArray[np.float64] = field(init=False)
    avg5: npt.NDArray[np.float64] = field(init=False)
    memory_avg5: npt.NDArray[np.float64] = field(init=False)
    node_of: npt.NDArray[np.int64] = field(init=False)
    placed_at: npt.NDArray[np.int64] = field(init=False)
    binds: deque[tuple[int, int]] = field(default_factory=deque)
    hour_max: tuple[int, npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None
    day_max: tuple[int, npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None

    def __post_init__(self) -> None:
        s = self.scenario
        names = tuple(f"node-{i:03d}" for i in range(s.nodes))
        self.nodes = NodeState(names, np.full(s.nodes, s.node_cpu), np.full(s.nodes, s.node_memory))
        self.util = np.zeros((s.nodes, s.minutes))
        self.demand = np.zeros((s.nodes, s.minutes))
        self.memory_util = np.zeros((s.nodes, s.minutes))
        self.avg5 = np.zeros((s.nodes, s.minutes))
        self.memory_avg5 = np.zeros((s.nodes, s.minutes))
        self.node_of = np.full(len(self.pods), -1, dtype=np.int64)
        self.placed_at = np.full(len(self.pods), -1, dtype=np.int64)

    def pod_info(self, p: int) -> PodInfo:
        pods = self.pods
        return PodInfo(
            namespace="sim",
            name=f"pod-{p}",
            cpu_request=float(pods.cpu_request[p]),
            memory_request=float(pods.memory_request[p]),
            cpu_limit=float(pods.cpu_limit[p]),
            memory_limit=float(pods.memory_limit[p]),
        )

    def _maxima(self, last: int, window: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        first = max(0, last - window + 1)
        return self.avg5[:, first : last + 1].max(axis=1), self.memory_avg5[:, first : last + 1].max(axis=1)

    def snapshot(self, minute: int) -> LoadSnapshot:
        """What the node-load cache holds at the start of ``minute``."""
        last = minute - 1 - self.lag.current_lag  # the newest complete 5-minute average it has
        if last < 0:
            return LoadSnapshot(taken_at=at_minute(minute))
        if self.hour_max is None or minute - self.hour_max[0] >= self.lag.hour_refresh:
            self.hour_max = (minute, *self._maxima(last, 60))
        if self.day_max is None or minute - self.day_max[0] >= self.lag.day_refresh:
            self.day_max = (minute, *self._maxima(last, MINUTES_PER_DAY))
        current_at = at_minute(last)
        hour_at, day_at = at_minute(self.hour_max[0]), at_minute(self.day_max[0])
        s = self.scenario
        nodes = {}
        for i, name in enumerate(self.nodes.names):
            nodes[name] = NodeLoad(
                name,
                ResourceLoad(
                    Figure(float(self.avg5[i, last]), current_at),
                    Figure(float(self.hour_max[1][i]), hour_at),
                    Figure(float(self.day_max[1][i]), day_at),
                ),
                ResourceLoad(
                    Figure(float(self.memory_avg5[i, last]), current_at),
                    Figure(float(self.hour_max[2][i]), hour_at),
                    Figure(float(self.day_max[2][i]), day_at),
                ),
                cpu_cores=s.node_cpu,
                memory_bytes=s.node_memory,
            )
        while self.binds and self.binds[0][0] < minute - self.recent_window:
            self.binds.popleft()
        recent: dict[str, list[RecentBinding]] = {}
        for bound, p in self.binds:
            node = int(self.node_of[p])
            if bound > minute - self.lag.binding_lag or node < 0:
                continue
            info = self.pod_info(p)
            name = self.nodes.names[node]
            recent.setdefault(name, []).append(
                RecentBinding(
                    name, info.key, at_minute(bound), self.estimator.cpu(info), self.estimator.memory(info)
                )
            )
        return LoadSnapshot(
            taken_at=at_minute(minute), nodes=nodes, recent={k: tuple(v) for k, v in recent.items()}
        )

    def place(self, p: int, node: int, minute: int) -> None:
        self.node_of[p] = node
        self.placed_at[p] = minute
        self.nodes.cpu_requested[node] += self.pods.cpu_request[p]
        self.nodes.memory_requested[node] += self.pods.memory_request[p]
        self.binds.append((minute, p))

    def release(self, p: int) -> None:
        node = int(self.node_of[p])
        self.nodes.cpu_requested[node] -= self.pods.cpu_request[p]
        self.nodes.memory_requested[node] -= self.pods.memory_request[p]

    def usage(self, minute: int, running: npt.NDArray[np.int64]) -> None:
        s, pods = self.scenario, self.pods
        nodes = self.node_of[running]
        cpu = pods.cpu_usage[running] * self.cpu_shapes.at(pods.shape[running], pods.offset[running] + minute)
        # A container never uses more CPU than its limit (the CFS quota throttles it).
        limit = pods.cpu_limit[running]
        cpu = np.where(limit > 0, np.minimum(cpu, limit), cpu)
        # Memory moves slowly: a fifth of its trace's swing around the pod's level.
        memory_shape = self.memory_shapes.at(pods.memory_shape[running], pods.offset[running] + minute)
        memory = pods.memory_usage[running] * (0.8 + 0.2 * np.minimum(memory_shape, 2.0))
        demand = np.bincount(nodes, weights=cpu, minlength=s.nodes) / s.node_cpu
        self.demand[:, minute] = demand
        # node-exporter sees what the CPUs did: at most all of them, whatever was asked.
        self.util[:, minute] = np.minimum(demand, 1.0)
        self.memory_util[:, minute] = np.bincount(nodes, weights=memory, minlength=s.nodes) / s.node_memory
        first = max(0, minute - 4)
        self.avg5[:, minute] = self.util[:, first : minute + 1].mean(axis=1)
        self.memory_avg5[:, minute] = self.memory_util[:, first : minute + 1].mean(axis=1)


def _flaps(events: list[tuple[int, int, Action]], window: int) -> int:
    """Changes that undo the previous change of the same node within ``window`` minutes."""
    last: dict[int, tuple[int, Action]] = {}
    flaps = 0
    for minute, node, action in events:
        before = last.get(node)
        if before is not None and before[1] is not action and minute - before[0] < window:
            flaps += 1
        last[node] = (minute, action)
    return flaps


def simulate(
    scenario: Scenario,
    pods: Pods,
    cpu_shapes: Shapes,
    memory_shapes: Shapes,
    placer: Placer,
    *,
    taints: TaintPolicy | None = None,
    lag: CacheLag | None = None,
    load_policy: LoadPolicy | None = None,
    flap_window: int = 30,
    name: str | None = None,
) -> Figures:
    """Run ``scenario`` with ``placer`` (and the taint controller when ``taints`` is given)."""
    started = time.perf_counter()
    policy = load_policy or LoadPolicy()
    run = _Run(
        scenario,
        pods,
        cpu_shapes,
        memory_shapes,
        lag or CacheLag(),
        policy.estimator,
        max(1, round(policy.recent_window.total_seconds() / 60)),
    )
    total = scenario.minutes
    rng = np.random.default_rng(scenario.seed + 1)
    arrivals = np.clip(pods.arrival, 0, None)
    arriving = np.split(np.arange(len(pods)), np.searchsorted(arrivals, np.arange(1, total)))
    by_end = np.argsort(pods.end, kind="stable")
    ends = pods.end[by_end]
    running = np.zeros(len(pods), dtype=bool)
    pending: deque[int] = deque()
    pending_minutes = 0
    not_placed = 0
    timers: dict[str, Timers] = {}
    events: list[tuple[int, int, Action]] = []
    end_cursor = 0
    most_tainted = 0
    index_of = {name: i for i, name in enumerate(run.nodes.names)}
    for minute in range(total):
        while end_cursor < len(ends) and ends[end_cursor] <= minute:
            p = int(by_end[end_cursor])
            end_cursor += 1
            if running[p]:
                running[p] = False
                run.release(p)
        if minute < len(arriving):
            pending.extend(int(p) for p in arriving[minute])
        if pending:
            if placer.needs_load:
                placer.begin(run.snapshot(minute), at_minute(minute))
            waiting: deque[int] = deque()
            while pending:
                p = pending.popleft()
                if pods.end[p] <= minute:
                    not_placed += 1
                    continue
                node = placer.choose(run.pod_info(p), run.nodes, rng)
                if node is None:
                    waiting.append(p)
                    continue
                run.place(p, node, minute)
                running[p] = True
            pending = waiting
            if minute >= scenario.warmup_minutes:
                pending_minutes += len(pending)
        run.usage(minute, np.flatnonzero(running))
        if taints is not None and minute >= 1 + run.lag.current_lag:
            seen = minute - run.lag.current_lag
            observations = [
                TaintObservation(
                    name,
                    cpu=float(run.avg5[i, seen]),
                    memory=float(run.memory_avg5[i, seen]),
                    effects=(taints.effect,) if (run.nodes.prefer_avoid[i] or run.nodes.blocked[i]) else (),
                )
                for i, name in enumerate(run.nodes.names)
            ]
            result = plan(observations, timers, taints, at_minute(minute))
            timers = dict(result.timers)
            for change in result.changes:
                i = index_of[change.node]
                on = change.action is not Action.REMOVE
                flags = run.nodes.blocked if taints.effect == "NoSchedule" else run.nodes.prefer_avoid
                flags[i] = on
                events.append((minute, i, change.action))
            most_tainted = max(
                most_tainted, int(np.count_nonzero(run.nodes.prefer_avoid | run.nodes.blocked))
            )
    not_placed += len(pending)  # still waiting at the end
    warm = scenario.warmup_minutes
    measured = run.util[:, warm:]
    counted = [e for e in events if e[0] >= warm]
    hours = (total - warm) / 60
    arrived = int(np.count_nonzero(pods.arrival < total))
    return Figures(
        policy=name or placer.name,
        node_minutes_above_80=int(np.count_nonzero(measured > HOT)),
        highest_utilisation=float(measured.max()),
        highest_demand=float(run.demand[:, warm:].max()),
        utilisation_stdev=float(measured.std(axis=0).mean()),
        mean_utilisation=float(measured.mean()),
        pods=arrived,
        pods_placed=int(np.count_nonzero(run.node_of >= 0)),
        pods_not_placed=not_placed,
        pending_pod_minutes=pending_minutes,
        taint_changes=len(counted),
        taint_changes_per_node_hour=len(counted) / (scenario.nodes * hours) if hours else 0.0,
        taint_flaps=_flaps(events, flap_window),
        most_tainted=most_tainted,
        seconds=time.perf_counter() - started,
    )
