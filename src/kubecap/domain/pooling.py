"""From per-pod figures to a workload container's daily usage row.

Both usage sources (Prometheus, and the simulated cluster) first compute each pod
container's figures over a window, then pool them here: one definition of what a
workload's figure is, so the contract test compares the sources on the pod figures and
nothing else can drift. The rules (docs/collection.md):

- quantiles: the mean of the pods' quantiles weighted by their points in the window
  (the quantile a typical pod lived through; short-lived pods of a rollout weigh less);
- maxima and requests/limits: the highest of any pod;
- throttling: throttled over all CFS periods, summed over the pods;
- restarts and OOM kills: summed over the pods;
- samples: the pods' CPU points added up (pod-points of data behind the row).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from kubecap.domain import summary
from kubecap.domain.usage import CPU_QUANTILES, MEMORY_QUANTILES, UsageProfile
from kubecap.domain.window import DailyWindow
from kubecap.domain.workload import WorkloadKind, WorkloadRef

ContainerKey = tuple[str, WorkloadKind, str, str]
"""(namespace, kind, workload name, container name)."""
WorkloadKey = tuple[str, WorkloadKind, str]

RESOURCE_FIGURES = ("cpu_request", "cpu_limit", "mem_request", "mem_limit")


@dataclass(frozen=True, slots=True)
class PodFigures:
    """Figures of many pod containers over one window; row i of every array is ``keys[i]``'s pod.

    NaN means "no value". Quantile matrices have one column per entry of CPU_QUANTILES /
    MEMORY_QUANTILES; ``resources`` has the columns of RESOURCE_FIGURES; ``oom_seen`` is 1
    where the container's last termination was an OOM kill at some point of the window.
    """

    keys: Sequence[ContainerKey]
    cpu_quantiles: summary.Matrix
    cpu_max: summary.Vector
    cpu_points: summary.Vector
    mem_quantiles: summary.Matrix
    mem_max: summary.Vector
    mem_points: summary.Vector
    resources: summary.Matrix
    throttled: summary.Vector
    periods: summary.Vector
    restarts: summary.Vector
    oom_seen: summary.Vector


@dataclass(frozen=True, slots=True)
class Replicas:
    minimum: float | None
    average: float | None
    maximum: float | None


def pool(
    cluster: str, window: DailyWindow, pods: PodFigures, replicas: Mapping[WorkloadKey, Replicas]
) -> list[UsageProfile]:
    """One UsageProfile per workload container with CPU points in ``window``, sorted by key."""
    rows = sorted(set(pods.keys))
    if not rows:
        return []
    index = {key: i for i, key in enumerate(rows)}
    group = np.fromiter((index[k] for k in pods.keys), dtype=np.int64, count=len(pods.keys))
    n = len(rows)

    cpu_q = summary.weighted_mean_by_group(pods.cpu_quantiles, pods.cpu_points, group, n)
    mem_q = summary.weighted_mean_by_group(pods.mem_quantiles, pods.mem_points, group, n)
    cpu_max = summary.max_by_group(pods.cpu_max, group, n)
    mem_max = summary.max_by_group(pods.mem_max, group, n)
    points = summary.sum_by_group(pods.cpu_points, group, n)
    resources = np.column_stack([summary.max_by_group(pods.resources[:, j], group, n) for j in range(4)])
    throttled = summary.sum_by_group(pods.throttled, group, n)
    periods = summary.sum_by_group(pods.periods, group, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        throttle = np.where(periods > 0, throttled / periods, np.nan)
    restarts = summary.sum_by_group(pods.restarts, group, n)
    oom_restarts = np.where(np.isnan(pods.restarts), np.nan, np.where(pods.oom_seen > 0, pods.restarts, 0.0))
    oom_kills = summary.sum_by_group(oom_restarts, group, n)

    out = []
    for i, (namespace, kind, name, container) in enumerate(rows):
        if not points[i] > 0:
            continue
        seen = replicas.get((namespace, kind, name), Replicas(None, None, None))
        profile = UsageProfile(
            workload=WorkloadRef(cluster, namespace, kind, name),
            container=container,
            day=window.day,
            window=window.name,
            replicas_min=seen.minimum,
            replicas_avg=seen.average,
            replicas_max=seen.maximum,
            cpu_max=summary.optional(cpu_max[i]),
            mem_max=summary.optional(mem_max[i]),
            cpu_throttle_ratio=summary.optional(throttle[i]),
            restarts=summary.optional(restarts[i]),
            oom_kills=summary.optional(oom_kills[i]),
            samples=int(points[i]),
        )
        for j, q in enumerate(CPU_QUANTILES):
            setattr(profile, f"cpu_p{round(q * 100)}", summary.optional(cpu_q[i, j]))
        for j, q in enumerate(MEMORY_QUANTILES):
            setattr(profile, f"mem_p{round(q * 100)}", summary.optional(mem_q[i, j]))
        for j, figure in enumerate(RESOURCE_FIGURES):
            setattr(profile, figure, summary.optional(resources[i, j]))
        out.append(profile)
    return out
