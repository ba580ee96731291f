"""The auto-taint controller: a timed round of named steps, leader-only, audited and notified.

Each round: ``lease`` (only the holder of the Lease acts; losing it forgets the timers),
``nodes`` (list them through the cluster port), ``observe`` (fresh utilisation from the
node-load snapshot), ``plan`` (``taint_policy.plan``, pure), ``apply`` (add or remove our
taint — the port patches only the node's taints with a resourceVersion precondition, so
taints others set survive even a concurrent rewrite of the node), ``annotate`` (optionally,
crane-scheduler's node annotations). Every change is audited (before/after, reason),
notified (``node_taint``) and counted; a failed step or change is logged and the round, and
the loop, go on. In dry-run nothing is written: the changes it would make are logged and
counted, and it remembers them so that it does not announce the same change every round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from kubecap.cluster.port import ClusterError, ClusterPort, Node, Taint
from kubecap.domain.audit import AuditEvent, AuditResult
from kubecap.domain.notifications import EventKind, Notification
from kubecap.ports import NotificationSink
from kubecap.scheduling.load import Freshness, LoadSnapshot, Resource, Span, freshness
from kubecap.scheduling.metrics import TaintMetrics
from kubecap.scheduling.policy import hot_value
from kubecap.scheduling.settings import TaintSettings
from kubecap.scheduling.taint_policy import (
    Action,
    TaintChange,
    TaintObservation,
    TaintPlan,
    TaintPolicy,
    Timers,
    is_control_plane,
    plan,
    pool_of,
)

_log = logging.getLogger(__name__)

CRANE_KEYS = {
    (Resource.CPU, Span.AVG_5M): "cpu_usage_avg_5m",
    (Resource.CPU, Span.MAX_1H): "cpu_usage_max_avg_1h",
    (Resource.CPU, Span.MAX_1D): "cpu_usage_max_avg_1d",
    (Resource.MEMORY, Span.AVG_5M): "mem_usage_avg_5m",
    (Resource.MEMORY, Span.MAX_1H): "mem_usage_max_avg_1h",
    (Resource.MEMORY, Span.MAX_1D): "mem_usage_max_avg_1d",
}
CRANE_HOT_VALUE = "node_hot_value"
CRANE_ANNOTATION_PERIOD = timedelta(minutes=3)
_CRANE_TIME = "%Y-%m-%dT%H:%M:%SZ"  # crane-scheduler's layout: local time with a literal Z


class AuditLog(Protocol):
    async def record_audit(self, event: AuditEvent) -> int: ...


Clock = Callable[[], datetime]


@dataclass
class RoundReport:
    """What one round did: whether we led, the plan, each change's result, failed steps."""

    leader: bool = False
    plan: TaintPlan | None = None
    applied: list[tuple[TaintChange, AuditResult, str]] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    annotated: int = 0


def observe(
    nodes: Sequence[Node],
    snapshot: LoadSnapshot,
    settings: TaintSettings,
    now: datetime,
    dry_run_state: dict[str, bool] | None = None,
) -> list[TaintObservation]:
    """Each node's fresh 5-minute utilisation and our taint on it (as dry-run left it, in dry-run)."""
    out = []
    for node in nodes:
        load = snapshot.load(node.name)
        values: list[float | None] = []
        for resource in (Resource.CPU, Resource.MEMORY):
            figure = load.resource(resource).avg_5m if load is not None else None
            fresh = freshness(figure, Span.AVG_5M, now, snapshot.ages) is Freshness.FRESH
            values.append(figure.value if fresh and figure is not None else None)
        effects = tuple(sorted(t.effect for t in node.taints if t.key == settings.key))
        if dry_run_state is not None and node.name in dry_run_state:
            effects = (settings.effect,) if dry_run_state[node.name] else ()
        eligible = not node.unschedulable and (
            settings.include_control_plane or not is_control_plane(node.labels)
        )
        out.append(
            TaintObservation(
                node=node.name,
                pool=pool_of(node.labels, settings.pool_labels),
                cpu=values[0],
                memory=values[1],
                effects=effects,
                eligible=eligible,
            )
        )
    return out


def crane_annotations(
    snapshot: LoadSnapshot,
    node: str,
    now: datetime,
    zone: ZoneInfo,
    hot_rules: Sequence[tuple[timedelta, int]],
) -> dict[str, str | None]:
    """crane-scheduler's annotations of one node: "value,local time" for each fresh figure."""
    stamp = now.astimezone(zone).strftime(_CRANE_TIME)
    out: dict[str, str | None] = {}
    load = snapshot.load(node)
    for (resource, span), key in CRANE_KEYS.items():
        figure = load.resource(resource).figure(span) if load is not None else None
        if figure is not None and freshness(figure, span, now, snapshot.ages) is Freshness.FRESH:
            out[key] = f"{max(figure.value, 0.0):.5f},{stamp}"
    out[CRANE_HOT_VALUE] = f"{hot_value(snapshot.recent.get(node, ()), now, hot_rules)},{stamp}"
    return out


class TaintController:
    """Runs rounds until stopped; ``run_once`` is one round (tests call it directly)."""

    def __init__(
        self,
        cluster: ClusterPort,
        snapshot: Callable[[], LoadSnapshot],
        settings: TaintSettings,
        *,
        metrics: TaintMetrics,
        holder: str,
        clock: Clock,
        audit: AuditLog | None = None,
        notifier: NotificationSink | None = None,
        hot_rules: Sequence[tuple[timedelta, int]] = ((timedelta(minutes=5), 5), (timedelta(minutes=1), 2)),
    ) -> None:
        self._cluster = cluster
        self._snapshot = snapshot
        self._settings = settings
        self._policy = TaintPolicy.from_settings(settings)
        self._metrics = metrics
        self._holder = holder
        self._clock = clock
        self._audit = audit
        self._notifier = notifier
        self._hot_rules = tuple(hot_rules)
        self._timers: dict[str, Timers] = {}
        self._dry_run_state: dict[str, bool] = {}
        self._leader = False
        self._annotated_at: datetime | None = None

    @property
    def actor(self) -> str:
        return f"taint-controller/{self._holder}"

    async def _step(self, report: RoundReport, name: str, action: Callable[[], object]) -> bool:
        started = time.monotonic()
        try:
            result = action()
            if asyncio.iscoroutine(result):
                await result
        except ClusterError as exc:
            report.failures[name] = str(exc)
            self._metrics.step_failures.labels(name).inc()
            _log.warning("taint controller step failed", extra={"step": name, "error": str(exc)})
            return False
        except Exception as exc:  # a bug must not stop the loop
            report.failures[name] = f"{type(exc).__name__}: {exc}"
            self._metrics.step_failures.labels(name).inc()
            _log.exception("taint controller step failed unexpectedly", extra={"step": name})
            return False
        _log.debug(
            "taint controller step done",
            extra={"step": name, "seconds": round(time.monotonic() - started, 4)},
        )
        return True

    async def run_once(self) -> RoundReport:
        report = RoundReport()
        now = self._clock()
        settings = self._settings

        async def lease() -> None:
            report.leader = await self._cluster.acquire_lease(
                settings.lease_namespace, settings.lease_name, self._holder, settings.lease_seconds
            )

        if not await self._step(report, "lease", lease):
            report.leader = False
        if report.leader != self._leader:
            _log.info(
                "taint controller leadership changed", extra={"leader": report.leader, "holder": self._holder}
            )
            if not report.leader:
                # Another replica may act meanwhile: our streaks no longer describe what it saw.
                self._timers.clear()
                self._dry_run_state.clear()
        self._leader = report.leader
        self._metrics.leader.set(1 if report.leader else 0)
        if not report.leader:
            return report

        nodes: list[Node] = []

        async def list_nodes() -> None:
            nodes.extend(await self._cluster.list_nodes())

        if not await self._step(report, "nodes", list_nodes):
            return report
        snapshot = self._snapshot()
        observations: list[TaintObservation] = []

        def do_observe() -> None:
            observations.extend(
                observe(nodes, snapshot, settings, now, self._dry_run_state if settings.dry_run else None)
            )

        def do_plan() -> None:
            report.plan = plan(observations, self._timers, self._policy, now)

        if not await self._step(report, "observe", do_observe) or not await self._step(
            report, "plan", do_plan
        ):
            return report
        assert report.plan is not None
        before = self._timers
        self._timers = dict(report.plan.timers)
        for node, reason in report.plan.deferred:
            self._metrics.deferred.labels("share_cap").inc()
            _log.info("taint deferred", extra={"node": node, "reason": reason})
        by_name = {n.name: n for n in nodes}
        await self._step(report, "apply", lambda: self._apply_all(report, by_name, now))
        for change, result, _ in report.applied:
            if result is AuditResult.FAILED and change.node in self._timers:
                # Nothing changed on the node: no dwell time starts, the next round tries again.
                previous = before.get(change.node, Timers())
                self._timers[change.node] = replace(
                    self._timers[change.node], changed_at=previous.changed_at, changed_to=previous.changed_to
                )
        for pool, count in report.plan.tainted.items():
            self._metrics.tainted.labels(pool or "none").set(count)
        if settings.crane_annotations and not settings.dry_run:
            await self._step(report, "annotate", lambda: self._annotate(report, nodes, snapshot, now))
        self._metrics.rounds.inc()
        return report

    async def _apply_all(self, report: RoundReport, nodes: dict[str, Node], now: datetime) -> None:
        assert report.plan is not None
        for change in report.plan.changes:
            result, message = await self._apply(change, nodes.get(change.node), now)
            report.applied.append((change, result, message))

    async def _apply(self, change: TaintChange, node: Node | None, now: datetime) -> tuple[AuditResult, str]:
        settings = self._settings
        ours = tuple(t for t in (node.taints if node else ()) if t.key == settings.key)
        wanted = Taint(settings.key, settings.effect)
        after: tuple[Taint, ...] = () if change.action is Action.REMOVE else (wanted,)
        if settings.dry_run:
            self._dry_run_state[change.node] = change.action is not Action.REMOVE
            self._metrics.changes.labels(change.action.value, "dry_run").inc()
            _log.info(
                "dry run: would change the taint",
                extra={"node": change.node, "action": change.action.value, "reason": change.reason},
            )
            return AuditResult.OK, f"{change.reason} (dry run: nothing changed)"
        try:
            if change.action is not Action.ADD:
                for taint in ours:
                    if change.action is Action.REMOVE or taint.effect != settings.effect:
                        await self._cluster.remove_taint(change.node, taint.key, taint.effect)
            if change.action is not Action.REMOVE:
                await self._cluster.add_taint(change.node, wanted)
        except ClusterError as exc:
            result, message = AuditResult.FAILED, f"{change.reason}; the change failed: {exc}"
        else:
            result, message = AuditResult.OK, change.reason
        self._metrics.changes.labels(
            change.action.value, "ok" if result is AuditResult.OK else "failed"
        ).inc()
        log = _log.info if result is AuditResult.OK else _log.warning
        log(
            "taint change",
            extra={
                "node": change.node,
                "action": change.action.value,
                "result": result.value,
                "reason": message,
            },
        )
        action = {Action.ADD: "node.taint", Action.REMOVE: "node.untaint", Action.UPDATE: "node.taint.update"}
        event = AuditEvent(
            at=now,
            actor=self.actor,
            action=action[change.action],
            cluster=self._cluster.name,
            target=f"node/{change.node}",
            result=result,
            before={"taints": [f"{t.key}:{t.effect}" for t in ours]},
            after={"taints": [f"{t.key}:{t.effect}" for t in after]} if result is AuditResult.OK else None,
            message=message,
        )
        await self._record(event)
        verb = {Action.ADD: "tainted", Action.REMOVE: "untainted", Action.UPDATE: "re-tainted"}[change.action]
        title = f"node {change.node} {verb} {settings.key}:{settings.effect}"
        if result is AuditResult.FAILED:
            title = f"could not change the taint of node {change.node}"
        await self._notify(
            Notification(EventKind.NODE_TAINT, self._cluster.name, title, message, f"/nodes/{change.node}"),
            now,
        )
        return result, message

    async def _record(self, event: AuditEvent) -> None:
        if self._audit is None:
            return
        try:
            await self._audit.record_audit(event)
        except Exception:
            # The taint is on the node whatever happens to its record; the log keeps it.
            _log.exception(
                "recording an audit event failed", extra={"action": event.action, "target": event.target}
            )

    async def _notify(self, notification: Notification, now: datetime) -> None:
        if self._notifier is None:
            return
        try:
            deliveries = await self._notifier.notify(notification)
        except Exception:
            _log.exception("sending a notification failed", extra={"title": notification.title})
            return
        for delivery in deliveries:
            await self._record(
                AuditEvent(
                    at=now,
                    actor=self.actor,
                    action="notify",
                    cluster=self._cluster.name,
                    target=f"channel {delivery.channel}",
                    result=AuditResult.OK if delivery.ok else AuditResult.FAILED,
                    message=(
                        f"delivered after {delivery.attempts} attempt(s)"
                        if delivery.ok
                        else f"not delivered after {delivery.attempts} attempts: {delivery.reason}"
                    ),
                )
            )

    async def _annotate(
        self, report: RoundReport, nodes: Sequence[Node], snapshot: LoadSnapshot, now: datetime
    ) -> None:
        if self._annotated_at is not None and now - self._annotated_at < CRANE_ANNOTATION_PERIOD:
            return
        zone = ZoneInfo(self._settings.crane_timezone)
        for node in nodes:
            if snapshot.load(node.name) is None:
                continue
            try:
                await self._cluster.annotate_node(
                    node.name, crane_annotations(snapshot, node.name, now, zone, self._hot_rules)
                )
                report.annotated += 1
            except ClusterError as exc:
                _log.warning("annotating a node failed", extra={"node": node.name, "error": str(exc)})
        self._annotated_at = now

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds every ``interval_seconds`` until ``stop`` is set, then give the lease up."""
        try:
            while not stop.is_set():
                await self.run_once()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._settings.interval_seconds)
        finally:
            await self.close()

    async def close(self) -> None:
        if not self._leader:
            return
        try:
            await self._cluster.release_lease(
                self._settings.lease_namespace, self._settings.lease_name, self._holder
            )
        except ClusterError as exc:
            _log.warning("releasing the leader lease failed", extra={"error": str(exc)})
        self._leader = False
        self._metrics.leader.set(0)
