"""The recommender's one I/O module: read the history from a store, run strategies, store the results.

It depends on a narrow protocol, not on kubecap.store: the CLI (and later the API and the
background loop) hands a kubecap.store.Store in, tests may hand anything that honours it.
Steps are a straight, named sequence, reported through an optional progress callback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import numpy as np

from kubecap.domain.hpa import HpaInfo
from kubecap.domain.node import NodeUsage
from kubecap.domain.recommendation import Recommendation
from kubecap.domain.usage_columns import UsageColumns
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.errors import ConfigError, NotFoundError
from kubecap.recommend.engine import recommend
from kubecap.recommend.history import FIGURES, DailyHistory, Mask
from kubecap.recommend.idle_nodes import IdleNode, IdleNodeSettings, idle_nodes
from kubecap.recommend.settings import EngineSettings, StrategySettings
from kubecap.recommend.strategies.base import Strategy

Progress = Callable[[str], None]


class NodeStore(Protocol):
    """What idle-node detection needs of a store (kubecap.store.Store honours it)."""

    async def node_usage(
        self, cluster: str | None = None, since: date | None = None, until: date | None = None
    ) -> list[NodeUsage]: ...


class HistoryStore(Protocol):
    """What the recommender needs of a store (kubecap.store.Store honours it)."""

    async def usage_span(self, *, cluster: str | None = None) -> tuple[date, date] | None: ...

    async def usage_columns(
        self,
        *,
        cluster: str | None = None,
        since: date | None = None,
        until: date | None = None,
        windows: Sequence[str] | None = None,
        namespace: str | None = None,
        figures: Sequence[str] | None = None,
    ) -> UsageColumns: ...

    async def save_recommendations(self, recommendations: Sequence[Recommendation]) -> int: ...


@dataclass(frozen=True)
class Selection:
    """Which workloads to recommend for: a cluster, a namespace regular expression, kinds, and
    (for a label selector, resolved by the caller from the live labels) an explicit set."""

    cluster: str | None = None
    namespace: str | None = None
    kinds: frozenset[WorkloadKind] = field(default_factory=frozenset)
    workloads: frozenset[WorkloadRef] | None = None
    selector: str | None = None
    """The label selector ``workloads`` was resolved from, for messages."""

    def pattern(self) -> re.Pattern[str] | None:
        if self.namespace is None:
            return None
        try:
            return re.compile(self.namespace)
        except re.error as exc:
            raise ConfigError(
                f"--namespace {self.namespace!r} is not a regular expression ({exc.msg}): "
                "write e.g. 'shop' or 'team-.*'"
            ) from None

    def mask(self, history: DailyHistory) -> Mask:
        pattern = self.pattern()
        return np.array(
            [
                (pattern is None or pattern.fullmatch(c.workload.namespace) is not None)
                and (not self.kinds or c.workload.kind in self.kinds)
                and (self.workloads is None or c.workload in self.workloads)
                for c in history.containers
            ],
            dtype=bool,
        )

    def describe(self) -> str:
        parts = []
        if self.cluster is not None:
            parts.append(f"cluster {self.cluster!r}")
        if self.namespace is not None:
            parts.append(f"namespace matching {self.namespace!r}")
        if self.kinds:
            parts.append("kind " + " or ".join(sorted(k.value for k in self.kinds)))
        if self.selector is not None:
            parts.append(f"labels matching {self.selector!r}")
        return ", ".join(parts) or "the store"


@dataclass(frozen=True)
class Job:
    """One strategy with its settings."""

    strategy: Strategy[Any]
    settings: StrategySettings


async def load_history(
    store: HistoryStore,
    selection: Selection,
    *,
    days: int,
    last_day: date | None = None,
    peak_window: str | None = None,
) -> DailyHistory:
    """The selected containers' history over the ``days`` days ending on ``last_day`` (default: the last stored)."""
    span = await store.usage_span(cluster=selection.cluster)
    if span is None:
        where = f" for cluster {selection.cluster!r}" if selection.cluster else ""
        raise ConfigError(f"the store holds no usage{where} yet: run `kubecap collect` first")
    end = last_day or span[1]
    start = end - timedelta(days=days - 1)
    columns = await store.usage_columns(cluster=selection.cluster, since=start, until=end, figures=FIGURES)
    history = DailyHistory.from_columns(columns, peak_window=peak_window, first_day=start, last_day=end)
    if peak_window is not None and all(w is None for w in history.peak_window) and len(history):
        raise ConfigError(
            f"no usage rows for the peak window {peak_window!r} between {start} and {end}: "
            "name a collected window with --window, or leave it out"
        )
    chosen = history.select(selection.mask(history))
    if not len(chosen):
        raise NotFoundError(
            f"no workload of {selection.describe()} has usage between {start} and {end}: "
            "check the filters, or collect those days first"
        )
    return chosen


async def recommend_from_store(
    store: HistoryStore,
    jobs: Sequence[Job],
    engine: EngineSettings,
    selection: Selection,
    *,
    computed_at: datetime,
    last_day: date | None = None,
    peak_window: str | None = None,
    hpas: Mapping[WorkloadRef, HpaInfo] | None = None,
    save: bool = True,
    progress: Progress | None = None,
) -> list[Recommendation]:
    """Read once, run every job, store everything in one transaction; the recommendations, in job order."""
    say = progress or (lambda step: None)
    say("reading the usage history")
    days = max(job.settings.days for job in jobs)
    history = await load_history(store, selection, days=days, last_day=last_day, peak_window=peak_window)
    found: list[Recommendation] = []
    for job in jobs:
        say(f"running strategy {job.strategy.name}")
        found += recommend(history, job.strategy, job.settings, engine, computed_at=computed_at, hpas=hpas)
    if save:
        say(f"saving {len(found)} recommendations")
        await store.save_recommendations(found)
    return found


async def idle_nodes_from_store(
    store: NodeStore, settings: IdleNodeSettings, *, cluster: str | None = None, last_day: date | None = None
) -> list[IdleNode]:
    """The idle nodes over the ``settings.days`` days ending on ``last_day`` (default: the last stored)."""
    stored = await store.node_usage(cluster=cluster, until=last_day)
    if not stored:
        where = f" of cluster {cluster!r}" if cluster else ""
        raise ConfigError(
            f"the store holds no node figures{where} yet: run `kubecap collect` (node figures need "
            "node-exporter and kube-state-metrics)"
        )
    end = last_day or max(u.day for u in stored)
    return idle_nodes(stored, settings, last_day=end)
