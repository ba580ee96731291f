"""Predictive-replicas load sources without Prometheus, for tests, benchmarks and the demo.

``TraceLoad`` maps a bundled trace (0..1 every 5 minutes) onto wall-clock time from
``origin`` as ``offset + scale × value``; ``load`` returns the samples in the asked
range that the trace covers — the same shape as a Prometheus range query's answer.

``SimulatedLoad`` reads a workload's load from a simulated cluster (kubecap.metrics.simulated):
the very samples its usage is collected from, in the units of the ``cpu`` signal (cores summed
over the workload's pods, kubecap.metrics.sim_load). `kubecap demo` uses it, as its cluster has
no Prometheus; a ``promql`` policy fails alone, saying so.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from kubecap.errors import ConfigError
from kubecap.forecast import Series
from kubecap.metrics.sim_generate import SimData
from kubecap.metrics.sim_load import range_points, workload_cpu, workload_index
from kubecap.metrics.sim_traces import load_trace
from kubecap.metrics.simulated import Scenario, SimulatedSource
from kubecap.predict.policy import Policy, Signal


@dataclass(frozen=True, slots=True)
class TraceLoad:
    trace: str
    origin: datetime
    scale: float = 1.0
    offset: float = 0.0
    """Load added to every sample (a baseline the trace rides on)."""

    async def load(self, policy: Policy, start: datetime, end: datetime, step: int) -> Series:
        trace = load_trace(self.trace)
        base = self.origin.timestamp()
        t = base + trace.step * np.arange(trace.values.size, dtype=np.float64)
        keep = (t >= start.timestamp()) & (t <= end.timestamp())
        return Series(t[keep], trace.values[keep] * self.scale + self.offset, str(policy.ref))


@dataclass
class SimulatedLoad:
    """The load of a simulated cluster's workloads, from the simulation that feeds its usage.

    The simulation is generated for a period ending at the asked ``end`` (a scenario ending
    ``now`` follows the clock; one with a fixed end covers only its own period), and kept for
    the next policy asking about the same minute: one generation per round.
    """

    scenario: Scenario
    _cached: tuple[datetime, SimData] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def data(self, end: datetime) -> SimData:
        """The simulated samples of the period ending at ``end`` (floored to the minute)."""
        source = SimulatedSource(self.scenario, now=end)
        period_end = source.period[1]
        with self._lock:
            if self._cached is None or self._cached[0] != period_end:
                self._cached = (period_end, source.data())
            return self._cached[1]

    async def load(self, policy: Policy, start: datetime, end: datetime, step: int) -> Series:
        ref = policy.ref
        if ref.cluster != self.scenario.cluster:
            raise ConfigError(
                f"{ref} is not in the simulated cluster {self.scenario.cluster!r}: "
                "only that cluster's workloads have a simulated load"
            )
        if policy.signal is Signal.PROMQL:
            raise ConfigError(
                f"{ref} reads its load with PromQL, but the simulated cluster {ref.cluster!r} of the demo "
                "has no Prometheus to run it: use --signal cpu (its pods' CPU cores, simulated)"
            )
        data = await asyncio.to_thread(self.data, end)
        index = workload_index(data, ref.namespace, ref.kind, ref.name)
        if index is None:
            raise ConfigError(
                f"{ref} is not a workload of the simulated cluster {ref.cluster!r}: "
                "pick one that `kubecap report` lists"
            )
        points = range_points(start.timestamp(), end.timestamp(), step)
        times, cores = await asyncio.to_thread(workload_cpu, data, index, points)
        return Series(times.astype(np.float64), cores, str(ref))
