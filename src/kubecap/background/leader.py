"""Leader election among `kubecap serve` replicas: one holder of a lease runs the loops that act
on clusters (tasks, taints); the others stand by and take over once it expires.

The lease is a Kubernetes Lease through the cluster port when a cluster API is configured,
otherwise a row in the database (store.lease_repo). Leadership is believed only until the
last successful renewal plus the lease duration, measured on this process's clock, so a
replica cut off from the lease stops acting no later than a contender may start.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from kubecap.background.loop import Loop, LoopMetrics, Step
from kubecap.cluster.port import ClusterPort

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def default_holder() -> str:
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


class LeaseBackend(Protocol):
    """Take or renew a named lease for ``holder`` (False while another holds it), and give it up."""

    async def acquire(self, holder: str, duration_s: int) -> bool: ...

    async def release(self, holder: str) -> None: ...


class KubeLease:
    """A coordination.k8s.io/v1 Lease through the cluster port."""

    def __init__(self, cluster: ClusterPort, namespace: str, name: str) -> None:
        self._cluster, self._namespace, self._name = cluster, namespace, name

    async def acquire(self, holder: str, duration_s: int) -> bool:
        return await self._cluster.acquire_lease(self._namespace, self._name, holder, duration_s)

    async def release(self, holder: str) -> None:
        await self._cluster.release_lease(self._namespace, self._name, holder)


class LeaseStore(Protocol):
    async def acquire_lease(self, name: str, holder: str, *, now: datetime, until: datetime) -> bool: ...

    async def release_lease(self, name: str, holder: str, *, now: datetime) -> None: ...


class DbLease:
    """A row of the database's leader_leases table (SQLite or PostgreSQL)."""

    def __init__(self, store: LeaseStore, name: str, clock: Clock) -> None:
        self._store, self._name, self._clock = store, name, clock

    async def acquire(self, holder: str, duration_s: int) -> bool:
        now = self._clock()
        return await self._store.acquire_lease(
            self._name, holder, now=now, until=now + timedelta(seconds=duration_s)
        )

    async def release(self, holder: str) -> None:
        await self._store.release_lease(self._name, holder, now=self._clock())


class Leadership:
    """Whether this process leads, kept true by renewing the lease every ``renew_s``."""

    def __init__(
        self,
        backend: LeaseBackend,
        *,
        lease_s: int,
        renew_s: float,
        clock: Clock,
        holder: str | None = None,
        metrics: LoopMetrics | None = None,
    ) -> None:
        self.backend = backend
        self.holder = holder or default_holder()
        self._lease = timedelta(seconds=lease_s)
        self._lease_s = lease_s
        self._renew_s = renew_s
        self._clock = clock
        self._metrics = metrics
        self._until: datetime | None = None

    @property
    def leading(self) -> bool:
        return self._until is not None and self._clock() < self._until

    async def renew(self) -> None:
        """Take or renew the lease; on failure this process stops leading, then the error is raised."""
        started = self._clock()
        was = self.leading
        try:
            held = await self.backend.acquire(self.holder, self._lease_s)
        except BaseException:
            self._set(None)
            raise
        # Counted from before the request: the lease cannot have started later than that.
        self._set(started + self._lease if held else None)
        if held != was:
            log.info("leadership changed", extra={"holder": self.holder, "leading": held})

    async def release(self) -> None:
        """Give the lease up (on shutdown) so that a standby takes over at once."""
        if self._until is None:
            return
        self._set(None)
        await self.backend.release(self.holder)

    def loop(self) -> Loop:
        return Loop("leader", self._renew_s, [Step("renew-lease", self.renew)])

    def _set(self, until: datetime | None) -> None:
        self._until = until
        if self._metrics is not None:
            self._metrics.leader.set(1 if until is not None else 0)
