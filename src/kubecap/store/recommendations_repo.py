"""Statements the recommender needs: usage history read as columns, and the recommendations table.

The recommender reads every container's daily rows at once (10,000 containers × 30 days ×
2 windows is 600,000 rows), so the history is streamed in partitions straight into arrays
(kubecap.domain.usage_columns) instead of one UsageProfile object per row. Recommendations
are upserted per (workload, container, strategy): the latest run of a strategy replaces
its previous rows.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kubecap.domain.container import ContainerRef
from kubecap.domain.recommendation import (
    Bounds,
    Recommendation,
    ReplicaAdvice,
    Resources,
    Risk,
    Savings,
    Status,
)
from kubecap.domain.usage import UsageProfile
from kubecap.domain.usage_columns import UsageColumns
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.errors import NotFoundError
from kubecap.store.schema import Cluster, RecommendationRow, UsageDaily, Workload
from kubecap.store.upsert import chunks, insert
from kubecap.store.usage_repo import UsageFilter

# Rows per partition of the streamed history: bounds the Python objects alive at once.
PARTITION_ROWS = 50_000
# Rows per insert statement: 500 rows × 42 columns stay under SQLite's 32,766 bound values.
CHUNK_ROWS = 500

_KEY_COLUMNS = ("workload_id", "container", "strategy")


def _workload_query(where: UsageFilter) -> Select[int, str, str, str, str]:
    query = select(Workload.id, Cluster.name, Workload.namespace, Workload.kind, Workload.name).join(
        Cluster, Workload.cluster_id == Cluster.id
    )
    if where.cluster is not None:
        query = query.where(Cluster.name == where.cluster)
    if where.namespace is not None:
        query = query.where(Workload.namespace == where.namespace)
    return query


async def read_usage_columns(
    connection: AsyncConnection, where: UsageFilter, windows: Sequence[str] | None, figures: Sequence[str]
) -> UsageColumns:
    """Rows matching ``where`` (and ``windows`` when given) with the ``figures`` asked for."""
    unknown = set(figures) - set(UsageProfile.figure_names())
    if unknown:
        raise ValueError(f"unknown usage figures {sorted(unknown)}")
    refs = {
        row[0]: WorkloadRef(row[1], row[2], WorkloadKind(row[3]), row[4])
        for row in await connection.execute(_workload_query(where))
    }
    query = select(
        UsageDaily.workload_id,
        UsageDaily.container,
        UsageDaily.day,
        UsageDaily.window,
        *(UsageDaily.__table__.c[name] for name in figures),
    ).join(Workload, UsageDaily.workload_id == Workload.id)
    if where.cluster is not None:
        query = query.join(Cluster, Workload.cluster_id == Cluster.id).where(Cluster.name == where.cluster)
    if where.namespace is not None:
        query = query.where(Workload.namespace == where.namespace)
    if windows is not None:
        query = query.where(UsageDaily.window.in_(list(windows)))
    if where.since is not None:
        query = query.where(UsageDaily.day >= where.since)
    if where.until is not None:
        query = query.where(UsageDaily.day <= where.until)

    containers: dict[tuple[int, str], int] = {}
    window_index: dict[str, int] = {}
    parts: dict[str, list[np.ndarray[Any, Any]]] = {"container": [], "day": [], "window": [], "figures": []}
    async for partition in _driver_rows(connection, query):
        n = len(partition)
        keys = (containers.setdefault((r[0], r[1]), len(containers)) for r in partition)
        parts["container"].append(np.fromiter(keys, np.int64, n))
        names = (window_index.setdefault(r[3], len(window_index)) for r in partition)
        parts["window"].append(np.fromiter(names, np.int64, n))
        # SQLite hands days back as ISO text, PostgreSQL as dates: numpy reads both.
        parts["day"].append(np.array([r[2] for r in partition], dtype="datetime64[D]"))
        # None becomes NaN in a float array.
        values = np.array([r[4:] for r in partition], dtype=float)
        parts["figures"].append(values.reshape(n, len(figures)))
    if not parts["container"]:
        return UsageColumns.empty(tuple(figures))
    matrix = np.concatenate(parts["figures"])
    return UsageColumns(
        containers=tuple(ContainerRef(refs[w], c) for w, c in containers),
        container=np.concatenate(parts["container"]),
        day=np.concatenate(parts["day"]),
        windows=tuple(window_index),
        window=np.concatenate(parts["window"]),
        figures={name: np.ascontiguousarray(matrix[:, i]) for i, name in enumerate(figures)},
    )


async def _driver_rows(
    connection: AsyncConnection, query: Select[Any]
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """The rows of ``query`` as the driver's plain tuples, in partitions, inside the open transaction.

    SQLAlchemy's result rows and type processing cost about twice the driver's own fetch on
    600,000 rows; both drivers (aiosqlite, psycopg) offer ``await execute(sql)`` and
    ``await fetchmany(n)``. The values are bound as literals (dates and Kubernetes names,
    quoted by the dialect), so no paramstyle differences arise.
    """
    sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    cursor = await driver.execute(sql)
    try:
        while True:
            rows = await cursor.fetchmany(PARTITION_ROWS)
            if not rows:
                return
            yield rows
    finally:
        await cursor.close()


async def usage_span(connection: AsyncConnection, cluster: str | None) -> tuple[date, date] | None:
    """The first and last day with stored usage (of ``cluster``, or of every cluster)."""
    query = select(func.min(UsageDaily.day), func.max(UsageDaily.day))
    if cluster is not None:
        query = (
            query.join(Workload, UsageDaily.workload_id == Workload.id)
            .join(Cluster, Workload.cluster_id == Cluster.id)
            .where(Cluster.name == cluster)
        )
    first, last = (await connection.execute(query)).one()
    if first is None or last is None:
        return None
    return first, last


async def workload_ids(connection: AsyncConnection, refs: Sequence[WorkloadRef]) -> dict[WorkloadRef, int]:
    """Ids of the workloads among ``refs`` that the store knows."""
    wanted = set(refs)
    found: dict[WorkloadRef, int] = {}
    # A cluster's workloads are few enough (thousands) to read whole and match here.
    for cluster in sorted({ref.cluster for ref in wanted}):
        result = await connection.execute(
            select(Workload.id, Workload.namespace, Workload.kind, Workload.name)
            .join(Cluster, Workload.cluster_id == Cluster.id)
            .where(Cluster.name == cluster)
        )
        for row in result:
            ref = WorkloadRef(cluster, row.namespace, WorkloadKind(row.kind), row.name)
            if ref in wanted:
                found[ref] = row.id
    return found


def _row(workload_id: int, rec: Recommendation) -> dict[str, Any]:
    advice = rec.replicas
    row: dict[str, Any] = {
        "workload_id": workload_id,
        "container": rec.ref.container,
        "strategy": rec.strategy,
        "computed_at": rec.computed_at,
        "status": rec.status.value,
        "settings": json.dumps(rec.settings, sort_keys=True),
        "window": rec.window,
        "first_day": rec.first_day,
        "last_day": rec.last_day,
        "days": rec.days,
        "confidence": float(rec.confidence),
        "explanation": rec.explanation,
        "savings_cpu_core_hours": rec.savings.cpu_core_hours,
        "savings_mem_gib_hours": rec.savings.mem_gib_hours,
        "savings_usd": rec.savings.usd,
        "risk_cpu_time_above_request": rec.risk.cpu_time_above_request,
        "risk_mem_days_above_request": rec.risk.mem_days_above_request,
        "risk_mem_days_above_limit": rec.risk.mem_days_above_limit,
        "risk_days": rec.risk.days,
        "risk_throttle_max": rec.risk.throttle_max,
        "risk_oom_kills": rec.risk.oom_kills,
        "replicas_current": advice.current if advice else None,
        "replicas": advice.replicas if advice else None,
        "hpa_min_replicas": advice.hpa_min if advice else None,
        "hpa_max_replicas": advice.hpa_max if advice else None,
        "replicas_explanation": advice.explanation if advice else None,
        "cpu_low": rec.bounds.cpu_low,
        "cpu_high": rec.bounds.cpu_high,
        "mem_low": rec.bounds.mem_low,
        "mem_high": rec.bounds.mem_high,
    }
    for name, value in rec.target.values().items():
        row[name] = value
    for name, value in rec.current.values().items():
        row[f"current_{name}"] = value
    return row


async def upsert_recommendations(
    connection: AsyncConnection, recommendations: Sequence[Recommendation]
) -> int:
    """Insert or replace the rows; every workload must be known to the store (NotFoundError otherwise)."""
    if not recommendations:
        return 0
    ids = await workload_ids(connection, [r.ref.workload for r in recommendations])
    missing = sorted({r.ref.workload for r in recommendations} - set(ids))
    if missing:
        raise NotFoundError(
            f"workload {missing[0]} has no usage history in this store, so its recommendation cannot be "
            "stored: collect its usage first (kubecap collect)"
        )
    rows = [_row(ids[r.ref.workload], r) for r in recommendations]
    statement = insert(connection, RecommendationRow)
    columns = [c.name for c in RecommendationRow.__table__.columns if c.name not in _KEY_COLUMNS]
    upsert = statement.on_conflict_do_update(
        index_elements=[getattr(RecommendationRow, name) for name in _KEY_COLUMNS],
        set_={name: statement.excluded[name] for name in columns},
    )
    for chunk in chunks(rows, CHUNK_ROWS):
        await connection.execute(upsert, list(chunk))
    return len(rows)


def _recommendation(row: Any) -> Recommendation:
    ref = WorkloadRef(row["cluster"], row["namespace"], WorkloadKind(row["kind"]), row["name"])
    advice_columns = ("replicas_current", "replicas", "hpa_min_replicas", "hpa_max_replicas")
    has_advice = any(row[name] is not None for name in advice_columns) or bool(row["replicas_explanation"])
    return Recommendation(
        ref=ContainerRef(ref, row["container"]),
        strategy=row["strategy"],
        settings=json.loads(row["settings"]),
        computed_at=row["computed_at"],
        window=row["window"],
        first_day=row["first_day"],
        last_day=row["last_day"],
        days=row["days"],
        status=Status(row["status"]),
        target=Resources(**{name: row[name] for name in Resources.FIELDS}),
        current=Resources(**{name: row[f"current_{name}"] for name in Resources.FIELDS}),
        bounds=Bounds(row["cpu_low"], row["cpu_high"], row["mem_low"], row["mem_high"]),
        confidence=row["confidence"],
        explanation=row["explanation"],
        savings=Savings(row["savings_cpu_core_hours"], row["savings_mem_gib_hours"], row["savings_usd"]),
        risk=Risk(
            cpu_time_above_request=row["risk_cpu_time_above_request"],
            mem_days_above_request=row["risk_mem_days_above_request"],
            mem_days_above_limit=row["risk_mem_days_above_limit"],
            days=row["risk_days"],
            throttle_max=row["risk_throttle_max"],
            oom_kills=row["risk_oom_kills"],
        ),
        replicas=ReplicaAdvice(
            current=row["replicas_current"],
            replicas=row["replicas"],
            hpa_min=row["hpa_min_replicas"],
            hpa_max=row["hpa_max_replicas"],
            explanation=row["replicas_explanation"] or "",
        )
        if has_advice
        else None,
    )


async def read_recommendations(
    connection: AsyncConnection, *, cluster: str | None, strategy: str | None, namespace: str | None
) -> list[Recommendation]:
    """Stored recommendations ordered by cluster, namespace, kind, name, container and strategy."""
    query = (
        select(
            Cluster.name.label("cluster"),
            Workload.namespace,
            Workload.kind,
            Workload.name,
            *(c for c in RecommendationRow.__table__.c if c.name != "workload_id"),
        )
        .join_from(RecommendationRow, Workload, RecommendationRow.workload_id == Workload.id)
        .join(Cluster, Workload.cluster_id == Cluster.id)
        .order_by(
            Cluster.name,
            Workload.namespace,
            Workload.kind,
            Workload.name,
            RecommendationRow.container,
            RecommendationRow.strategy,
        )
    )
    if cluster is not None:
        query = query.where(Cluster.name == cluster)
    if strategy is not None:
        query = query.where(RecommendationRow.strategy == strategy)
    if namespace is not None:
        query = query.where(Workload.namespace == namespace)
    result = await connection.execute(query)
    return [_recommendation(row) for row in result.mappings()]
