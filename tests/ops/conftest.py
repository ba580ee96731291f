"""Fixtures for the ops tests: the store fixtures of tests/store (SQLite and PostgreSQL),
an in-memory cluster, and a controllable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from kubecap.domain.workload import WorkloadKind
from kubecap.ops.runner import TaskRunner
from kubecap.ops.service import TaskService
from kubecap.store import Store
from kubecap.testing.cluster import InMemoryCluster
from tests.store.conftest import (  # noqa: F401 - fixtures shared with the store tests
    backend,
    database_url,
    postgres_database,
    postgres_server,
)

START = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cluster() -> InMemoryCluster:
    memory = InMemoryCluster(name="c")
    memory.add_workload("shop", "web", replicas=5)
    memory.add_workload("shop", "db", kind=WorkloadKind.STATEFULSET, replicas=3)
    return memory


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:  # noqa: F811 - the fixture, not the import
    async with await Store.open(database_url) as opened:
        yield opened


@pytest.fixture
def service(store: Store, clock: Clock) -> TaskService:
    return TaskService(store, clock=clock)


@pytest.fixture
def runner(store: Store, cluster: InMemoryCluster, clock: Clock) -> TaskRunner:
    return TaskRunner(store, lambda _name: cluster, runner_id="runner-a", clock=clock)
