"""Real traces as containers: the daily profiles a strategy sees and the raw samples a replay scores on.

Each series becomes one container whose CPU and memory both follow it (the strategies treat
the two resources independently, so one series tests both), rescaled to plausible sizes:
its P95 becomes ``cpu_p95`` cores and ``memory_p95`` bytes, and its current request is
``request_factor`` times that (memory limit = request, no CPU limit). Days are UTC days
counted from each trace's first day, so every trace starts on ``first_day``; a day with
fewer than ``min_coverage`` of its points counts as missing. The peak window of a trace is
its busiest ``peak_minutes`` of the day on average, which is what a user would configure.

The daily figures follow docs/collection.md for a single pod: linear-interpolated quantiles
of the day's points, the maximum, the number of points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from kubecap.domain.container import ContainerRef
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.recommend.history import FIGURES, DailyHistory
from kubecap.simulate.trace_files import TraceSeries

DAY_SECONDS = 86_400
Samples = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TraceFleet:
    """``history`` of one container per series, and per container and day its raw CPU and memory points."""

    history: DailyHistory
    cpu: tuple[tuple[Samples, ...], ...]
    memory: tuple[tuple[Samples, ...], ...]
    names: tuple[str, ...]


def busiest_window(series: TraceSeries, minutes: int) -> int:
    """Second of the (UTC) day at which the trace's busiest ``minutes`` start, on average over its days."""
    bins = max(1, DAY_SECONDS // series.step)
    slot = (series.times % DAY_SECONDS) // series.step
    total = np.bincount(slot, weights=series.values, minlength=bins)[:bins]
    count = np.bincount(slot, minlength=bins)[:bins]
    mean = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    width = max(1, minutes * 60 // series.step)
    circular = np.concatenate([mean, mean[: width - 1]])
    window_sums = np.convolve(circular, np.ones(width), mode="valid")[:bins]
    return int(np.argmax(window_sums)) * series.step


def _figures(cpu: Samples, memory: Samples) -> dict[str, float]:
    quantiles = np.quantile(cpu, [0.5, 0.9, 0.95, 0.99], method="linear")
    return {
        "cpu_p50": float(quantiles[0]),
        "cpu_p90": float(quantiles[1]),
        "cpu_p95": float(quantiles[2]),
        "cpu_p99": float(quantiles[3]),
        "cpu_max": float(cpu.max()),
        "mem_p95": float(np.quantile(memory, 0.95, method="linear")),
        "mem_max": float(memory.max()),
        "samples": float(len(cpu)),
    }


def fleet(
    series: Sequence[TraceSeries],
    *,
    cpu_p95: float = 0.5,
    memory_p95: float = 512 * 2**20,
    request_factor: float = 2.0,
    peak_minutes: int = 90,
    min_coverage: float = 0.25,
    first_day: date = date(2026, 1, 1),
    cluster: str = "traces",
) -> TraceFleet:
    """Containers made of ``series`` (see the module docstring)."""
    per_container: list[list[tuple[dict[str, float], dict[str, float]] | None]] = []
    cpu_days: list[tuple[Samples, ...]] = []
    mem_days: list[tuple[Samples, ...]] = []
    for s in series:
        values = np.clip(s.values, 0.0, None)
        p95 = float(np.quantile(values, 0.95)) if len(values) else 0.0
        scale = 1.0 / (p95 if p95 > 0 else float(values.max(initial=0.0)) or 1.0)
        cpu, memory = values * scale * cpu_p95, values * scale * memory_p95
        start_day = s.times[0] // DAY_SECONDS
        day_of = (s.times // DAY_SECONDS - start_day).astype(np.int64)
        span = int(day_of.max()) + 1
        peak_start = busiest_window(s, peak_minutes)
        in_peak = ((s.times % DAY_SECONDS) - peak_start) % DAY_SECONDS < peak_minutes * 60
        enough = min_coverage * DAY_SECONDS / s.step
        rows: list[tuple[dict[str, float], dict[str, float]] | None] = []
        cpus: list[Samples] = []
        mems: list[Samples] = []
        for d in range(span):
            today = day_of == d
            peak = today & in_peak
            if today.sum() < enough or not peak.any():
                rows.append(None)
                cpus.append(np.zeros(0))
                mems.append(np.zeros(0))
                continue
            rows.append((_figures(cpu[peak], memory[peak]), _figures(cpu[today], memory[today])))
            cpus.append(cpu[today])
            mems.append(memory[today])
        per_container.append(rows)
        cpu_days.append(tuple(cpus))
        mem_days.append(tuple(mems))

    n = len(series)
    days = max((len(rows) for rows in per_container), default=0)
    windows: list[dict[str, npt.NDArray[np.float64]]] = [
        {name: np.full((n, days), np.nan) for name in FIGURES} for _ in range(2)
    ]
    for i, rows in enumerate(per_container):
        for d, row in enumerate(rows):
            if row is None:
                continue
            for window, figures in zip(windows, row, strict=True):
                for name, value in figures.items():
                    window[name][i, d] = value
                window["cpu_request"][i, d] = request_factor * cpu_p95
                window["mem_request"][i, d] = request_factor * memory_p95
                window["mem_limit"][i, d] = request_factor * memory_p95
                for name in ("replicas_min", "replicas_avg", "replicas_max"):
                    window[name][i, d] = 1.0
                window["oom_kills"][i, d] = 0.0
    for window in windows:
        window["samples"] = np.nan_to_num(window["samples"])
    containers = tuple(
        ContainerRef(WorkloadRef(cluster, "traces", WorkloadKind.DEPLOYMENT, s.name.replace("_", "-")), "app")
        for s in series
    )
    peak_names = tuple(
        f"busiest {peak_minutes} min ({busiest_window(s, peak_minutes) // 3600:02d}:"
        f"{busiest_window(s, peak_minutes) % 3600 // 60:02d} UTC)"
        for s in series
    )
    history = DailyHistory(containers, first_day, days, windows[0], windows[1], peak_names)
    pad = [tuple(c) + (np.zeros(0),) * (days - len(c)) for c in cpu_days]
    pad_mem = [tuple(m) + (np.zeros(0),) * (days - len(m)) for m in mem_days]
    return TraceFleet(history, tuple(pad), tuple(pad_mem), tuple(s.name for s in series))
