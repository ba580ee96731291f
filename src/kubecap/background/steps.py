"""What the loops do, each step a method over explicit dependencies (no settings object inside).

Collection: collect every configured cluster's newly ended windows (resumable: complete
windows are skipped, a failed one is retried next pass), recompute recommendations when
something new arrived, then let the server refresh what it derives from the store (the
API's summaries). Tasks, taints and node load wrap the runner, the controller and the cache
that their capabilities already provide.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from kubecap.config import ClusterSettings
from kubecap.domain.hpa import HpaInfo
from kubecap.domain.window import parse_timezone
from kubecap.domain.workload import WorkloadRef
from kubecap.errors import KubecapError
from kubecap.metrics.collector import FailureHook, Outcome, collect, plan_windows
from kubecap.ports import UsageSource, UsageStore
from kubecap.recommend.service import HistoryStore, Job, Selection, recommend_from_store
from kubecap.recommend.settings import EngineSettings
from kubecap.recommend.strategies.registry import default_registry

Clock = Callable[[], datetime]


class StepFailed(KubecapError):
    """A step did part of its work and names what failed (the loop logs it and goes on)."""


class CollectionStore(UsageStore, HistoryStore, Protocol):
    pass


@dataclass
class Collection:
    """Collect → recommend → refresh, for every configured cluster."""

    store: CollectionStore
    clusters: Sequence[ClusterSettings]
    days: int
    strategy: str
    sources: Callable[[ClusterSettings], AbstractAsyncContextManager[UsageSource]]
    clock: Clock
    hpas: Callable[[], Awaitable[Mapping[WorkloadRef, HpaInfo] | None]] | None = None
    refresh_hook: Callable[[], Awaitable[Any]] | None = None
    on_failure: FailureHook | None = None
    """Told of each window that failed (the CLI's hook notifies the channels that want it)."""
    collected: int = 0
    """Windows collected since recommendations were last computed (the first pass computes them)."""
    _recommended_once: bool = field(default=False, repr=False)

    async def collect(self) -> None:
        now = self.clock()
        failures = []
        for cluster in self.clusters:
            windows = plan_windows(self.days, cluster.peaks(), parse_timezone(cluster.timezone), now)
            try:
                async with self.sources(cluster) as source:
                    report = await collect(source, self.store, windows, now=now, on_failure=self.on_failure)
            except KubecapError as exc:
                failures.append(f"cluster {cluster.name!r}: {exc}")
                continue
            self.collected += report.count(Outcome.COLLECTED)
            if report.error:
                failures.append(f"cluster {cluster.name!r}: {report.error}")
        if failures:
            # What was collected stays collected; recommendations still follow in the next passes.
            raise StepFailed("collection failed for " + "; ".join(failures))

    async def recommend(self) -> None:
        if self._recommended_once and not self.collected:
            return
        if await self.store.usage_span() is None:
            return
        strategy = default_registry().get(self.strategy)
        hpas = await self.hpas() if self.hpas is not None else None
        await recommend_from_store(
            self.store,
            [Job(strategy, strategy.settings_model())],
            EngineSettings(),
            Selection(),
            computed_at=self.clock(),
            hpas=hpas,
            save=True,
        )
        self._recommended_once, self.collected = True, 0

    async def refresh(self) -> None:
        if self.refresh_hook is not None:
            await self.refresh_hook()


class Rounds(Protocol):
    async def run_once(self) -> Any: ...


async def each(named: Mapping[str, Rounds]) -> None:
    """One round of each cluster's controller; failures (raised or reported) are named together."""
    failures = []
    for name, rounds in named.items():
        try:
            report = await rounds.run_once()
        except KubecapError as exc:
            failures.append(f"cluster {name!r}: {exc}")
            continue
        reported = getattr(report, "failures", None) or {}
        failures += [f"cluster {name!r}, step {step}: {why}" for step, why in reported.items()]
    if failures:
        raise StepFailed("; ".join(failures))


class Refreshable(Protocol):
    async def refresh(self, *, force: bool = False) -> Any: ...


async def refresh_all(caches: Mapping[str, Refreshable]) -> None:
    failures = []
    for name, cache in caches.items():
        try:
            await cache.refresh()
        except KubecapError as exc:
            failures.append(f"cluster {name!r}: {exc}")
    if failures:
        raise StepFailed("node load: " + "; ".join(failures))
