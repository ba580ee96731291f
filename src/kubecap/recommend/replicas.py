"""Replicas: how many pods a workload needs at its peak, or min/max advice for the HPA that scales it.

For a workload without an HPA: replicas = ⌈peak total CPU usage / (per-pod CPU request ×
target utilisation)⌉, the count at which an HPA targeting that utilisation would settle
at the peak. The peak total is, over the days read, the highest P95 of the workload's
per-pod usage (peak window or whole day) times its average ready replicas that day; the
per-pod request is the sum of its containers' requests today (the recommended one where a
container has none). The count is bounded by the settings and, for a Deployment or
StatefulSet, never below the fewest replicas it ran with unless asked: a service may need
them for availability, not for load. DaemonSets run one pod per node and get no advice.

For an HPA-managed workload the replica count is the HPA's business; it gets min/max
advice instead: max = ⌈peak total × 1.2 / (request × target)⌉ (20 % above the highest day
seen), min = ⌈quietest day's median total / (request × target)⌉, with the HPA's own CPU
target when it has one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from kubecap.domain.hpa import HpaInfo
from kubecap.domain.quantity import format_cpu
from kubecap.domain.recommendation import ReplicaAdvice
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.recommend.history import DailyHistory, IntVector, Matrix, Vector, latest_value, row_min
from kubecap.recommend.settings import EngineSettings

HPA_MAX_HEADROOM = 1.2


def _per_workload(values: Matrix, workload: IntVector, count: int) -> Matrix:
    """Sum container rows into workload rows; a workload-day is NaN when none of its containers has a value."""
    total = np.zeros((count, values.shape[1]))
    seen = np.zeros((count, values.shape[1]), dtype=bool)
    np.add.at(total, workload, np.nan_to_num(values))
    np.logical_or.at(seen, workload, ~np.isnan(values))
    return np.where(seen, total, np.nan)


def replica_advice(
    history: DailyHistory,
    current_cpu_request: Vector,
    new_cpu_request: Vector,
    hpas: Mapping[WorkloadRef, HpaInfo],
    settings: EngineSettings,
) -> dict[WorkloadRef, ReplicaAdvice]:
    """Advice per workload of ``history`` (DaemonSets and workloads without usage get none)."""
    refs, workload = history.workloads()
    count = len(refs)
    if count == 0 or history.days == 0:
        return {}
    peak_total = _per_workload(history.peak["cpu_p95"] * history.peak["replicas_avg"], workload, count)
    day_total = _per_workload(history.whole["cpu_p95"] * history.whole["replicas_avg"], workload, count)
    quiet_total = _per_workload(history.whole["cpu_p50"] * history.whole["replicas_avg"], workload, count)
    busiest = np.fmax(peak_total, day_total)
    request = np.where(np.isnan(current_cpu_request), new_cpu_request, current_cpu_request)
    per_pod = _per_workload(request[:, None], workload, count)[:, 0]
    guessed = _per_workload(np.isnan(current_cpu_request)[:, None].astype(float), workload, count)[:, 0] > 0

    observed_min = _first_per_workload(row_min(history.whole["replicas_min"]), workload, count)
    replicas_avg = np.where(
        np.isnan(history.whole["replicas_avg"]), history.peak["replicas_avg"], history.whole["replicas_avg"]
    )
    current = _first_per_workload(latest_value(replicas_avg), workload, count)

    advice: dict[WorkloadRef, ReplicaAdvice] = {}
    for w, ref in enumerate(refs):
        if ref.kind is WorkloadKind.DAEMONSET:
            continue
        row = busiest[w]
        if np.isnan(row).all() or not per_pod[w] > 0:
            continue
        day_index = int(np.argmax(np.where(np.isnan(row), -np.inf, row)))
        peak, day = float(row[day_index]), history.day(day_index)
        request_text = f"{format_cpu(float(per_pod[w]))} per pod" + (
            " (the recommended request where none is set today)" if guessed[w] else ""
        )
        hpa = hpas.get(ref)
        if hpa is not None:
            advice[ref] = _hpa_advice(
                hpa,
                peak,
                day.isoformat(),
                float(row_min(quiet_total[w : w + 1])[0]),
                float(per_pod[w]),
                request_text,
                current[w],
                settings,
            )
            continue
        target = settings.target_utilization
        needed = math.ceil(peak / (per_pod[w] * target) - 1e-9)
        replicas = min(max(needed, settings.min_replicas), settings.max_replicas)
        parts = [
            f"peak total CPU {format_cpu(peak)} on {day} at {target:.0%} of {request_text} needs {needed}"
        ]
        if replicas != needed:
            parts.append(f"bounded to {replicas} by the replica settings")
        floor = observed_min[w]
        if not settings.below_observed_minimum and not np.isnan(floor) and replicas < floor:
            replicas = math.ceil(floor)
            parts.append(
                f"kept at {replicas}, the fewest it ran with, as it may serve traffic "
                "(--below-observed-minimum allows fewer)"
            )
        advice[ref] = ReplicaAdvice(
            current=_optional(current[w]), replicas=replicas, explanation="; ".join(parts)
        )
    return advice


def _hpa_advice(
    hpa: HpaInfo,
    peak: float,
    day: str,
    quiet: float,
    per_pod: float,
    request_text: str,
    current: float,
    settings: EngineSettings,
) -> ReplicaAdvice:
    target = hpa.target_cpu_utilization or settings.target_utilization
    high = math.ceil(peak * HPA_MAX_HEADROOM / (per_pod * target) - 1e-9)
    low = math.ceil(quiet / (per_pod * target) - 1e-9) if not math.isnan(quiet) else settings.min_replicas
    high = min(max(high, settings.min_replicas, 1), settings.max_replicas)
    low = min(max(low, settings.min_replicas, 1), high)
    scales = ", ".join(sorted(m.value for m in hpa.metrics))
    text = (
        f"HPA {hpa.name} (scales on {scales}; now {hpa.min_replicas}-{hpa.max_replicas}): "
        f"max {high} covers the peak total CPU {format_cpu(peak)} on {day} + {HPA_MAX_HEADROOM - 1:.0%} "
        f"at {target:.0%} of {request_text}; min {low} carries the quietest day's median {format_cpu(quiet)}"
    )
    return ReplicaAdvice(current=_optional(current), hpa_min=low, hpa_max=high, explanation=text)


def _first_per_workload(values: Vector, workload: IntVector, count: int) -> Vector:
    """The value of each workload's first container (workload figures repeat on every container)."""
    out = np.full(count, np.nan)
    out[workload[::-1]] = values[::-1]
    return out


def _optional(value: float) -> float | None:
    return None if math.isnan(value) else float(value)
