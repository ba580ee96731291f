"""Per-cluster summaries (the workloads list and the overview), kept until the store's state moves.

Every request asks the store for its fingerprint (``Store.usage_state``: windows collected,
recommendations saved; a few milliseconds) and recomputes only when it
changed, so a list or an overview after the first costs a fingerprint, a page and a sort.
One lock per cluster makes concurrent requests after a collection compute once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from kubecap.api import summary, views
from kubecap.cost.prices import Prices
from kubecap.store import Store

DEFAULT_STRATEGY = "kubecap"
SUMMARY_DAYS = 14
TREND_DAYS = 30


@dataclass(frozen=True)
class Summaries:
    """What the workloads list and the overview show for one cluster (or all of them)."""

    state: tuple[object, ...]
    prices: Prices
    workloads: list[views.WorkloadSummary]
    rows: list[dict[str, Any]]
    overview: dict[str, Any]


class SummaryCache:
    def __init__(self) -> None:
        self._entries: dict[str | None, Summaries] = {}
        self._locks: dict[str | None, asyncio.Lock] = {}
        self.computed = 0
        """How many times summaries were computed (tests check that a repeat is served from the cache)."""

    async def get(self, store: Store, cluster: str | None, prices: Prices | None = None) -> Summaries:
        """``prices``: those in force (default: OpenCost's); a change of price recomputes too."""
        prices = prices or Prices()
        state = await store.usage_state(cluster=cluster)
        entry = self._entries.get(cluster)
        if entry is not None and entry.state == state and entry.prices == prices:
            return entry
        lock = self._locks.setdefault(cluster, asyncio.Lock())
        async with lock:
            entry = self._entries.get(cluster)
            if entry is None or entry.state != state or entry.prices != prices:
                entry = await compute(store, cluster, state, prices)
                self._entries[cluster] = entry
                self.computed += 1
        return entry


async def compute(
    store: Store, cluster: str | None, state: tuple[object, ...], prices: Prices | None = None
) -> Summaries:
    prices = prices or Prices()
    span = await store.usage_span(cluster=cluster)
    if span is None:
        return Summaries(state, prices, [], [], views.overview([], [], []))
    last = span[1]
    columns = await store.usage_columns(
        cluster=cluster, since=last - timedelta(days=TREND_DAYS - 1), until=last, figures=summary.FIGURES
    )
    recs = await store.recommendations(cluster=cluster, strategy=DEFAULT_STRATEGY)
    nodes = await store.node_usage(cluster=cluster, since=last - timedelta(days=1), until=last)

    def build() -> Summaries:
        workloads = summary.summarise(columns, recs, since=last - timedelta(days=SUMMARY_DAYS - 1))
        views.priced(workloads, prices)
        daily = summary.trend(columns)
        rows = [s.to_dict() for s in workloads]
        return Summaries(state, prices, workloads, rows, views.overview(workloads, daily, nodes))

    # Tens of milliseconds of numpy and Python on a big fleet: off the event loop.
    return await asyncio.to_thread(build)
