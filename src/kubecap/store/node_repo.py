"""Statements for daily node figures (node_usage_daily), on a connection the caller owns.

Node rows are written by Store.save_window with the whole-day window they come from, so a
day's node rows and its completion mark commit together; idle-node detection reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from kubecap.domain.node import NodeUsage
from kubecap.store.schema import Cluster, NodeUsageDaily
from kubecap.store.upsert import chunks, insert

# 12 bound values per row: 1,000 rows stay under SQLite's and PostgreSQL's limits.
CHUNK_ROWS = 1000
FIGURES = (
    "pool",
    "cpu_p99",
    "mem_p99",
    "cpu_allocatable",
    "mem_allocatable",
    "cpu_requests",
    "mem_requests",
    "daemonset_only",
)
"""The non-key columns of node_usage_daily, named as the NodeUsage fields."""


@dataclass(frozen=True, slots=True)
class NodeFilter:
    cluster: str | None = None
    since: date | None = None
    until: date | None = None


def _float(value: float | None) -> float | None:
    # float() also turns numpy scalars into values every driver can bind.
    return None if value is None else float(value)


def _row(cluster_id: int, usage: NodeUsage) -> dict[str, Any]:
    return {
        "cluster_id": cluster_id,
        "node": usage.node,
        "day": usage.day,
        "pool": usage.pool,
        "cpu_p99": _float(usage.cpu_p99),
        "mem_p99": _float(usage.mem_p99),
        "cpu_allocatable": float(usage.cpu_allocatable),
        "mem_allocatable": float(usage.mem_allocatable),
        "cpu_requests": float(usage.cpu_requests),
        "mem_requests": float(usage.mem_requests),
        "daemonset_only": bool(usage.daemonset_only),
    }


async def upsert_nodes(connection: AsyncConnection, cluster_id: int, nodes: Sequence[NodeUsage]) -> int:
    """Insert the node rows, replacing every figure of rows that exist; returns the row count."""
    rows = [_row(cluster_id, n) for n in nodes]
    if not rows:
        return 0
    statement = insert(connection, NodeUsageDaily)
    upsert = statement.on_conflict_do_update(
        index_elements=[NodeUsageDaily.cluster_id, NodeUsageDaily.node, NodeUsageDaily.day],
        set_={name: statement.excluded[name] for name in FIGURES},
    )
    for chunk in chunks(rows, CHUNK_ROWS):
        await connection.execute(upsert, list(chunk))
    return len(rows)


async def read_nodes(connection: AsyncConnection, where: NodeFilter) -> list[NodeUsage]:
    """Stored node rows matching every given filter (days inclusive), by cluster, node and day."""
    query = (
        select(
            Cluster.name.label("cluster"),
            NodeUsageDaily.node,
            NodeUsageDaily.day,
            *(NodeUsageDaily.__table__.c[name] for name in FIGURES),
        )
        .join_from(NodeUsageDaily, Cluster, NodeUsageDaily.cluster_id == Cluster.id)
        .order_by(Cluster.name, NodeUsageDaily.node, NodeUsageDaily.day)
    )
    if where.cluster is not None:
        query = query.where(Cluster.name == where.cluster)
    if where.since is not None:
        query = query.where(NodeUsageDaily.day >= where.since)
    if where.until is not None:
        query = query.where(NodeUsageDaily.day <= where.until)
    result = await connection.execute(query)
    return [
        NodeUsage(
            cluster=row["cluster"],
            node=row["node"],
            day=row["day"],
            cpu_p99=row["cpu_p99"],
            mem_p99=row["mem_p99"],
            cpu_allocatable=row["cpu_allocatable"],
            mem_allocatable=row["mem_allocatable"],
            cpu_requests=row["cpu_requests"],
            mem_requests=row["mem_requests"],
            daemonset_only=bool(row["daemonset_only"]),
            pool=row["pool"],
        )
        for row in result.mappings()
    ]
