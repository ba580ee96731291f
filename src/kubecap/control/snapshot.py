"""The webhook's in-memory copy of the control table, refreshed when the table's revision moves.

Each replica polls one integer (``control_revision``) every few seconds and reloads the
whole cluster's table only when it changed, so a thousand reviews a second cost the
database nothing. When the store cannot be reached the last snapshot stays in use and ages;
past ``stale_after`` it is reported stale and the server applies its stale policy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from kubecap.control.ports import SnapshotSource
from kubecap.domain.control import ControlSnapshot

log = logging.getLogger("kubecap.webhook")


class SnapshotHolder:
    def __init__(
        self,
        source: SnapshotSource,
        cluster: str,
        *,
        stale_after_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._cluster = cluster
        self._stale_after = stale_after_s
        self._clock = clock
        self.current: ControlSnapshot | None = None
        self._confirmed_at: float | None = None
        self.failures = 0
        self.last_error = ""

    def age(self) -> float | None:
        """Seconds since the snapshot was last confirmed current; None before the first load."""
        return None if self._confirmed_at is None else max(0.0, self._clock() - self._confirmed_at)

    def version(self) -> int | None:
        return None if self.current is None else self.current.version

    def stale(self) -> bool:
        age = self.age()
        return age is not None and age > self._stale_after

    async def refresh(self) -> bool:
        """Check the revision and reload when it moved; False (and the error kept) when the store failed."""
        try:
            revision = await self._source.control_revision()
            if self.current is None or revision != self.current.version:
                snapshot = await self._source.control_snapshot(self._cluster)
                if self.current is None or snapshot.version != self.current.version:
                    log.info(
                        "control snapshot loaded",
                        extra={"version": snapshot.version, "specs": len(snapshot.specs)},
                    )
                self.current = snapshot
        except Exception as exc:  # the loop must survive anything the store raises
            self.failures += 1
            self.last_error = str(exc)
            log.warning("control snapshot refresh failed: %s", exc)
            return False
        self._confirmed_at = self._clock()
        return True

    async def run(self, interval_s: float) -> None:
        """Refresh forever (cancel to stop)."""
        while True:
            await self.refresh()
            await asyncio.sleep(interval_s)
