"""Leader election: two contenders on one database (SQLite and PostgreSQL) or one Kubernetes Lease;
exactly one leads, the other takes over after the expiry or at once after a release."""

from __future__ import annotations

import asyncio

import pytest

from kubecap.background.leader import DbLease, KubeLease, Leadership, LeaseBackend
from kubecap.store import Store
from kubecap.testing.cluster import InMemoryCluster
from tests.background.clock import FakeClock

LEASE_S = 30


def contenders(
    backend_of: LeaseBackend, other: LeaseBackend, clock: FakeClock
) -> tuple[Leadership, Leadership]:
    a = Leadership(backend_of, lease_s=LEASE_S, renew_s=10, clock=clock, holder="replica-a")
    b = Leadership(other, lease_s=LEASE_S, renew_s=10, clock=clock, holder="replica-b")
    return a, b


async def check_failover(a: Leadership, b: Leadership, clock: FakeClock) -> None:
    await a.renew()
    await b.renew()
    assert (a.leading, b.leading) == (True, False)
    clock.advance(LEASE_S - 5)
    await a.renew()  # renewed in time: a keeps it
    await b.renew()
    assert (a.leading, b.leading) == (True, False)
    # a stops renewing (it died, or lost the database): it stops believing it leads at the expiry,
    # and only then may b take over.
    clock.advance(LEASE_S - 1)
    await b.renew()
    assert not b.leading and a.leading
    clock.advance(2)
    assert not a.leading
    await b.renew()
    assert b.leading
    await a.renew()
    assert not a.leading
    # A release hands over at once.
    await b.release()
    assert not b.leading
    await a.renew()
    assert a.leading


async def test_two_replicas_on_one_database(store: Store, database_url: str) -> None:
    clock = FakeClock()
    async with await Store.open(database_url) as second:  # another process's connection pool
        a, b = contenders(DbLease(store, "serve", clock), DbLease(second, "serve", clock), clock)
        await check_failover(a, b, clock)


async def test_concurrent_claims_give_one_leader(store: Store, database_url: str) -> None:
    clock = FakeClock()
    stores = [await Store.open(database_url) for _ in range(4)]
    try:
        sides = [
            Leadership(DbLease(s, "race", clock), lease_s=LEASE_S, renew_s=10, clock=clock, holder=f"r{i}")
            for i, s in enumerate(stores)
        ]
        await asyncio.gather(*(side.renew() for side in sides))
        assert sum(side.leading for side in sides) == 1
    finally:
        for s in stores:
            await s.close()


async def test_a_kubernetes_lease_through_the_cluster_port() -> None:
    clock = FakeClock()
    cluster = InMemoryCluster(name="prod", clock=clock)
    a, b = contenders(KubeLease(cluster, "kubecap", "serve"), KubeLease(cluster, "kubecap", "serve"), clock)
    await check_failover(a, b, clock)


class Broken:
    async def acquire(self, holder: str, duration_s: int) -> bool:
        raise ConnectionError("database gone")

    async def release(self, holder: str) -> None:
        return None


async def test_a_failed_renewal_ends_leadership_at_once() -> None:
    clock = FakeClock()
    cluster = InMemoryCluster(name="prod", clock=clock)
    side = Leadership(KubeLease(cluster, "kubecap", "serve"), lease_s=LEASE_S, renew_s=10, clock=clock)
    await side.renew()
    assert side.leading
    side.backend = Broken()
    with pytest.raises(ConnectionError):
        await side.renew()
    assert not side.leading
