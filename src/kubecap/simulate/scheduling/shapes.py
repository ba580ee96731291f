"""Real traces as per-minute usage shapes: whole UTC days, mean 1, so a pod's usage is size × shape.

Each series is put on a one-minute grid from its first midnight to its last (gaps are
bridged linearly, as a scrape gap would look on a graph), divided by its mean and capped,
so its daily rhythm and bursts survive while its unit disappears. Index ``d × 1440 + m``
of a shape is minute ``m`` of day ``d``: a pod that starts reading at a whole day keeps its
trace's time of day, so the simulated cluster has a common daily peak as a real one does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kubecap.simulate.trace_files import TraceSeries

MINUTES_PER_DAY = 1440
DAY_S = 86_400

CPU_SERIES = (
    "crane_input0",
    "crane_input1",
    "crane_input2",
    "crane_input3",
    "crane_input4",
    "crane_input5",
    "crane_input6",
    "crane_input7",
    "nab_asg_cpu",
    "nab_ec2_24ae8d",
    "nab_ec2_ac20cd",
    "google_avg_cpu",
    "google_max_cpu",
    "azure_cpu",
    "wc98_requests",
)
MEMORY_SERIES = ("google_avg_memory", "google_max_memory", "azure_memory")


@dataclass(frozen=True)
class Shapes:
    """Per-minute shapes concatenated: shape ``i`` is ``values[starts[i] : starts[i] + lengths[i]]``."""

    names: tuple[str, ...]
    values: npt.NDArray[np.float64]
    starts: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]

    @property
    def days(self) -> npt.NDArray[np.int64]:
        return self.lengths // MINUTES_PER_DAY

    def at(self, shape: npt.NDArray[np.int64], minute: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """The value of each ``shape`` at its ``minute`` (wrapping around the end of the trace)."""
        return self.values[self.starts[shape] + minute % self.lengths[shape]]


def to_minutes(series: TraceSeries, cap: float, quantile: float) -> npt.NDArray[np.float64] | None:
    """The series on a one-minute grid of whole UTC days, its ``quantile`` at 1, capped; None when under a day."""
    first_midnight = -(-int(series.times[0]) // DAY_S) * DAY_S
    last_midnight = int(series.times[-1]) // DAY_S * DAY_S
    days = (last_midnight - first_midnight) // DAY_S
    if days < 1:
        return None
    grid = first_midnight + 60 * np.arange(days * MINUTES_PER_DAY, dtype=np.float64)
    values = np.interp(grid, series.times.astype(np.float64), np.maximum(series.values, 0.0))
    level = float(np.quantile(values, quantile))
    if level <= 0:
        return None
    return np.minimum(values / level, cap)


def shapes_from(
    series: Sequence[TraceSeries], names: Sequence[str], *, cap: float = 1.5, quantile: float = 0.95
) -> Shapes:
    """The shapes of the named series found in ``series`` (others are skipped), in the order of ``names``."""
    by_name = {s.name: s for s in series}
    kept: list[tuple[str, npt.NDArray[np.float64]]] = []
    for name in names:
        found = by_name.get(name)
        minutes = to_minutes(found, cap, quantile) if found is not None else None
        if minutes is not None:
            kept.append((name, minutes))
    if not kept:
        raise ValueError(f"none of the traces {', '.join(names)} is there and a day long")
    lengths = np.array([len(v) for _, v in kept], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return Shapes(tuple(n for n, _ in kept), np.concatenate([v for _, v in kept]), starts, lengths)
