"""The recorder: events built off the request path, written in batches that grow with the backlog,
losses counted every time but logged at most once per interval."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import pytest

from kubecap.control.recorder import Recorder
from kubecap.domain.audit import AuditEvent, AuditResult
from tests.control.builders import NOW


class Writer:
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[AuditEvent]] = []
        self.fail = fail

    async def record_audits(self, events: Sequence[AuditEvent]) -> int:
        if self.fail:
            raise RuntimeError("the database is read-only")
        self.batches.append(list(events))
        return len(events)

    async def save_control_specs(self, specs: Any, **kwargs: Any) -> list[Any]:
        return list(specs)


class Later:
    """A queued item whose event is built only when the batch is written."""

    built = 0

    def __init__(self, n: int) -> None:
        self.n = n

    def build(self) -> AuditEvent:
        Later.built += 1
        return AuditEvent(
            at=NOW,
            actor="kubecap-webhook",
            action="webhook.mutate",
            target=f"t{self.n}",
            result=AuditResult.OK,
        )


async def test_events_are_built_in_the_batch_not_when_submitted() -> None:
    writer = Writer()
    recorder = Recorder(writer, batch=4, max_batch=4)
    Later.built = 0
    for n in range(10):
        assert recorder.submit(Later(n))
    assert Later.built == 0
    await recorder.drain()
    assert Later.built == 10 and [len(b) for b in writer.batches] == [4, 4, 2]
    assert [e.target for b in writer.batches for e in b] == [f"t{n}" for n in range(10)]


async def test_batches_grow_while_a_backlog_waits() -> None:
    writer = Writer()
    recorder = Recorder(writer, batch=4, max_batch=16)
    for n in range(40):
        recorder.submit(Later(n))
    await recorder.drain()
    assert [len(b) for b in writer.batches] == [16, 16, 8]
    for n in range(3):
        recorder.submit(Later(n))
    await recorder.drain()
    assert len(writer.batches[-1]) == 3
    assert recorder.written == 43 and recorder.dropped == 0


async def test_losses_are_counted_each_time_and_logged_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lost: list[int] = []
    recorder = Recorder(Writer(), capacity=10, on_drop=lost.append)
    with caplog.at_level(logging.ERROR, logger="kubecap.webhook"):
        for n in range(25):
            recorder.submit(Later(n))
    assert recorder.dropped == 15 and sum(lost) == 15
    assert [r.getMessage() for r in caplog.records] == [
        "1 webhook audit events or registrations lost: the audit queue is full"
    ]


async def test_a_failing_store_loses_the_batch_counted_and_the_writer_goes_on() -> None:
    writer = Writer(fail=True)
    recorder = Recorder(writer, batch=8)
    for n in range(5):
        recorder.submit(Later(n))
    await recorder.drain()
    assert recorder.dropped == 5 and recorder.written == 0
    writer.fail = False
    recorder.submit(Later(99))
    await recorder.drain()
    assert recorder.written == 1


class SlowWriter(Writer):
    """A writer whose first batch waits until released (a transaction in flight)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.calls = 0

    async def record_audits(self, events: Sequence[AuditEvent]) -> int:
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            await self.release.wait()
        return await super().record_audits(events)


async def test_drain_waits_for_the_batch_the_writer_has_in_flight() -> None:
    writer = SlowWriter()
    recorder = Recorder(writer, linger_s=0)
    running = asyncio.create_task(recorder.run())
    try:
        recorder.submit(Later(0))
        await asyncio.wait_for(writer.entered.wait(), 5)
        recorder.submit(Later(1))
        drained = asyncio.create_task(recorder.drain())
        await asyncio.sleep(0)
        assert not drained.done()  # the first batch is still being written
        writer.release.set()
        await asyncio.wait_for(drained, 5)
        # Once drain() returns, everything submitted before it is in the store.
        assert [e.target for b in writer.batches for e in b] == ["t0", "t1"]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
