"""Notifications from the webhook: a rejected workload, an unmanaged workload registered.

They leave from the recorder's background batch, never from the request path, and are
coalesced: a Deployment rejected a thousand times in a crash-looping pipeline is one message
per workload per ``every_s`` (300 s), the next one saying how many were held back. Delivery
runs in a task of its own, so a slow or failing channel never delays the audit writes, let
alone admission; each delivery (ok or failed) is logged and audited, as ``notify`` events.

The sink is a protocol (kubecap.ops.notify.Notifier honours it): control does not import
ops, the composition root plugs the apprise notifier in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from kubecap.domain.audit import AuditEvent, AuditResult
from kubecap.domain.notifications import EventKind, Notification
from kubecap.ports import NotificationSink

log = logging.getLogger("kubecap.webhook")
ACTOR = "kubecap-webhook"
KINDS = {"webhook.reject": EventKind.WEBHOOK_REJECTION, "control.register": EventKind.UNMANAGED_WORKLOAD}
"""The audited actions that are notified, and the event kind channels subscribe to."""


class AuditWriter(Protocol):
    async def record_audits(self, events: Sequence[AuditEvent]) -> int: ...


@dataclass(slots=True)
class _Held:
    """One workload's pending message: the first event of its window and how many followed."""

    event: AuditEvent
    count: int = 1


class Coalescer:
    """Pure bookkeeping: which events become a message now, which are held and counted.

    An event whose (kind, target) had no message in the last ``every_s`` seconds goes out at
    the next flush, carrying the number held back since the previous message; others are
    counted. Times are the events' own, so replays and tests need no clock.
    """

    def __init__(self, every_s: float = 300.0, *, max_keys: int = 10_000) -> None:
        self.every_s = every_s
        self._max_keys = max_keys
        self._sent_at: dict[tuple[EventKind, str], datetime] = {}
        self._held_back: dict[tuple[EventKind, str], int] = {}
        self._due: dict[tuple[EventKind, str], _Held] = {}

    def offer(self, event: AuditEvent) -> bool:
        """Take an audited event; True when it will be (or joins) a message at the next flush."""
        kind = KINDS.get(event.action)
        if kind is None:
            return False
        key = (kind, event.target)
        due = self._due.get(key)
        if due is not None:
            due.count += 1
            return True
        last = self._sent_at.get(key)
        if last is not None and (event.at - last).total_seconds() < self.every_s:
            self._held_back[key] = self._held_back.get(key, 0) + 1
            return False
        self._due[key] = _Held(event, 1 + self._held_back.pop(key, 0))
        return True

    def flush(self) -> list[tuple[EventKind, AuditEvent, int]]:
        """The messages due now: (kind, first event, events it stands for); their window starts."""
        due, self._due = self._due, {}
        if len(self._sent_at) + len(due) > self._max_keys:  # bounded memory: forget the oldest windows
            horizon = sorted(self._sent_at.values())[len(self._sent_at) // 2]
            self._sent_at = {k: at for k, at in self._sent_at.items() if at > horizon}
            self._held_back = {k: n for k, n in self._held_back.items() if k in self._sent_at}
        for key, held in due.items():
            self._sent_at[key] = held.event.at
        return [(key[0], held.event, held.count) for key, held in due.items()]


def notification(kind: EventKind, event: AuditEvent, count: int, every_s: float) -> Notification:
    """The short message for one coalesced event (pure)."""
    parts = event.target.split("/")  # cluster/namespace/kind/name, as WorkloadRef prints itself
    target = f"{parts[2]} {parts[1]}/{parts[3]}" if len(parts) == 4 else event.target
    more = (
        f"\n({count - 1} more since the last message: at most one per {every_s:.0f} s per workload)"
        if count > 1
        else ""
    )
    if kind is EventKind.WEBHOOK_REJECTION:
        title = f"webhook rejected {target}"
    else:
        title = f"unmanaged workload registered: {target}"
    return Notification(kind, event.cluster, title, f"{event.message}{more}", path="/control")


class WebhookAlerts:
    """Coalesces the recorder's events and delivers them in a task of its own."""

    def __init__(
        self,
        sink: NotificationSink,
        audit: AuditWriter,
        *,
        every_s: float = 300.0,
        flush_s: float = 1.0,
        shutdown_s: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sink = sink
        self._audit = audit
        self._coalescer = Coalescer(every_s)
        self._flush_s = flush_s
        self._shutdown_s = shutdown_s
        self._clock = clock
        self._wake = asyncio.Event()
        self._sending: set[asyncio.Task[None]] = set()
        self.delivered = 0
        self.failed = 0

    def offer(self, events: Sequence[AuditEvent]) -> None:
        """From the recorder's batch: O(1) per event, no I/O."""
        if any([self._coalescer.offer(e) for e in events]):
            self._wake.set()

    async def send_due(self) -> None:
        """Deliver every message due now and audit each delivery; never raises."""
        due = self._coalescer.flush()
        if due:
            await asyncio.gather(*(self._send(kind, event, count) for kind, event, count in due))

    async def _send(self, kind: EventKind, event: AuditEvent, count: int) -> None:
        message = notification(kind, event, count, self._coalescer.every_s)
        try:
            deliveries = list(await self._sink.notify(message))
        except Exception as exc:  # a broken sink must not stop the webhook's background work
            log.exception("webhook notification %r failed", message.title)
            deliveries = [_Failed("(all)", f"{type(exc).__name__}: {exc}")]
        records = []
        for delivery in deliveries:
            if delivery.ok:
                self.delivered += 1
            else:
                self.failed += 1
                log.warning(
                    "webhook notification not delivered",
                    extra={"channel": delivery.channel, "title": message.title, "reason": delivery.reason},
                )
            records.append(
                AuditEvent(
                    at=self._clock(),
                    actor=ACTOR,
                    action="notify",
                    cluster=event.cluster,
                    target=f"channel {delivery.channel}",
                    result=AuditResult.OK if delivery.ok else AuditResult.FAILED,
                    request_id=event.request_id,
                    message=(
                        f"{kind.value} ({event.target}) delivered after {delivery.attempts} attempt(s)"
                        if delivery.ok
                        else f"{kind.value} ({event.target}) not delivered after {delivery.attempts} "
                        f"attempt(s): {delivery.reason}"
                    ),
                )
            )
        if records:
            try:
                await self._audit.record_audits(records)
            except Exception as exc:  # the store may be down: the log line above still says it
                log.error("recording %d notification deliveries failed: %s", len(records), exc)

    async def run(self) -> None:
        """Deliver forever (cancel to stop, then ``close``)."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                # Let a burst gather: the many rejections of one rollout arrive within a second.
                await asyncio.sleep(self._flush_s)
                # Each flush in a task of its own: a channel that hangs holds its messages, not later ones.
                task = asyncio.create_task(self.send_due())
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
        finally:
            for task in self._sending:
                task.cancel()

    async def close(self) -> None:
        """Send what is still due, for at most ``shutdown_s`` (a hanging channel must not hold shutdown)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.send_due(), self._shutdown_s)


@dataclass(frozen=True, slots=True)
class _Failed:
    channel: str
    reason: str
    ok: bool = False
    attempts: int = 1
