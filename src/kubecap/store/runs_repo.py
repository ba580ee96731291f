"""Collection runs: which windows of which days have been collected, and how it went.

A window counts as collected only through a 'complete' record written in the same
transaction as its rows; a later failure never takes that back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kubecap.domain.window import DailyWindow
from kubecap.store.schema import Cluster
from kubecap.store.schema import CollectionRunRow as RunRow
from kubecap.store.upsert import chunks, insert

FAILED_RETRY_PREFIX = "latest retry failed: "
_DAYS_PER_QUERY = 500


class RunStatus(StrEnum):
    COMPLETE = "complete"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CollectionRun:
    """The record of one collected (or failed) window of one cluster's day.

    ``started_at`` and ``finished_at`` are UTC and describe the latest attempt that the
    status reflects; ``message`` holds the warnings of a complete run or the reason of a
    failure (for a complete window whose retry failed, that retry's reason).
    """

    cluster: str
    day: date
    window: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime
    rows: int
    queries: int
    message: str


async def mark_complete(
    connection: AsyncConnection,
    cluster: int,
    window: DailyWindow,
    *,
    started_at: datetime,
    finished_at: datetime,
    rows: int,
    queries: int,
    message: str,
) -> None:
    statement = insert(connection, RunRow).values(
        cluster_id=cluster,
        day=window.day,
        window=window.name,
        status=RunStatus.COMPLETE.value,
        started_at=started_at,
        finished_at=finished_at,
        rows=rows,
        queries=queries,
        message=message,
    )
    new = statement.excluded
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[RunRow.cluster_id, RunRow.day, RunRow.window],
            set_={
                "status": new.status,
                "started_at": new.started_at,
                "finished_at": new.finished_at,
                "rows": new.rows,
                "queries": new.queries,
                "message": new.message,
            },
        )
    )


async def mark_failed(
    connection: AsyncConnection, cluster: int, window: DailyWindow, *, at: datetime, message: str
) -> None:
    """Record a failure; a window already complete stays complete and only keeps the reason."""
    statement = insert(connection, RunRow).values(
        cluster_id=cluster,
        day=window.day,
        window=window.name,
        status=RunStatus.FAILED.value,
        started_at=at,
        finished_at=at,
        rows=0,
        queries=0,
        message=message,
    )
    new = statement.excluded
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[RunRow.cluster_id, RunRow.day, RunRow.window],
            set_={
                "started_at": new.started_at,
                "finished_at": new.finished_at,
                "rows": new.rows,
                "queries": new.queries,
                "message": new.message,
            },
            where=RunRow.status != RunStatus.COMPLETE.value,
        )
    )
    await connection.execute(
        update(RunRow)
        .where(
            RunRow.cluster_id == cluster,
            RunRow.day == window.day,
            RunRow.window == window.name,
            RunRow.status == RunStatus.COMPLETE.value,
        )
        .values(message=FAILED_RETRY_PREFIX + message)
    )


async def completed(connection: AsyncConnection, cluster: str, days: Sequence[date]) -> set[tuple[date, str]]:
    found: set[tuple[date, str]] = set()
    for some_days in chunks(sorted(set(days)), _DAYS_PER_QUERY):
        result = await connection.execute(
            select(RunRow.day, RunRow.window)
            .join(Cluster, RunRow.cluster_id == Cluster.id)
            .where(
                Cluster.name == cluster,
                RunRow.status == RunStatus.COMPLETE.value,
                RunRow.day.in_(some_days),
            )
        )
        found.update((row.day, row.window) for row in result)
    return found


async def read_runs(connection: AsyncConnection, cluster: str) -> list[CollectionRun]:
    result = await connection.execute(
        select(Cluster.name.label("cluster"), *(c for c in RunRow.__table__.c if c.name != "cluster_id"))
        .join_from(RunRow, Cluster, RunRow.cluster_id == Cluster.id)
        .where(Cluster.name == cluster)
        .order_by(RunRow.day, RunRow.window)
    )
    return [
        CollectionRun(
            cluster=row["cluster"],
            day=row["day"],
            window=row["window"],
            status=RunStatus(row["status"]),
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            rows=row["rows"],
            queries=row["queries"],
            message=row["message"],
        )
        for row in result.mappings()
    ]
