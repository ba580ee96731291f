"""Start the loops with the server and stop them with it; report their health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from kubecap.background.leader import Clock, Leadership
from kubecap.background.loop import Health, Loop, LoopMetrics, run_forever, run_pass

log = logging.getLogger(__name__)


class Background:
    """The loops of one process; ``leadership`` gates those marked ``leader_only``."""

    def __init__(
        self,
        loops: Sequence[Loop],
        *,
        metrics: LoopMetrics,
        clock: Clock,
        leadership: Leadership | None = None,
    ) -> None:
        self.loops = list(loops)
        self.leadership = leadership
        self.metrics = metrics
        self._clock = clock
        self.health: dict[str, Health] = {loop.name: Health() for loop in self._all()}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def _all(self) -> list[Loop]:
        return ([self.leadership.loop()] if self.leadership else []) + self.loops

    def leading(self) -> bool:
        return self.leadership is None or self.leadership.leading

    async def start(self) -> None:
        """Claim the lease first (so a lone replica acts from its first pass), then start every loop."""
        if self.leadership is not None:
            leader = self.leadership.loop()
            await run_pass(leader, self.health[leader.name], self.metrics, self._clock)
        self._stop.clear()
        for loop in self._all():
            task = asyncio.create_task(self._run(loop), name=f"kubecap-loop-{loop.name}")
            self._tasks.append(task)

    async def _run(self, loop: Loop) -> None:
        first = loop.name == "leader"
        if first:  # just renewed in start()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=loop.interval_s)
        await run_forever(loop, self._stop, self.health[loop.name], self.metrics, self._clock, self.leading)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Let running passes finish (cancelled after ``timeout_s``), then give the lease up."""
        self._stop.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._tasks.clear()
        if self.leadership is not None:
            try:
                await self.leadership.release()
            except Exception as exc:  # shutting down: the lease then expires on its own
                log.warning("releasing the leader lease failed", extra={"error": str(exc)})

    def report(self) -> dict[str, Any]:
        """For `/readyz`: each loop's health and whether this process leads."""
        return {
            "leader": self.leading() if self.leadership is not None else None,
            "holder": self.leadership.holder if self.leadership is not None else None,
            "loops": {name: h.to_dict() for name, h in self.health.items()},
        }
