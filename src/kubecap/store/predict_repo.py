"""Predictive-replicas policies and the controller's state, on a connection the caller owns.

The store keeps a policy as the JSON document kubecap.predict validated and wrote; it
neither reads nor checks its fields (the predict package owns their meaning).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.store.schema import PredictPolicyRow
from kubecap.store.upsert import insert


@dataclass(frozen=True, slots=True)
class PredictRecord:
    ref: WorkloadRef
    policy: dict[str, Any]
    state: dict[str, Any]
    updated_at: datetime
    updated_by: str


def _where(ref: WorkloadRef) -> list[Any]:
    t = PredictPolicyRow
    return [
        t.cluster == ref.cluster,
        t.namespace == ref.namespace,
        t.kind == ref.kind.value,
        t.name == ref.name,
    ]


async def read(connection: AsyncConnection, cluster: str | None) -> list[PredictRecord]:
    t = PredictPolicyRow
    statement = select(t).order_by(t.cluster, t.namespace, t.kind, t.name)
    if cluster is not None:
        statement = statement.where(t.cluster == cluster)
    rows = (await connection.execute(statement)).all()
    return [
        PredictRecord(
            WorkloadRef(r.cluster, r.namespace, WorkloadKind(r.kind), r.name),
            dict(r.policy),
            dict(r.state),
            r.updated_at,
            r.updated_by,
        )
        for r in rows
    ]


async def save(
    connection: AsyncConnection, ref: WorkloadRef, policy: dict[str, Any], now: datetime, actor: str
) -> None:
    """Insert or replace the policy; the state is kept (the HPA minimum found before stays known)."""
    statement = insert(connection, PredictPolicyRow).values(
        cluster=ref.cluster,
        namespace=ref.namespace,
        kind=ref.kind.value,
        name=ref.name,
        policy=policy,
        state={},
        updated_at=now,
        updated_by=actor,
    )
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=["cluster", "namespace", "kind", "name"],
            set_={"policy": policy, "updated_at": now, "updated_by": actor},
        )
    )


async def save_state(connection: AsyncConnection, ref: WorkloadRef, state: dict[str, Any]) -> bool:
    result = await connection.execute(update(PredictPolicyRow).where(*_where(ref)).values(state=state))
    return bool(result.rowcount)


async def remove(connection: AsyncConnection, ref: WorkloadRef) -> bool:
    result = await connection.execute(delete(PredictPolicyRow).where(*_where(ref)))
    return bool(result.rowcount)
