"""Collection: for each day and window of a cluster, read usage and store it, resumably.

The collector owns the order of work and what counts as done; the source owns how figures
are computed, the store how they are kept. A window is collected only after it has ended,
and is written with its completion mark in one transaction, so an interrupted run is simply
run again. A whole-day window also carries the day's node figures, written in that same
transaction: a day whose workload rows are complete has its node rows too.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum

from kubecap.domain.window import DAY, DailyWindow, PeakWindow, local_day, windows_of_day
from kubecap.errors import KubecapError
from kubecap.ports import UsageSource, UsageStore


class Outcome(StrEnum):
    COLLECTED = "collected"
    ALREADY_COMPLETE = "already complete"
    NOT_ENDED = "not ended yet"
    EMPTY = "no data"
    FAILED = "failed"


@dataclass(slots=True)
class CollectionReport:
    """What one run did, per window outcome, with what it noticed."""

    cluster: str
    outcomes: dict[tuple[date, str], Outcome] = field(default_factory=dict)
    rows: int = 0
    node_rows: int = 0
    queries: int = 0
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    def count(self, outcome: Outcome) -> int:
        return sum(1 for o in self.outcomes.values() if o is outcome)


ProgressHook = Callable[[DailyWindow, Outcome], None]
FailureHook = Callable[[str, DailyWindow, str], Awaitable[None]]
"""Told (cluster, window, reason) when a window fails, e.g. to notify; it must not raise."""
_log = logging.getLogger(__name__)


def plan_windows(
    days: int, peaks: Sequence[PeakWindow], tz: tzinfo, now: datetime, *, until: date | None = None
) -> list[DailyWindow]:
    """Every window of ``days`` local days ending with ``until`` (default: today), oldest first."""
    last = until or local_day(now, tz)
    return [
        window
        for offset in range(days - 1, -1, -1)
        for window in windows_of_day(last - timedelta(days=offset), list(peaks), tz)
    ]


async def collect(
    source: UsageSource,
    store: UsageStore,
    windows: Sequence[DailyWindow],
    *,
    now: datetime,
    force: bool = False,
    progress: ProgressHook | None = None,
    on_failure: FailureHook | None = None,
) -> CollectionReport:
    """Collect ``windows`` of ``source.cluster`` into ``store``.

    Stops at the first error (an unreachable Prometheus or a rejected query fails every
    window alike); everything committed before it stays. The error is recorded on the
    window and raised again for the caller to report.
    """
    cluster = source.cluster
    report = CollectionReport(cluster)
    days = sorted({w.day for w in windows})
    done = set() if force else await store.completed_windows(cluster, days)
    seen_warnings: set[str] = set()

    def finish(window: DailyWindow, outcome: Outcome) -> None:
        report.outcomes[(window.day, window.name)] = outcome
        if progress is not None:
            progress(window, outcome)

    for window in windows:
        if window.end > now:
            finish(window, Outcome.NOT_ENDED)
            continue
        if (window.day, window.name) in done:
            finish(window, Outcome.ALREADY_COMPLETE)
            continue
        try:
            usage = await source.window_usage(window)
            if window.name == DAY and usage.profiles:
                nodes = await source.node_usage(window)
                usage.nodes = nodes.nodes
                usage.queries += nodes.queries
                usage.warnings += nodes.warnings
        except KubecapError as exc:
            await store.record_failure(cluster, window, str(exc))
            report.error = str(exc)
            finish(window, Outcome.FAILED)
            if on_failure is not None:
                try:
                    await on_failure(cluster, window, str(exc))
                except Exception:  # telling someone must never hide the collection's own error
                    _log.exception("the collection failure hook failed", extra={"cluster": cluster})
            raise
        report.queries += usage.queries
        for warning in usage.warnings:
            if warning not in seen_warnings:
                seen_warnings.add(warning)
                report.warnings.append(warning)
        if not usage.profiles:
            await store.record_failure(cluster, window, "; ".join(usage.warnings) or "no rows")
            finish(window, Outcome.EMPTY)
            continue
        await store.save_window(cluster, window, usage)
        report.rows += len(usage.profiles)
        report.node_rows += len(usage.nodes)
        finish(window, Outcome.COLLECTED)
    return report
