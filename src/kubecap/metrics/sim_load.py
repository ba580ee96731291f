"""A simulated workload's CPU load over time, as a Prometheus range query would answer it.

Predictive replicas forecast ``sum(rate(container_cpu_usage_seconds_total{<the workload's
pods>}[5m]))`` (kubecap.predict.prometheus). On the simulated cluster the same figure comes
from the generated samples (sim_generate): the ``rate`` of sim_profile, which follows
Prometheus 2.x, of every container series of every pod the workload had, summed at each
evaluation point over the series that have a value there. A point where none has one is left
out, as in a range query's answer. Pure: arrays in, arrays out.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kubecap.domain.workload import WorkloadKind
from kubecap.metrics.sim_generate import SimData
from kubecap.metrics.sim_profile import RANGE, rate

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def range_points(start: float, end: float, step: int) -> I64:
    """A range query's evaluation points: from ``start`` (to the second above) every ``step`` to ``end``."""
    first = int(np.ceil(start))
    if end < first:
        return np.zeros(0, dtype=np.int64)
    return first + step * np.arange(int((end - first) // step) + 1, dtype=np.int64)


def workload_index(data: SimData, namespace: str, kind: WorkloadKind, name: str) -> int | None:
    """The workload's index in ``data.workloads``, None when the simulation has no such workload."""
    for i, w in enumerate(data.workloads):
        if (w.namespace, w.kind, w.name) == (namespace, kind, name):
            return i
    return None


def workload_cpu(data: SimData, workload: int, points: I64) -> tuple[I64, F64]:
    """Cores used by the workload's pods (all its containers), summed, at ``points``.

    Returns the points that have a value and the values there.
    """
    if len(points) == 0:
        return points, np.zeros(0)
    pods = np.array([p.workload == workload for p in data.pods], dtype=bool)
    series = np.flatnonzero(pods[data.container_pod])
    # Only the scrape columns the ranges read: [first point - range, last point].
    i0 = int(np.searchsorted(data.times, points[0] - RANGE, "left"))
    i1 = int(np.searchsorted(data.times, points[-1], "right"))
    if len(series) == 0 or i0 >= i1:
        return points[:0], np.zeros(0)
    present = data.pod_present[data.container_pod[series], i0:i1]
    # Integer microseconds / 1e6: the value the OpenMetrics export writes and Prometheus reads.
    cores = rate(data.times[i0:i1], data.cpu_us[series, i0:i1] / 1e6, present, points)
    seen = ~np.isnan(cores)
    has = seen.any(axis=0)
    return points[has], np.where(seen, cores, 0.0).sum(axis=0)[has]
