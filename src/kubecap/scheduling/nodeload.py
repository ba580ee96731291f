"""Node load from Prometheus, refreshed in the background: the reader (queries) and the cache (the loop).

``NodeLoadReader`` asks Prometheus for one kind of figure at a time and maps every series
to its node (``nodes.NodeIndex``). ``NodeLoadCache`` runs the refresh as a linear, timed
script of named steps — identities, current, hour, day, recent bindings — each on its own
period; a step that fails is logged with its name and kept as a problem sentence, the
figures it read last time stay (and age until they are stale), and the loop goes on. The
extender and the taint controller only ever read ``cache.snapshot``, an immutable value
replaced at the end of each round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from kubecap.domain.node_identity import NodeIdentity, NodeIndex, series_name
from kubecap.errors import KubecapError
from kubecap.metrics.prometheus import PrometheusClient, Sample
from kubecap.metrics.promql import Scope
from kubecap.scheduling.load import Figure, LoadSnapshot, MaxAges, NodeLoad, RecentBinding, ResourceLoad, Span
from kubecap.scheduling.pods import Estimator, PodInfo
from kubecap.scheduling.queries import CPU_RULE, MEMORY_RULE, NodeLoadQueries, RecentPodQueries
from kubecap.scheduling.settings import NodeLoadSettings

_log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Matched:
    """Values by node name, and the series that matched no node."""

    values: dict[str, float]
    unmatched: frozenset[str] = frozenset()


def by_node(samples: Sequence[Sample], index: NodeIndex) -> Matched:
    """Each sample under the node its labels name; two series of one node keep the higher value."""
    values: dict[str, float] = {}
    unmatched: set[str] = set()
    for sample in samples:
        if math.isnan(sample.value):
            continue
        node = index.resolve(sample.labels)
        if node is None:
            unmatched.add(series_name(sample.labels))
            continue
        values[node] = max(values.get(node, sample.value), sample.value)
    return Matched(values, frozenset(unmatched))


@dataclass(frozen=True)
class SpanFigures:
    cpu: dict[str, Figure]
    memory: dict[str, Figure]
    unmatched: frozenset[str] = frozenset()


class NodeLoadReader:
    """Node-load queries against one Prometheus, for one cluster (its label in a shared store)."""

    def __init__(
        self,
        client: PrometheusClient,
        settings: NodeLoadSettings,
        *,
        cluster_label: Mapping[str, str] | None = None,
        estimator: Estimator | None = None,
        recent_window_s: float | None = None,
    ) -> None:
        self._client = client
        self._settings = settings
        self._scope = Scope.for_cluster(dict(cluster_label or {}))
        self._estimator = estimator or Estimator()
        window = recent_window_s if recent_window_s is not None else settings.recent_binding_seconds
        self._recent = RecentPodQueries(self._scope, max(1, math.ceil(window)))

    def queries(self, rules: bool) -> NodeLoadQueries:
        return NodeLoadQueries(self._scope, rules)

    async def rules_available(self, at: datetime) -> bool:
        """Whether Prometheus has node-mixin's CPU and memory recording rules for this cluster."""
        if self._settings.recording_rules != "auto":
            return self._settings.recording_rules == "always"
        found = await self._client.instant(self.queries(False).rules_present(), at)
        names = {s.labels.get("__name__") for s in found}
        return CPU_RULE in names and MEMORY_RULE in names

    async def node_identities(self, at: datetime) -> list[NodeIdentity]:
        """Node names and internal IPs from kube-state-metrics (empty when it is not scraped)."""
        found = await self._client.instant(self.queries(False).node_info(), at)
        merged: dict[str, set[str]] = {}
        for sample in found:
            name = sample.labels.get("node")
            if name:
                merged.setdefault(name, set()).update(a for a in (sample.labels.get("internal_ip"),) if a)
        return [NodeIdentity(name, tuple(sorted(ips))) for name, ips in merged.items()]

    async def capacity(self, at: datetime, index: NodeIndex) -> tuple[Matched, Matched]:
        """(CPU cores, memory bytes) by node."""
        queries = self.queries(False).capacity()
        cores, memory = await asyncio.gather(
            self._client.instant(queries.cpu, at), self._client.instant(queries.memory, at)
        )
        return by_node(cores, index), by_node(memory, index)

    async def figures(self, span: Span, at: datetime, index: NodeIndex, rules: bool) -> SpanFigures:
        """The CPU and memory figures of ``span`` by node, each with the time it describes."""
        queries = self.queries(rules)
        chosen = (
            queries.current()
            if span is Span.AVG_5M
            else queries.hour()
            if span is Span.MAX_1H
            else queries.day()
        )
        calls: list[Awaitable[list[Sample]]] = [
            self._client.instant(chosen.cpu, at),
            self._client.instant(chosen.memory, at),
        ]
        if span is Span.AVG_5M:
            stamps = queries.current_timestamps()
            calls += [self._client.instant(stamps.cpu, at), self._client.instant(stamps.memory, at)]
        answers = await asyncio.gather(*calls)
        cpu, memory = by_node(answers[0], index), by_node(answers[1], index)
        cpu_at: Mapping[str, float] = by_node(answers[2], index).values if span is Span.AVG_5M else {}
        memory_at: Mapping[str, float] = by_node(answers[3], index).values if span is Span.AVG_5M else {}

        def figures(values: Mapping[str, float], stamps: Mapping[str, float]) -> dict[str, Figure]:
            out = {}
            for node, value in values.items():
                stamp = stamps.get(node)
                moment = datetime.fromtimestamp(stamp, UTC) if stamp is not None else at
                out[node] = Figure(value, min(moment, at))
            return out

        return SpanFigures(
            figures(cpu.values, cpu_at), figures(memory.values, memory_at), cpu.unmatched | memory.unmatched
        )

    async def recent_bindings(self, at: datetime, index: NodeIndex) -> dict[str, tuple[RecentBinding, ...]]:
        """Pods scheduled in the recent window by node, with their estimated usage."""
        scheduled, requests, limits = await asyncio.gather(
            self._client.instant(self._recent.scheduled(), at),
            self._client.instant(self._recent.sizes("kube_pod_container_resource_requests"), at),
            self._client.instant(self._recent.sizes("kube_pod_container_resource_limits"), at),
        )

        def sizes(samples: Sequence[Sample]) -> dict[tuple[str, str, str], float]:
            return {
                (
                    s.labels.get("namespace", ""),
                    s.labels.get("pod", ""),
                    s.labels.get("resource", ""),
                ): s.value
                for s in samples
            }

        asked, capped = sizes(requests), sizes(limits)
        out: dict[str, list[RecentBinding]] = {}
        for sample in scheduled:
            namespace, pod = sample.labels.get("namespace", ""), sample.labels.get("pod", "")
            node = index.lookup(sample.labels.get("node", ""))
            if node is None or not pod:
                continue
            info = PodInfo(
                namespace=namespace,
                name=pod,
                cpu_request=asked.get((namespace, pod, "cpu"), 0.0),
                memory_request=asked.get((namespace, pod, "memory"), 0.0),
                cpu_limit=capped.get((namespace, pod, "cpu"), 0.0),
                memory_limit=capped.get((namespace, pod, "memory"), 0.0),
            )
            out.setdefault(node, []).append(
                RecentBinding(
                    node=node,
                    pod=info.key,
                    at=datetime.fromtimestamp(sample.value, UTC),
                    cpu=self._estimator.cpu(info),
                    memory=self._estimator.memory(info),
                )
            )
        return {node: tuple(sorted(items, key=lambda b: b.at)) for node, items in out.items()}


@dataclass
class _Step:
    name: str
    period_s: float
    due: float = 0.0  # monotonic seconds; 0 means at once


@dataclass
class _State:
    identities: list[NodeIdentity] = field(default_factory=list)
    learned: dict[str, set[str]] = field(default_factory=dict)
    index: NodeIndex = field(default_factory=NodeIndex)
    rules: bool = False
    cores: dict[str, float] = field(default_factory=dict)
    memory_bytes: dict[str, float] = field(default_factory=dict)
    spans: dict[Span, SpanFigures] = field(default_factory=dict)
    recent: dict[str, tuple[RecentBinding, ...]] = field(default_factory=dict)
    unmatched: dict[str, frozenset[str]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


StepListener = Callable[[str, bool, float], None]
"""Told after each step: its name, whether it succeeded, and how long it took in seconds."""


class NodeLoadCache:
    """The latest node load, refreshed by ``run`` (or one round at a time by ``refresh``)."""

    def __init__(
        self,
        reader: NodeLoadReader,
        settings: NodeLoadSettings,
        *,
        clock: Clock = utc_now,
        identities: Iterable[NodeIdentity] = (),
        on_step: StepListener | None = None,
    ) -> None:
        self._reader = reader
        self._settings = settings
        self._clock = clock
        self._on_step = on_step
        self._state = _State()
        self._ages = MaxAges(
            avg_5m=timedelta(seconds=settings.current_max_age_seconds),
            max_1h=timedelta(seconds=settings.hour_max_age_seconds),
            max_1d=timedelta(seconds=settings.day_max_age_seconds),
        )
        self._steps = {
            "identities": _Step("identities", settings.identity_refresh_seconds),
            "current": _Step("current", settings.refresh_seconds),
            "hour": _Step("hour", settings.hour_refresh_seconds),
            "day": _Step("day", settings.day_refresh_seconds),
            "recent": _Step("recent", settings.refresh_seconds),
        }
        self.learn(identities)
        self._snapshot = LoadSnapshot(taken_at=clock(), ages=self._ages, problems=("node load not read yet",))
        self.rounds = 0

    @property
    def snapshot(self) -> LoadSnapshot:
        return self._snapshot

    def learn(self, identities: Iterable[NodeIdentity]) -> None:
        """Add node names and addresses known from elsewhere (the cluster, extender requests)."""
        changed = False
        for identity in identities:
            known = self._state.learned.setdefault(identity.name, set())
            new = set(identity.addresses) - known
            if new or (not known and identity.name not in self._state.index.names):
                known.update(new)
                changed = True
        if changed:
            self._rebuild_index()

    def _rebuild_index(self) -> None:
        learned = [
            NodeIdentity(name, tuple(sorted(addresses))) for name, addresses in self._state.learned.items()
        ]
        self._state.index = NodeIndex.build([*self._state.identities, *learned], self._settings.node_labels)

    async def _identities(self, at: datetime) -> None:
        state = self._state
        state.rules = await self._reader.rules_available(at)
        state.identities = await self._reader.node_identities(at)
        self._rebuild_index()
        cores, memory = await self._reader.capacity(at, state.index)
        state.cores, state.memory_bytes = cores.values, memory.values
        state.unmatched["capacity"] = cores.unmatched | memory.unmatched

    async def _span(self, span: Span, at: datetime) -> None:
        found = await self._reader.figures(span, at, self._state.index, self._state.rules)
        self._state.spans[span] = found
        self._state.unmatched[span.value] = found.unmatched

    async def _recent(self, at: datetime) -> None:
        self._state.recent = await self._reader.recent_bindings(at, self._state.index)

    async def refresh(self, *, force: bool = False) -> LoadSnapshot:
        """One round: every step that is due (all with ``force``), then a new snapshot."""
        now = self._clock()
        plan: list[tuple[str, Callable[[datetime], Awaitable[None]]]] = [
            ("identities", self._identities),
            ("current", lambda at: self._span(Span.AVG_5M, at)),
            ("hour", lambda at: self._span(Span.MAX_1H, at)),
            ("day", lambda at: self._span(Span.MAX_1D, at)),
            ("recent", self._recent),
        ]
        for name, action in plan:
            step = self._steps[name]
            started = time.monotonic()
            if not force and started < step.due:
                continue
            ok = await self._run_step(name, action, now)
            took = time.monotonic() - started
            # A failed step is tried again next round rather than after its whole period.
            step.due = started + (step.period_s if ok else min(step.period_s, self._settings.refresh_seconds))
            if self._on_step is not None:
                self._on_step(name, ok, took)
        self._snapshot = self._build(now)
        self.rounds += 1
        return self._snapshot

    async def _run_step(
        self, name: str, action: Callable[[datetime], Awaitable[None]], now: datetime
    ) -> bool:
        started = time.monotonic()
        try:
            await action(now)
        except KubecapError as exc:
            self._state.problems[name] = f"{name}: {exc}"
            _log.warning("node load step failed", extra={"step": name, "error": str(exc)})
            return False
        except Exception as exc:  # a bug must not stop the refresh loop either
            self._state.problems[name] = f"{name}: {type(exc).__name__}: {exc}"
            _log.exception("node load step failed unexpectedly", extra={"step": name})
            return False
        self._state.problems.pop(name, None)
        _log.debug(
            "node load step done", extra={"step": name, "seconds": round(time.monotonic() - started, 4)}
        )
        return True

    def _build(self, now: datetime) -> LoadSnapshot:
        state = self._state
        empty = SpanFigures({}, {})
        current = state.spans.get(Span.AVG_5M, empty)
        hour = state.spans.get(Span.MAX_1H, empty)
        day = state.spans.get(Span.MAX_1D, empty)
        names = (
            set(current.cpu)
            | set(current.memory)
            | set(hour.cpu)
            | set(hour.memory)
            | set(day.cpu)
            | set(day.memory)
        )
        nodes = {
            name: NodeLoad(
                node=name,
                cpu=ResourceLoad(current.cpu.get(name), hour.cpu.get(name), day.cpu.get(name)),
                memory=ResourceLoad(current.memory.get(name), hour.memory.get(name), day.memory.get(name)),
                cpu_cores=state.cores.get(name),
                memory_bytes=state.memory_bytes.get(name),
                series=CPU_RULE if state.rules else "node_cpu_seconds_total",
            )
            for name in names
        }
        unmatched = frozenset().union(*state.unmatched.values()) if state.unmatched else frozenset()
        return LoadSnapshot(
            taken_at=now,
            nodes=nodes,
            recent=dict(state.recent),
            without_data=tuple(sorted(state.index.names - names)),
            unmatched=tuple(sorted(unmatched)),
            problems=tuple(state.problems[k] for k in sorted(state.problems)),
            ages=self._ages,
        )

    def seconds_until_due(self) -> float:
        now = time.monotonic()
        return max(0.0, min(step.due for step in self._steps.values()) - now)

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh until ``stop`` is set; never raises for a failed step."""
        while not stop.is_set():
            await self.refresh()
            wait = max(0.5, self.seconds_until_due())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
