"""The simulated cluster and the pods that arrive in it, drawn once from a seed.

Workloads arrive as Poisson events, each bringing its replicas at the same minute (as a
Deployment's rollout does); replicas share a CPU request, a usage level and a trace, and
leave one by one after log-normal lifetimes. Requests are a few typical sizes; the usage
level (mean CPU use over request) is log-normal, so some workloads use a tenth of what
they ask and some twice as much — the difference a requests-based scheduler cannot see.
The arrival rate is set so that requests fill ``request_share`` of the cluster's CPU on
average. History starts ``history_days`` before minute 0, so the cluster is already full
and mixed when the simulation begins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kubecap.simulate.scheduling.shapes import MINUTES_PER_DAY, Shapes

GI = 2**30
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Scenario:
    nodes: int = 40
    node_cpu: float = 16.0
    node_memory: float = 64 * GI
    days: float = 4.0
    warmup_days: float = 1.0
    request_share: float = 0.80
    cpu_sizes: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0)
    cpu_size_weights: tuple[float, ...] = (0.2, 0.3, 0.25, 0.17, 0.08)
    usage_median: float = 0.7
    usage_sigma: float = 0.7
    lifetime_median_h: float = 6.0
    lifetime_sigma: float = 1.0
    max_lifetime_days: float = 3.0
    replicas_p: float = 0.45
    max_replicas: int = 8
    history_days: float = 3.0
    seed: int = 7

    def __post_init__(self) -> None:
        if self.nodes < 1 or self.node_cpu <= 0 or self.node_memory <= 0:
            raise ValueError("a scenario needs at least one node with CPU and memory")
        if not 0 < self.request_share <= 1.5:
            raise ValueError(f"request_share {self.request_share} must be above 0 and at most 1.5")
        if not 0 <= self.warmup_days < self.days:
            raise ValueError(f"warmup_days {self.warmup_days} must be below days {self.days}")
        if len(self.cpu_sizes) != len(self.cpu_size_weights):
            raise ValueError("cpu_sizes and cpu_size_weights must have the same length")

    @property
    def minutes(self) -> int:
        return round(self.days * MINUTES_PER_DAY)

    @property
    def warmup_minutes(self) -> int:
        return round(self.warmup_days * MINUTES_PER_DAY)


@dataclass(frozen=True)
class Pods:
    """Every pod of a run, as parallel arrays sorted by arrival minute (negative: before minute 0)."""

    arrival: I64
    end: I64
    workload: I64
    cpu_request: F64
    memory_request: F64
    cpu_limit: F64
    memory_limit: F64
    cpu_usage: F64  # mean CPU use in cores (request × usage level)
    memory_usage: F64  # bytes
    shape: I64
    memory_shape: I64
    offset: I64  # minute of the shape read at simulated minute 0 (a whole day: time of day kept)

    def __len__(self) -> int:
        return len(self.arrival)


def generate(scenario: Scenario, cpu: Shapes, memory: Shapes) -> Pods:
    """The pods of ``scenario``, the same for the same seed whatever policy places them."""
    rng = np.random.default_rng(scenario.seed)
    weights = np.array(scenario.cpu_size_weights) / sum(scenario.cpu_size_weights)
    mean_request = float(np.dot(weights, scenario.cpu_sizes))
    p = scenario.replicas_p
    # Mean of 1 + a geometric count capped at max_replicas - 1 (computed, not approximated).
    counts = np.arange(scenario.max_replicas)
    probabilities = p * (1 - p) ** counts
    probabilities[-1] += 1 - probabilities.sum()
    mean_replicas = float(np.dot(1 + counts, probabilities))
    lifetimes_h = np.exp(
        np.log(scenario.lifetime_median_h) + scenario.lifetime_sigma * rng.standard_normal(200_000)
    )
    mean_lifetime_min = float(
        np.minimum(lifetimes_h * 60, scenario.max_lifetime_days * MINUTES_PER_DAY).mean()
    )
    capacity = scenario.nodes * scenario.node_cpu
    rate = scenario.request_share * capacity / (mean_request * mean_replicas * mean_lifetime_min)

    start = -round(scenario.history_days * MINUTES_PER_DAY)
    span = scenario.minutes - start
    events = rng.poisson(rate * span)
    event_minute = np.sort(rng.integers(start, scenario.minutes, size=events))
    replicas = 1 + rng.choice(counts, size=events, p=probabilities)
    size = rng.choice(np.array(scenario.cpu_sizes), size=events, p=weights)
    level = np.clip(
        np.exp(np.log(scenario.usage_median) + scenario.usage_sigma * rng.standard_normal(events)), 0.05, 2.5
    )
    memory_per_core = rng.choice(np.array([2.0, 3.0, 4.0]), size=events) * GI
    burstable = rng.random(events) < 0.7
    shape = rng.integers(0, len(cpu.names), size=events)
    memory_shape = rng.integers(0, len(memory.names), size=events)
    day = rng.integers(0, 1 << 30, size=events) % cpu.days[shape]
    memory_level = rng.uniform(0.5, 0.9, size=events)

    workload = np.repeat(np.arange(events), replicas)
    n = len(workload)
    arrival = event_minute[workload]
    lifetime = np.minimum(
        np.exp(np.log(scenario.lifetime_median_h * 60) + scenario.lifetime_sigma * rng.standard_normal(n)),
        scenario.max_lifetime_days * MINUTES_PER_DAY,
    )
    end = arrival + np.maximum(1, np.round(lifetime)).astype(np.int64)
    alive = end > 0  # pods gone before the simulation starts never matter
    cpu_request = size[workload]
    memory_request = cpu_request * memory_per_core[workload]
    # Replicas of one workload differ a little (uneven load balancing).
    jitter = rng.uniform(0.85, 1.15, size=n)
    pods = Pods(
        arrival=arrival,
        end=end,
        workload=workload,
        cpu_request=cpu_request,
        memory_request=memory_request,
        cpu_limit=np.where(burstable[workload], 2 * cpu_request, 0.0),
        memory_limit=memory_request,
        cpu_usage=cpu_request * level[workload] * jitter,
        memory_usage=memory_request * memory_level[workload],
        shape=shape[workload],
        memory_shape=memory_shape[workload],
        offset=(day[workload] * MINUTES_PER_DAY).astype(np.int64),
    )
    return Pods(*(np.asarray(getattr(pods, f))[alive] for f in Pods.__dataclass_fields__))
