"""Writes the webhook's side effects in the background: audit events and auto-registered specs.

An admission answer never waits for the database. Reviews put events on a bounded queue;
one task drains it in batches (one transaction per batch). When the queue is full or the
store fails, the events are counted as dropped and logged: losing an audit line is bad,
blocking every Deployment change of the cluster behind a slow database is worse.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from kubecap.control.ports import WebhookWriter
from kubecap.domain.audit import AuditEvent
from kubecap.domain.control import ControlSpec

log = logging.getLogger("kubecap.webhook")
ACTOR = "kubecap-webhook"


@dataclass(frozen=True, slots=True)
class Registration:
    spec: ControlSpec
    event: AuditEvent


Item = AuditEvent | Registration


class Recorder:
    def __init__(
        self,
        writer: WebhookWriter,
        *,
        capacity: int = 10_000,
        batch: int = 64,
        linger_s: float = 0.1,
        on_drop: Callable[[int], None] = lambda n: None,
    ) -> None:
        self._writer = writer
        self._queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=capacity)
        self._batch = batch
        self._linger = linger_s
        self._pending: list[Item] = []
        self._on_drop = on_drop
        self.written = 0
        self.dropped = 0

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
        log.error("%d webhook audit events or registrations lost: %s", count, why)

    async def _write(self, items: list[Item]) -> None:
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
            return
        self.written += len(items)

    def _take(self) -> list[Item]:
        """Everything waiting (held for the linger, and queued), at most one batch; no await inside."""
        items, self._pending = self._pending[: self._batch], self._pending[self._batch :]
        while len(items) < self._batch and not self._queue.empty():
            items.append(self._queue.get_nowait())
        return items

    async def drain(self) -> None:
        """Write everything waiting now (at shutdown, and in tests)."""
        while items := self._take():
            await self._write(items)

    async def run(self) -> None:
        """Write batches forever (cancel to stop; call ``drain`` afterwards)."""
        while True:
            self._pending.append(await self._queue.get())
            # Let a batch gather (one transaction per batch, not per review); batches stay small so
            # that preparing one never holds the event loop for long.
            await asyncio.sleep(self._linger)
            while items := self._take():
                await self._write(items)
