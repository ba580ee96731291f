"""Statements for clusters, workloads and daily usage rows, on a connection the caller owns.

The caller (kubecap.store.Store) decides the transaction; these functions only read and
write, and translate between rows and domain types.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Select, case, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kubecap.domain.usage import UsageProfile
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.store.schema import FIGURE_COLUMNS, Cluster, UsageDaily, Workload
from kubecap.store.upsert import chunks, insert

# Rows per statement: 1,000 usage rows are ~24,000 bound values, under SQLite's 32,766 and
# PostgreSQL's 65,535 limits, and keep a 50,000-row window to 50 round trips.
CHUNK_ROWS = 1000

WorkloadKey = tuple[str, str, str]
"""(namespace, kind, name) of a workload inside one cluster."""


@dataclass(frozen=True, slots=True)
class UsageFilter:
    cluster: str | None = None
    since: date | None = None
    until: date | None = None
    window: str | None = None
    namespace: str | None = None


async def cluster_id(connection: AsyncConnection, name: str) -> int | None:
    return await connection.scalar(select(Cluster.id).where(Cluster.name == name))


async def ensure_cluster(connection: AsyncConnection, name: str) -> int:
    """The id of cluster ``name``, created if new (the statement is a write, see Store)."""
    statement = insert(connection, Cluster).values(name=name, created_at=datetime.now(UTC))
    await connection.execute(statement.on_conflict_do_nothing(index_elements=[Cluster.name]))
    found = await cluster_id(connection, name)
    if found is None:  # pragma: no cover - the row was written just above
        raise RuntimeError(f"cluster {name!r} vanished inside its own transaction")
    return found


async def ensure_workloads(
    connection: AsyncConnection,
    cluster: int,
    refs: Iterable[WorkloadRef],
    seen_from: datetime,
    seen_until: datetime,
) -> dict[WorkloadKey, int]:
    """Ids of the workloads, created if new; their seen span is widened to cover the window."""
    params = [
        {
            "cluster_id": cluster,
            "namespace": ref.namespace,
            "kind": ref.kind.value,
            "name": ref.name,
            "first_seen": seen_from,
            "last_seen": seen_until,
        }
        for ref in sorted(set(refs))
    ]
    ids: dict[WorkloadKey, int] = {}
    if not params:
        return ids
    statement = insert(connection, Workload)
    new = statement.excluded
    statement_returning = statement.on_conflict_do_update(
        index_elements=[Workload.cluster_id, Workload.namespace, Workload.kind, Workload.name],
        set_={
            # Windows may be collected out of order (backfills), so widen rather than overwrite.
            "first_seen": case(
                (new.first_seen < Workload.first_seen, new.first_seen), else_=Workload.first_seen
            ),
            "last_seen": case((new.last_seen > Workload.last_seen, new.last_seen), else_=Workload.last_seen),
        },
    ).returning(Workload.id, Workload.namespace, Workload.kind, Workload.name)
    for chunk in chunks(params, CHUNK_ROWS):
        result = await connection.execute(statement_returning, list(chunk))
        for row in result:
            ids[(row.namespace, row.kind, row.name)] = row.id
    return ids


def _key(ref: WorkloadRef) -> WorkloadKey:
    return (ref.namespace, ref.kind.value, ref.name)


def _row(workload_id: int, profile: UsageProfile) -> dict[str, Any]:
    row: dict[str, Any] = {
        "workload_id": workload_id,
        "container": profile.container,
        "day": profile.day,
        "window": profile.window,
    }
    for name in FIGURE_COLUMNS:
        value = getattr(profile, name)
        # float()/int() also turn numpy scalars into values every driver can bind.
        row[name] = int(value) if name == "samples" else (None if value is None else float(value))
    return row


async def upsert_usage(
    connection: AsyncConnection, workload_ids: dict[WorkloadKey, int], profiles: list[UsageProfile]
) -> int:
    """Insert the rows, replacing every figure of rows that exist; returns the row count."""
    rows = [
        _row(workload_ids[(p.workload.namespace, p.workload.kind.value, p.workload.name)], p)
        for p in profiles
    ]
    if not rows:
        return 0
    statement = insert(connection, UsageDaily)
    statement_upsert = statement.on_conflict_do_update(
        index_elements=[UsageDaily.workload_id, UsageDaily.container, UsageDaily.day, UsageDaily.window],
        set_={name: statement.excluded[name] for name in FIGURE_COLUMNS},
    )
    for chunk in chunks(rows, CHUNK_ROWS):
        await connection.execute(statement_upsert, list(chunk))
    return len(rows)


async def cluster_names(connection: AsyncConnection) -> list[str]:
    return list((await connection.scalars(select(Cluster.name).order_by(Cluster.name))).all())


def _usage_query(where: UsageFilter) -> Select[Any]:
    query = (
        select(
            Cluster.name.label("cluster"),
            Workload.namespace,
            Workload.kind,
            Workload.name,
            UsageDaily.container,
            UsageDaily.day,
            UsageDaily.window,
            *(UsageDaily.__table__.c[name] for name in FIGURE_COLUMNS),
        )
        .join_from(UsageDaily, Workload, UsageDaily.workload_id == Workload.id)
        .join(Cluster, Workload.cluster_id == Cluster.id)
        .order_by(
            Cluster.name,
            Workload.namespace,
            Workload.kind,
            Workload.name,
            UsageDaily.container,
            UsageDaily.day,
            UsageDaily.window,
        )
    )
    if where.cluster is not None:
        query = query.where(Cluster.name == where.cluster)
    if where.namespace is not None:
        query = query.where(Workload.namespace == where.namespace)
    if where.window is not None:
        query = query.where(UsageDaily.window == where.window)
    if where.since is not None:
        query = query.where(UsageDaily.day >= where.since)
    if where.until is not None:
        query = query.where(UsageDaily.day <= where.until)
    return query


async def read_usage(connection: AsyncConnection, where: UsageFilter) -> list[UsageProfile]:
    result = await connection.execute(_usage_query(where))
    profiles = []
    for row in result.mappings():
        ref = WorkloadRef(row["cluster"], row["namespace"], WorkloadKind(row["kind"]), row["name"])
        figures = {name: row[name] for name in FIGURE_COLUMNS}
        profiles.append(UsageProfile(ref, row["container"], row["day"], row["window"], **figures))
    return profiles
