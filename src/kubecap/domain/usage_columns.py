"""Daily usage rows held as columns: one array per figure, for readers that take many rows at once.

A UsageProfile object costs about a microsecond and half a kilobyte; the recommender reads
hundreds of thousands of rows at a time (10,000 containers × 30 days × 2 windows), so the
store can also hand rows over as arrays. The figures are those of UsageProfile (docs/
collection.md), floats with NaN where the stored value is None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from kubecap.domain.container import ContainerRef
from kubecap.domain.usage import UsageProfile

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
DayArray = npt.NDArray[np.datetime64]


@dataclass(frozen=True, slots=True)
class UsageColumns:
    """Rows of the usage history; row ``i`` belongs to ``containers[container[i]]``.

    ``day`` holds numpy ``datetime64[D]`` local days and ``window[i]`` indexes ``windows``.
    ``figures`` maps a figure name of UsageProfile to its column (only the figures asked
    for are present; ``samples`` is a float column like the others).
    """

    containers: tuple[ContainerRef, ...]
    container: IntArray
    day: DayArray
    windows: tuple[str, ...]
    window: IntArray
    figures: Mapping[str, FloatArray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rows = len(self.container)
        lengths = {len(self.day), len(self.window), *(len(v) for v in self.figures.values())}
        if lengths - {rows}:
            raise ValueError(f"usage columns differ in length: {sorted(lengths | {rows})}")
        unknown = set(self.figures) - set(UsageProfile.figure_names())
        if unknown:
            raise ValueError(f"unknown usage figures {sorted(unknown)}")

    def __len__(self) -> int:
        return len(self.container)

    @classmethod
    def empty(cls, figures: tuple[str, ...] = ()) -> UsageColumns:
        return cls(
            containers=(),
            container=np.zeros(0, dtype=np.int64),
            day=np.zeros(0, dtype="datetime64[D]"),
            windows=(),
            window=np.zeros(0, dtype=np.int64),
            figures={name: np.zeros(0) for name in figures},
        )

    @classmethod
    def from_profiles(
        cls, profiles: list[UsageProfile], figures: tuple[str, ...] | None = None
    ) -> UsageColumns:
        """Columns of ``profiles`` (for tests and small inputs; the store builds them directly)."""
        names = UsageProfile.figure_names() if figures is None else figures
        refs: dict[ContainerRef, int] = {}
        windows: dict[str, int] = {}
        container = [refs.setdefault(ContainerRef(p.workload, p.container), len(refs)) for p in profiles]
        window = [windows.setdefault(p.window, len(windows)) for p in profiles]
        columns = {
            name: np.array(
                [np.nan if getattr(p, name) is None else getattr(p, name) for p in profiles], dtype=float
            )
            for name in names
        }
        return cls(
            containers=tuple(refs),
            container=np.array(container, dtype=np.int64),
            day=np.array([p.day for p in profiles], dtype="datetime64[D]"),
            windows=tuple(windows),
            window=np.array(window, dtype=np.int64),
            figures=columns,
        )
