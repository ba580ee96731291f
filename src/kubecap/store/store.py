"""The SQL usage store: kubecap.ports.UsageStore on SQLite or PostgreSQL, plus the reads.

It owns one async engine and one rule: every public call is one transaction, and a
database failure surfaces as a StoreError sentence with the driver's error chained.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from types import TracebackType

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kubecap.domain.usage import UsageProfile
from kubecap.domain.window import DailyWindow
from kubecap.errors import StoreError
from kubecap.ports import WindowUsage
from kubecap.store import runs_repo, usage_repo
from kubecap.store.engine import async_engine, reason, unreachable
from kubecap.store.migrate import (
    current_revision,
    head_revision,
    known_revision,
    newer_than_code,
    upgrade_database,
)
from kubecap.store.runs_repo import CollectionRun
from kubecap.store.urls import is_sqlite, masked, normalise_url, sqlite_file

_CHECK_URL = ": check that the database is reachable (--database-url or KUBECAP_DATABASE_URL)"
_RETRY = "; nothing of it was stored, and collecting it again retries it"


class Store:
    """Usage history in a SQL database; open it with ``await Store.open(url)``."""

    def __init__(self, engine: AsyncEngine, url: str) -> None:
        """Internal: use ``Store.open``, which checks the revision first."""
        self._engine = engine
        self._url = url

    @classmethod
    async def open(cls, url: str, *, auto_upgrade: bool | None = None) -> Store:
        """Connect, migrating first when ``auto_upgrade`` (default: for SQLite only).

        Raises ConfigError for a URL kubecap does not support and StoreError when the
        database is unreachable or not at the revision this kubecap needs.
        """
        _, async_url = normalise_url(url)
        if auto_upgrade is None:
            auto_upgrade = is_sqlite(async_url)
        if auto_upgrade:
            await asyncio.to_thread(upgrade_database, url)
        else:
            await _refuse_missing_sqlite_file(url, async_url)
        engine = async_engine(async_url)
        try:
            await _require_head(engine, url)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, url)

    async def close(self) -> None:
        await self._engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @asynccontextmanager
    async def _transaction(self, doing: str, consequence: str = _CHECK_URL) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._engine.begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise StoreError(
                f"{doing} failed on the database at {masked(self._url)} ({reason(exc)}){consequence}"
            ) from exc

    async def completed_windows(self, cluster: str, days: Sequence[date]) -> set[tuple[date, str]]:
        """(day, window name) pairs of ``cluster`` whose collection has completed."""
        async with self._transaction(f"reading the collected windows of cluster {cluster!r}") as c:
            return await runs_repo.completed(c, cluster, days)

    async def save_window(self, cluster: str, window: DailyWindow, usage: WindowUsage) -> None:
        """Upsert the rows and mark the window complete, in one transaction."""
        _check_profiles(cluster, window, usage.profiles)
        started_at = datetime.now(UTC)
        doing = f"saving window {window.name} of {window.day} for cluster {cluster!r}"
        async with self._transaction(doing, _RETRY) as c:
            # The first statement is a write: on SQLite the transaction then never has to
            # upgrade a read lock, which would fail at once instead of waiting for a writer.
            cluster_id = await usage_repo.ensure_cluster(c, cluster)
            workload_ids = await usage_repo.ensure_workloads(
                c, cluster_id, (p.workload for p in usage.profiles), window.start, window.end
            )
            rows = await usage_repo.upsert_usage(c, workload_ids, usage.profiles)
            await runs_repo.mark_complete(
                c,
                cluster_id,
                window,
                started_at=started_at,
                finished_at=datetime.now(UTC),
                rows=rows,
                queries=usage.queries,
                message="\n".join(usage.warnings),
            )

    async def record_failure(self, cluster: str, window: DailyWindow, message: str) -> None:
        """Record that collecting ``window`` failed; stored rows and a complete mark are kept."""
        doing = f"recording the failure of window {window.name} of {window.day} for cluster {cluster!r}"
        async with self._transaction(doing) as c:
            cluster_id = await usage_repo.ensure_cluster(c, cluster)
            await runs_repo.mark_failed(c, cluster_id, window, at=datetime.now(UTC), message=message)

    async def clusters(self) -> list[str]:
        """Names of the clusters with stored history, sorted."""
        async with self._transaction("listing clusters") as c:
            return await usage_repo.cluster_names(c)

    async def usage(
        self,
        *,
        cluster: str | None = None,
        since: date | None = None,
        until: date | None = None,
        window: str | None = None,
        namespace: str | None = None,
    ) -> list[UsageProfile]:
        """Stored profiles matching every given filter (days inclusive), ordered by
        cluster, namespace, kind, name, container, day and window."""
        where = usage_repo.UsageFilter(cluster, since, until, window, namespace)
        async with self._transaction("reading usage history") as c:
            return await usage_repo.read_usage(c, where)

    async def runs(self, cluster: str) -> list[CollectionRun]:
        """Collection records of ``cluster``, ordered by day and window (empty if unknown)."""
        async with self._transaction(f"reading the collection runs of cluster {cluster!r}") as c:
            return await runs_repo.read_runs(c, cluster)


async def _require_head(engine: AsyncEngine, url: str) -> None:
    head = await asyncio.to_thread(head_revision)
    try:
        async with engine.connect() as connection:
            current = await connection.run_sync(current_revision)
    except (DBAPIError, OSError) as exc:
        raise unreachable(url, exc) from exc
    if current == head:
        return
    if current is not None and not await asyncio.to_thread(known_revision, current):
        raise newer_than_code(url, current)
    raise _not_at_head(url, current, head)


async def _refuse_missing_sqlite_file(url: str, async_url: str) -> None:
    """Without an upgrade a new SQLite file would be empty: say so instead of creating it."""
    path = sqlite_file(async_url)
    if path is not None and not await asyncio.to_thread(path.exists):
        raise _not_at_head(url, None, await asyncio.to_thread(head_revision))


def _not_at_head(url: str, current: str | None, head: str) -> StoreError:
    return StoreError(
        f"database at {masked(url)} is at revision {current or 'none (empty)'}, kubecap needs {head}: "
        "run `kubecap db upgrade`"
    )


def _check_profiles(cluster: str, window: DailyWindow, profiles: Sequence[UsageProfile]) -> None:
    """Refuse rows that do not belong to the window being saved: that is a bug in the source."""
    seen: set[object] = set()
    for profile in profiles:
        if profile.workload.cluster != cluster or profile.day != window.day or profile.window != window.name:
            raise ValueError(
                f"profile {profile.workload}/{profile.container} of {profile.day} {profile.window} "
                f"does not belong to window {window.name} of {window.day} of cluster {cluster!r}"
            )
        key = profile.key()
        if key in seen:
            raise ValueError(f"profile {profile.workload}/{profile.container} appears twice in one window")
        seen.add(key)
