"""Writes the webhook's side effects in the background: audit events and auto-registered specs.

An admission answer never waits for the database, nor even builds its audit event: a review
puts a ``Deferred`` (the review and its decision, as they are) on a bounded queue, an O(1)
step; one task builds the events and writes them in batches (one transaction per batch),
then hands them to the notifications (``alerts.WebhookAlerts``), which coalesce and deliver
in a task of their own. When the queue is full or the store fails, the events are counted
as dropped and logged: losing an audit line is bad, blocking every Deployment change of the
cluster behind a slow database is worse.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from kubecap.control.alerts import WebhookAlerts
from kubecap.control.ports import WebhookWriter
from kubecap.domain.audit import AuditEvent
from kubecap.domain.control import ControlSpec

log = logging.getLogger("kubecap.webhook")
ACTOR = "kubecap-webhook"
DROP_LOG_S = 10.0


@dataclass(frozen=True, slots=True)
class Registration:
    spec: ControlSpec
    event: AuditEvent


Built = AuditEvent | Registration


class Deferred(Protocol):
    """What a review queues: everything needed to build its audit event later, off the request path."""

    def build(self) -> Built: ...


Item = AuditEvent | Registration | Deferred


class Recorder:
    def __init__(
        self,
        writer: WebhookWriter,
        *,
        capacity: int = 10_000,
        batch: int = 128,
        max_batch: int = 500,
        linger_s: float = 0.2,
        on_drop: Callable[[int], None] = lambda n: None,
        alerts: WebhookAlerts | None = None,
    ) -> None:
        self._writer = writer
        self.alerts = alerts
        self._queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=capacity)
        self._batch = batch
        self._max_batch = max(batch, max_batch)
        self._linger = linger_s
        self._pending: list[Item] = []
        # Held while a batch is taken and written: drain() waits for the one run() is writing.
        self._writing = asyncio.Lock()
        self._on_drop = on_drop
        self.written = 0
        self.dropped = 0
        self._unlogged = 0
        self._logged_at: float | None = None

    def submit(self, item: Item) -> bool:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._drop(1, "the audit queue is full")
            return False
        return True

    def _drop(self, count: int, why: str) -> None:
        self.dropped += count
        self._on_drop(count)
        # One line per DROP_LOG_S at most: a full queue under a flood of reviews must not turn
        # into a flood of log lines (the metric counts every one).
        self._unlogged += count
        now = time.monotonic()
        if self._logged_at is None or now - self._logged_at >= DROP_LOG_S:
            log.error("%d webhook audit events or registrations lost: %s", self._unlogged, why)
            self._unlogged = 0
            self._logged_at = now

    async def _write(self, taken: list[Item]) -> None:
        try:
            items = [i if isinstance(i, AuditEvent | Registration) else i.build() for i in taken]
        except Exception:  # a bug building one event must not lose the batch silently
            log.exception("building webhook audit events failed")
            self._drop(len(taken), "an audit event could not be built")
            return
        events = [i for i in items if isinstance(i, AuditEvent)]
        registrations = [i for i in items if isinstance(i, Registration)]
        try:
            if events:
                await self._writer.record_audits(events)
            if registrations:
                await self._writer.save_control_specs(
                    [r.spec for r in registrations],
                    now=max(r.event.at for r in registrations),
                    actor=ACTOR,
                    reason="registered by the webhook (namespace policy: register unmanaged workloads)",
                    audit=[r.event for r in registrations],
                    only_new=True,
                )
        except Exception as exc:  # the writer must survive anything the store raises
            self._drop(len(items), str(exc))
            # A rejection happened whether or not its audit line was written; a registration did not.
            self._alert(events)
            return
        self.written += len(items)
        self._alert([*events, *(r.event for r in registrations)])

    def _alert(self, events: list[AuditEvent]) -> None:
        if self.alerts is not None:
            try:
                self.alerts.offer(events)
            except Exception:  # notifications are best effort: never at the audit trail's expense
                log.exception("queueing webhook notifications failed")

    def _take(self) -> list[Item]:
        """Everything waiting (held for the linger, and queued), at most one batch; no await inside.

        A batch is ``batch`` long, up to ``max_batch`` when more than that is waiting: under a
        flood each transaction's fixed cost (and, through a driver's thread, its round trips
        through the busy event loop) weighs, so fewer, larger transactions keep the writer ahead
        of the reviews. Not larger: on a SQLite file a batch is written on the loop's thread
        (store/sqlite_audit.py), ~5 us a row, and reviews wait meanwhile.
        """
        size = self._max_batch if self._queue.qsize() + len(self._pending) > self._batch else self._batch
        items, self._pending = self._pending[:size], self._pending[size:]
        while len(items) < size and not self._queue.empty():
            items.append(self._queue.get_nowait())
        return items

    async def drain(self) -> None:
        """Write everything waiting now, after the batch being written if any (at shutdown, and in tests)."""
        async with self._writing:
            while items := self._take():
                await self._write(items)

    async def run(self) -> None:
        """Write batches forever (cancel to stop; call ``drain`` afterwards)."""
        while True:
            self._pending.append(await self._queue.get())
            # Let a batch gather (one transaction per batch, not per review: per row, a batch of 128
            # costs about two thirds of one of 64); batches stay bounded so that preparing one never
            # holds the event loop for more than a few milliseconds.
            await asyncio.sleep(self._linger)
            async with self._writing:
                while items := self._take():
                    await self._write(items)
                    # A write may not suspend at all (SQLite's appender): let reviews in between batches.
                    await asyncio.sleep(0)
