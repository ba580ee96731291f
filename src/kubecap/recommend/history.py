"""The daily usage history as the strategies see it: one (containers × days) matrix per figure and window.

The store hands rows over as columns (kubecap.domain.usage_columns); this module pivots them
onto a contiguous calendar of local days, NaN where a container has no row, so that "the
last N days" is the last N columns and every strategy runs over all containers at once.
Two windows are kept: the peak window (each cluster's first peak window unless one is
named) and the whole day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from kubecap.domain.container import ContainerRef
from kubecap.domain.usage_columns import UsageColumns
from kubecap.domain.window import DAY
from kubecap.domain.workload import WorkloadRef

Matrix = npt.NDArray[np.float64]
Vector = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
IntVector = npt.NDArray[np.int64]

FIGURES: tuple[str, ...] = (
    "cpu_p50",
    "cpu_p90",
    "cpu_p95",
    "cpu_p99",
    "cpu_max",
    "mem_p95",
    "mem_max",
    "cpu_request",
    "cpu_limit",
    "mem_request",
    "mem_limit",
    "replicas_min",
    "replicas_avg",
    "replicas_max",
    "cpu_throttle_ratio",
    "oom_kills",
    "samples",
)
"""The figures every strategy, guardrail and risk estimate may read (of both windows)."""

RESOURCE_FIGURES = ("cpu_request", "cpu_limit", "mem_request", "mem_limit")


@dataclass(frozen=True)
class DailyHistory:
    """Figures of ``containers`` on the local days ``first_day`` … ``first_day + days - 1``.

    ``peak[name]`` and ``whole[name]`` are (containers × days) matrices of the peak window
    and the whole-day window; ``peak_window[i]`` names container i's peak window (None when
    it has no peak rows).
    """

    containers: tuple[ContainerRef, ...]
    first_day: date
    days: int
    peak: Mapping[str, Matrix]
    whole: Mapping[str, Matrix]
    peak_window: tuple[str | None, ...]

    def __post_init__(self) -> None:
        shape = (len(self.containers), self.days)
        for window in (self.peak, self.whole):
            for name in FIGURES:
                if window[name].shape != shape:
                    raise ValueError(f"figure {name} has shape {window[name].shape}, expected {shape}")

    def __len__(self) -> int:
        return len(self.containers)

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=self.days - 1)

    def day(self, index: int) -> date:
        """The local day of column ``index`` (negative indexes count from the end)."""
        return self.first_day + timedelta(days=index % self.days if index < 0 else index)

    def span(self, start: int, stop: int) -> DailyHistory:
        """Columns ``start:stop`` (a window of days), for every container."""
        begin, end, _ = slice(start, stop).indices(self.days)
        end = max(begin, end)
        return DailyHistory(
            containers=self.containers,
            first_day=self.first_day + timedelta(days=begin),
            days=end - begin,
            peak={k: v[:, begin:end] for k, v in self.peak.items()},
            whole={k: v[:, begin:end] for k, v in self.whole.items()},
            peak_window=self.peak_window,
        )

    def last(self, days: int) -> DailyHistory:
        """The last ``days`` days (all of them when the history is shorter)."""
        return self.span(max(0, self.days - days), self.days)

    def select(self, rows: Mask | IntVector) -> DailyHistory:
        """The containers picked by a boolean mask or an index array, in that order."""
        index = np.flatnonzero(rows) if rows.dtype == np.bool_ else rows
        return DailyHistory(
            containers=tuple(self.containers[i] for i in index),
            first_day=self.first_day,
            days=self.days,
            peak={k: v[index] for k, v in self.peak.items()},
            whole={k: v[index] for k, v in self.whole.items()},
            peak_window=tuple(self.peak_window[i] for i in index),
        )

    def has_day(self) -> Mask:
        """(containers × days): the whole-day row exists (has samples)."""
        return self.whole["samples"] > 0

    def has_peak(self) -> Mask:
        return self.peak["samples"] > 0

    def latest(self, name: str) -> Vector:
        """Per container, the latest non-NaN value of a whole-day figure (peak rows fill gaps), NaN if none."""
        values = np.where(np.isnan(self.whole[name]), self.peak[name], self.whole[name])
        return latest_value(values)

    def workloads(self) -> tuple[tuple[WorkloadRef, ...], IntVector]:
        """The distinct workloads, and each container's index into them."""
        index: dict[WorkloadRef, int] = {}
        of_container = np.fromiter(
            (index.setdefault(c.workload, len(index)) for c in self.containers),
            np.int64,
            len(self.containers),
        )
        return tuple(index), of_container

    @classmethod
    def empty(cls, first_day: date, days: int = 0) -> DailyHistory:
        blank = {name: np.zeros((0, days)) for name in FIGURES}
        return cls((), first_day, days, blank, dict(blank), ())

    @classmethod
    def from_columns(
        cls,
        columns: UsageColumns,
        *,
        peak_window: str | None = None,
        first_day: date | None = None,
        last_day: date | None = None,
    ) -> DailyHistory:
        """Pivot stored rows onto days ``first_day`` … ``last_day`` (default: the span of the rows).

        Rows outside the span are dropped. ``peak_window`` picks the peak window by name;
        by default each cluster uses the first (by name) peak window it has rows for.
        """
        missing = set(FIGURES) - set(columns.figures)
        if missing:
            raise ValueError(f"usage columns lack the figures {sorted(missing)}")
        if len(columns) == 0:
            start = first_day or last_day or date(1970, 1, 1)
            end = last_day or start
            return cls.empty(start, (end - start).days + 1)
        days64 = columns.day.astype("datetime64[D]")
        start64 = np.datetime64(first_day, "D") if first_day else days64.min()
        end64 = np.datetime64(last_day, "D") if last_day else days64.max()
        span = int((end64 - start64).astype(np.int64)) + 1
        if span < 1:
            raise ValueError(f"the history ends ({end64}) before it starts ({start64})")
        column = (days64 - start64).astype(np.int64)
        inside = (column >= 0) & (column < span)

        n = len(columns.containers)
        # Containers in a stable order (cluster, namespace, kind, name, container), whatever the rows' order.
        order = sorted(range(n), key=columns.containers.__getitem__)
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n)
        row_container = position[columns.container]
        containers = tuple(columns.containers[i] for i in order)
        window_names = np.array(columns.windows, dtype=object)
        day_code = columns.windows.index(DAY) if DAY in columns.windows else -1
        is_day = columns.window == day_code
        chosen = _chosen_peak(columns, peak_window, day_code)[order]
        is_peak = (columns.window == chosen[row_container]) & ~is_day

        peak_name: list[str | None] = [None if c < 0 else str(window_names[c]) for c in chosen]
        shape = (n, span)
        windows: list[dict[str, Matrix]] = []
        for rows in (is_peak & inside, is_day & inside):
            r, c = row_container[rows], column[rows]
            matrices = {}
            for name in FIGURES:
                matrix = np.full(shape, np.nan)
                matrix[r, c] = columns.figures[name][rows]
                matrices[name] = matrix
            # A row without samples and a missing row mean the same: no data that day.
            matrices["samples"] = np.nan_to_num(matrices["samples"], nan=0.0)
            windows.append(matrices)
        return cls(
            containers=containers,
            first_day=start64.item(),
            days=span,
            peak=windows[0],
            whole=windows[1],
            peak_window=tuple(peak_name),
        )


def _chosen_peak(columns: UsageColumns, peak_window: str | None, day_code: int) -> IntVector:
    """Per container, the code of its peak window (-1: none)."""
    n = len(columns.containers)
    if peak_window is not None:
        code = columns.windows.index(peak_window) if peak_window in columns.windows else -2
        return np.full(n, code, dtype=np.int64)
    # Rank the peak window names; each cluster takes its lowest-ranked one.
    order = sorted((name, code) for code, name in enumerate(columns.windows) if code != day_code)
    rank_of_code = np.full(len(columns.windows), len(order), dtype=np.int64)
    for rank, (_, code) in enumerate(order):
        rank_of_code[code] = rank
    clusters: dict[str, int] = {}
    cluster_of_container = np.fromiter(
        (clusters.setdefault(c.workload.cluster, len(clusters)) for c in columns.containers), np.int64, n
    )
    best = np.full(len(clusters), len(order), dtype=np.int64)
    np.minimum.at(best, cluster_of_container[columns.container], rank_of_code[columns.window])
    code_of_rank = np.array([code for _, code in order] + [-1], dtype=np.int64)
    return code_of_rank[best[cluster_of_container]]


def latest_value(matrix: Matrix) -> Vector:
    """Per row, the value in the last column that is not NaN (NaN for an empty row)."""
    present = ~np.isnan(matrix)
    if matrix.shape[1] == 0:
        return np.full(matrix.shape[0], np.nan)
    last = matrix.shape[1] - 1 - np.argmax(present[:, ::-1], axis=1)
    out = matrix[np.arange(matrix.shape[0]), last]
    return np.where(present.any(axis=1), out, np.nan)


def row_max(matrix: Matrix) -> Vector:
    """Per row, the largest non-NaN value (NaN for a row without any), without numpy's warning."""
    filled = ~np.isnan(matrix)
    if matrix.shape[1] == 0:
        return np.full(matrix.shape[0], np.nan)
    return np.where(filled.any(axis=1), np.max(np.where(filled, matrix, -np.inf), axis=1), np.nan)


def row_min(matrix: Matrix) -> Vector:
    """Per row, the smallest non-NaN value (NaN for a row without any)."""
    return -row_max(-matrix)


def row_mean(matrix: Matrix) -> Vector:
    """Per row, the mean of the non-NaN values (NaN for a row without any), without numpy's warning."""
    count = (~np.isnan(matrix)).sum(axis=1)
    total = np.nansum(matrix, axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)
