"""A predictive-replicas load source over a real trace, for tests, benchmarks and the demo.

``TraceLoad`` maps a bundled trace (0..1 every 5 minutes) onto wall-clock time from
``origin`` as ``offset + scale × value``; ``load`` returns the samples in the asked
range that the trace covers — the same shape as a Prometheus range query's answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from kubecap.forecast import Series
from kubecap.metrics.sim_traces import load_trace
from kubecap.predict.policy import Policy


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
