"""Small builders for store tests: windows and usage profiles with every figure chosen."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from kubecap.domain.usage import UsageProfile
from kubecap.domain.window import DAY, DailyWindow, PeakWindow, windows_of_day
from kubecap.domain.workload import WorkloadKind, WorkloadRef

TZ = ZoneInfo("Asia/Shanghai")
PEAK = "10:00-11:30"
DAY1 = date(2026, 3, 2)
DAY2 = date(2026, 3, 3)
DAY3 = date(2026, 3, 4)
FIGURES = UsageProfile.figure_names()


def window(day: date = DAY1, name: str = PEAK) -> DailyWindow:
    """The peak window ``name`` (or the whole-day window) of local ``day`` in TZ."""
    peaks = [] if name == DAY else [PeakWindow.parse(name)]
    return next(w for w in windows_of_day(day, peaks, TZ) if w.name == name)


def ref(
    name: str = "web",
    namespace: str = "shop",
    kind: WorkloadKind = WorkloadKind.DEPLOYMENT,
    cluster: str = "prod",
) -> WorkloadRef:
    return WorkloadRef(cluster, namespace, kind, name)


def empty_profile(
    workload: WorkloadRef | None = None, container: str = "app", on: DailyWindow | None = None
) -> UsageProfile:
    """A profile without figures: every optional figure None, no samples."""
    target = on or window()
    return UsageProfile(workload or ref(), container, target.day, target.name)


def profile(
    workload: WorkloadRef | None = None,
    container: str = "app",
    on: DailyWindow | None = None,
    *,
    seed: float = 1.0,
) -> UsageProfile:
    """A profile whose every figure is set, distinct, and derived from ``seed``."""
    values: dict[str, Any] = {name: seed * (i + 1) + 0.125 for i, name in enumerate(FIGURES)}
    values["samples"] = int(seed * 100) + 7
    return replace(empty_profile(workload, container, on), **values)
