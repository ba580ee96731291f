"""Workload summaries and the daily trend computed from usage columns with numpy: pure, no I/O.

The same figures as ``views.summarise`` and ``views.trend`` (which read UsageProfile objects,
about a microsecond and half a kilobyte each): 5,000 workloads × 30 days × 2 windows are
300,000 rows, seconds as objects, tens of milliseconds as arrays. Rows are put in the order
the store lists profiles (workload, container, day, window) before summing, so every sum
adds the same floats in the same order and the results are equal to the last bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np

from kubecap.api.views import WorkloadSummary, add_recommendations
from kubecap.domain.recommendation import Recommendation
from kubecap.domain.usage_columns import FloatArray, IntArray, UsageColumns
from kubecap.domain.window import DAY
from kubecap.domain.workload import WorkloadRef

FIGURES = ("replicas_avg", "cpu_p95", "mem_p95", "cpu_request", "mem_request")
"""The usage figures the summaries and the trend read."""


class _Ordered:
    """The rows in the store's profile order, with their workload index and window kind."""

    def __init__(self, columns: UsageColumns, since: date | None) -> None:
        refs = sorted({c.workload for c in columns.containers})
        self.refs: list[WorkloadRef] = refs
        position = {ref: i for i, ref in enumerate(refs)}
        # A container's rank in (workload, container name) order.
        by_ref = sorted(range(len(columns.containers)), key=lambda i: columns.containers[i])
        rank = np.empty(len(columns.containers), dtype=np.int64)
        rank[by_ref] = np.arange(len(by_ref))
        owner = np.array([position[c.workload] for c in columns.containers], dtype=np.int64)
        window_rank = np.argsort(np.argsort(np.array(columns.windows, dtype=object))).astype(np.int64)
        keep = np.ones(len(columns), dtype=bool)
        if since is not None:
            keep = columns.day >= np.datetime64(since, "D")
        days = columns.day[keep].astype(np.int64)
        windows = columns.window[keep]
        order = np.lexsort(
            (window_rank[windows] if len(windows) else windows, days, rank[columns.container[keep]])
        )
        self.container: IntArray = columns.container[keep][order]
        self.workload: IntArray = owner[self.container] if len(self.container) else self.container
        self.day: IntArray = days[order]
        is_day = np.array([name == DAY for name in columns.windows], dtype=bool)
        self.is_day = is_day[windows[order]] if len(windows) else np.zeros(0, dtype=bool)
        self.figures = {name: np.nan_to_num(columns.figures[name][keep][order]) for name in FIGURES}
        self.names = [c.container for c in columns.containers]
        self.owner = owner


def _cell_maxima(
    workload: IntArray, day: IntArray, cpu: FloatArray, mem: FloatArray, count: int
) -> tuple[FloatArray, FloatArray]:
    """Per workload, the highest per-day sum over containers (0 when it has no row)."""
    top_cpu, top_mem = np.zeros(count), np.zeros(count)
    if not len(workload):
        return top_cpu, top_mem
    first = int(day.min())
    span = int(day.max()) - first + 1
    cells, cell_of = np.unique(workload * span + (day - first), return_inverse=True)
    cpu_sum = np.bincount(cell_of, weights=cpu, minlength=len(cells))
    mem_sum = np.bincount(cell_of, weights=mem, minlength=len(cells))
    np.maximum.at(top_cpu, cells // span, cpu_sum)
    np.maximum.at(top_mem, cells // span, mem_sum)
    return top_cpu, top_mem


def summarise(
    columns: UsageColumns, recommendations: Sequence[Recommendation] = (), since: date | None = None
) -> list[WorkloadSummary]:
    """One summary per workload with rows on or after ``since``, sorted by reference (as views.summarise)."""
    rows = _Ordered(columns, since)
    count = len(rows.refs)
    f = rows.figures
    peak = ~rows.is_day
    peak_cpu, peak_mem = _cell_maxima(
        rows.workload[peak], rows.day[peak], f["cpu_p95"][peak], f["mem_p95"][peak], count
    )
    day = rows.is_day
    day_cpu, day_mem = _cell_maxima(
        rows.workload[day], rows.day[day], f["cpu_p95"][day], f["mem_p95"][day], count
    )
    # The peak-window figure when a peak window was collected, the whole day's otherwise.
    fallback = (peak_cpu == 0) & (peak_mem == 0)
    cpu_peak = np.where(fallback, day_cpu, peak_cpu)
    mem_peak = np.where(fallback, day_mem, peak_mem)

    # Latest whole day: requests summed over its containers, replicas of the first container.
    latest = np.full(count, np.iinfo(np.int64).min)
    np.maximum.at(latest, rows.workload[day], rows.day[day])
    on_latest = day & (rows.day == latest[rows.workload])
    at = rows.workload[on_latest]
    cpu_request = np.bincount(at, weights=f["cpu_request"][on_latest], minlength=count)
    mem_request = np.bincount(at, weights=f["mem_request"][on_latest], minlength=count)
    seen, first_row = np.unique(at, return_index=True)
    replicas = np.zeros(count)
    replicas[seen] = f["replicas_avg"][on_latest][first_row]
    has_day = np.zeros(count, dtype=bool)
    has_day[seen] = True

    names: list[set[str]] = [set() for _ in range(count)]
    for c in np.unique(rows.container).tolist():
        names[int(rows.owner[c])].add(rows.names[c])
    summaries: list[WorkloadSummary] = []
    epoch = date(1970, 1, 1).toordinal()
    for i, ref in enumerate(rows.refs):
        s = WorkloadSummary(ref, sorted(names[i]))
        if has_day[i]:
            s.last_day = date.fromordinal(epoch + int(latest[i]))
            s.replicas = float(replicas[i])
            s.cpu_request, s.mem_request = float(cpu_request[i]), float(mem_request[i])
        s.cpu_peak, s.mem_peak = float(cpu_peak[i]), float(mem_peak[i])
        summaries.append(s)
    present = [s for s in summaries if s.containers]
    add_recommendations({s.ref: s for s in present}, recommendations)
    return present


def trend(columns: UsageColumns, since: date | None = None) -> list[dict[str, Any]]:
    """Per local day (whole-day window): requested and used (P95) CPU and memory, as views.trend."""
    rows = _Ordered(columns, since)
    day = rows.is_day
    if not day.any():
        return []
    f = {name: values[day] for name, values in rows.figures.items()}
    days, at = np.unique(rows.day[day], return_inverse=True)
    sums = {
        key: np.bincount(at, weights=f[figure] * f["replicas_avg"], minlength=len(days))
        for key, figure in (
            ("cpu_requested", "cpu_request"),
            ("cpu_used", "cpu_p95"),
            ("mem_requested", "mem_request"),
            ("mem_used", "mem_p95"),
        )
    }
    epoch = date(1970, 1, 1).toordinal()
    return [
        {"day": date.fromordinal(epoch + int(d)).isoformat(), **{k: float(v[i]) for k, v in sums.items()}}
        for i, d in enumerate(days)
    ]
