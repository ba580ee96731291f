"""The control table, its history, namespace policies and the revision counter, on a connection the caller owns.

Every change of a spec or a policy writes its history row and bumps the single revision
counter in the caller's transaction, so a webhook that sees a new revision is guaranteed
to read the change with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Row, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kubecap.domain.audit import AuditEvent
from kubecap.domain.control import (
    ContainerSpec,
    ControlSpec,
    Enforcement,
    Failure,
    NamespacePolicy,
    ReplicasMode,
    SpecVersion,
    Unmanaged,
)
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.store.schema import (
    ControlRevisionRow,
    ControlSpecRow,
    ControlSpecVersionRow,
    NamespacePolicyRow,
)
from kubecap.store.upsert import chunks, insert

_REVISION_ID = 1


def _where(table: Any, ref: WorkloadRef) -> list[Any]:
    return [
        table.cluster == ref.cluster,
        table.namespace == ref.namespace,
        table.kind == ref.kind.value,
        table.name == ref.name,
    ]


def _spec(row: Row[Any]) -> ControlSpec:
    return ControlSpec(
        ref=WorkloadRef(row.cluster, row.namespace, WorkloadKind(row.kind), row.name),
        replicas_mode=ReplicasMode(row.replicas_mode),
        replicas=row.replicas,
        containers=tuple(ContainerSpec.from_dict(c) for c in row.containers),
        source=row.source,
    )


async def bump_revision(connection: AsyncConnection, now: datetime) -> int:
    statement = insert(connection, ControlRevisionRow).values(id=_REVISION_ID, version=1, changed_at=now)
    result = await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[ControlRevisionRow.id],
            set_={"version": ControlRevisionRow.__table__.c.version + 1, "changed_at": now},
        ).returning(ControlRevisionRow.version)
    )
    return int(result.scalar_one())


async def revision(connection: AsyncConnection) -> int:
    result = await connection.execute(
        select(ControlRevisionRow.version).where(ControlRevisionRow.id == _REVISION_ID)
    )
    return int(result.scalar_one_or_none() or 0)


async def read_specs(
    connection: AsyncConnection, cluster: str | None, namespace: str | None = None
) -> list[ControlSpec]:
    query = select(ControlSpecRow).order_by(
        ControlSpecRow.cluster, ControlSpecRow.namespace, ControlSpecRow.kind, ControlSpecRow.name
    )
    if cluster is not None:
        query = query.where(ControlSpecRow.cluster == cluster)
    if namespace is not None:
        query = query.where(ControlSpecRow.namespace == namespace)
    return [_spec(row) for row in await connection.execute(query)]


async def get_spec(connection: AsyncConnection, ref: WorkloadRef) -> tuple[ControlSpec, int] | None:
    row = (await connection.execute(select(ControlSpecRow).where(*_where(ControlSpecRow, ref)))).first()
    return None if row is None else (_spec(row), int(row.version))


async def _history(
    connection: AsyncConnection,
    ref: WorkloadRef,
    version: int,
    spec: ControlSpec | None,
    now: datetime,
    actor: str,
    reason: str,
) -> None:
    await connection.execute(
        insert(connection, ControlSpecVersionRow).values(
            cluster=ref.cluster,
            namespace=ref.namespace,
            kind=ref.kind.value,
            name=ref.name,
            version=version,
            removed=spec is None,
            replicas_mode=spec.replicas_mode.value if spec else None,
            replicas=spec.replicas if spec else None,
            containers=[c.to_dict() for c in spec.containers] if spec else None,
            source=spec.source if spec else "",
            changed_at=now,
            changed_by=actor,
            reason=reason,
        )
    )


async def _last_version(connection: AsyncConnection, ref: WorkloadRef) -> int:
    result = await connection.execute(
        select(ControlSpecVersionRow.version)
        .where(*_where(ControlSpecVersionRow, ref))
        .order_by(ControlSpecVersionRow.version.desc())
        .limit(1)
    )
    return int(result.scalar_one_or_none() or 0)


async def save_spec(
    connection: AsyncConnection,
    spec: ControlSpec,
    *,
    now: datetime,
    actor: str,
    reason: str,
    only_new: bool = False,
) -> int | None:
    """Insert or replace the spec and record its new version; None when ``only_new`` and it exists."""
    ref = spec.ref
    current = await get_spec(connection, ref)
    if current is not None and only_new:
        return None
    # Versions continue after a removal, so history never repeats a version number.
    version = await _last_version(connection, ref) + 1
    values = {
        "replicas_mode": spec.replicas_mode.value,
        "replicas": spec.replicas,
        "containers": [c.to_dict() for c in spec.containers],
        "source": spec.source,
        "version": version,
        "updated_at": now,
        "updated_by": actor,
        "reason": reason,
    }
    if current is None:
        await connection.execute(
            insert(connection, ControlSpecRow).values(
                cluster=ref.cluster, namespace=ref.namespace, kind=ref.kind.value, name=ref.name, **values
            )
        )
    else:
        await connection.execute(update(ControlSpecRow).where(*_where(ControlSpecRow, ref)).values(**values))
    await _history(connection, ref, version, spec, now, actor, reason)
    return version


async def remove_spec(
    connection: AsyncConnection, ref: WorkloadRef, *, now: datetime, actor: str, reason: str
) -> bool:
    result = await connection.execute(delete(ControlSpecRow).where(*_where(ControlSpecRow, ref)))
    if not result.rowcount:
        return False
    await _history(connection, ref, await _last_version(connection, ref) + 1, None, now, actor, reason)
    return True


async def history(connection: AsyncConnection, ref: WorkloadRef, limit: int = 100) -> list[SpecVersion]:
    rows = await connection.execute(
        select(ControlSpecVersionRow)
        .where(*_where(ControlSpecVersionRow, ref))
        .order_by(ControlSpecVersionRow.version.desc())
        .limit(limit)
    )
    found = []
    for row in rows:
        spec = (
            None
            if row.removed
            else ControlSpec(
                ref=ref,
                replicas_mode=ReplicasMode(row.replicas_mode),
                replicas=row.replicas,
                containers=tuple(ContainerSpec.from_dict(c) for c in row.containers or []),
                source=row.source,
            )
        )
        found.append(SpecVersion(ref, row.version, spec, row.changed_at, row.changed_by, row.reason))
    return list(reversed(found))


def _policy(row: Row[Any]) -> NamespacePolicy:
    return NamespacePolicy(
        cluster=row.cluster,
        namespace=row.namespace,
        enforcement=Enforcement(row.enforcement),
        unmanaged=Unmanaged(row.unmanaged),
        failure=Failure(row.failure),
    )


async def read_policies(connection: AsyncConnection, cluster: str | None) -> list[NamespacePolicy]:
    query = select(NamespacePolicyRow).order_by(NamespacePolicyRow.cluster, NamespacePolicyRow.namespace)
    if cluster is not None:
        query = query.where(NamespacePolicyRow.cluster == cluster)
    return [_policy(row) for row in await connection.execute(query)]


async def save_policy(
    connection: AsyncConnection, policy: NamespacePolicy, *, now: datetime, actor: str
) -> None:
    statement = insert(connection, NamespacePolicyRow).values(
        cluster=policy.cluster,
        namespace=policy.namespace,
        enforcement=policy.enforcement.value,
        unmanaged=policy.unmanaged.value,
        failure=policy.failure.value,
        updated_at=now,
        updated_by=actor,
    )
    new = statement.excluded
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[NamespacePolicyRow.cluster, NamespacePolicyRow.namespace],
            set_={
                "enforcement": new.enforcement,
                "unmanaged": new.unmanaged,
                "failure": new.failure,
                "updated_at": new.updated_at,
                "updated_by": new.updated_by,
            },
        )
    )


async def remove_policy(connection: AsyncConnection, cluster: str, namespace: str) -> bool:
    result = await connection.execute(
        delete(NamespacePolicyRow).where(
            NamespacePolicyRow.cluster == cluster, NamespacePolicyRow.namespace == namespace
        )
    )
    return bool(result.rowcount)


async def record_audits(connection: AsyncConnection, events: Sequence[AuditEvent]) -> None:
    """Many audit events in a few statements (the webhook's batches; audit_repo.record does one).

    The webhook writes a row per mutation, a thousand a second under load, so this skips the
    ORM's per-row bind processing (about two thirds of the webhook's audit cost) and hands the
    driver ready values: the same text SQLAlchemy would store on SQLite (its DATETIME format,
    JSON ``null`` for None), an aware datetime on PostgreSQL; JSON by orjson (compact, not
    stdlib's spacing: the same values read back). tests/store/test_audit_batch.py holds both
    paths to reading back identical events.
    """
    if not events:
        return
    if connection.dialect.name == "sqlite":
        # Only SQLite URLs of the "file:" URI form come here; plain files go through store/sqlite_audit.py.
        await connection.exec_driver_sql(AUDIT_INSERT_SQLITE, sqlite_audit_rows(events))
        return
    rows = [_audit_row(e, False) for e in events]
    for chunk in chunks(rows, 500):
        await connection.exec_driver_sql(_AUDIT_INSERT_POSTGRESQL, list(chunk))


# Literal statements, columns as SQLAlchemy quotes them (SQLite knows BEFORE and AFTER as keywords).
_AUDIT_INSERT = (
    'INSERT INTO audit_events (at, actor, action, cluster, target, result, "before", "after", request_id, '
    "message) VALUES "
)
_AUDIT_INSERT_POSTGRESQL = (
    _AUDIT_INSERT + "(%s, %s, %s, %s, %s, %s, CAST(%s AS JSON), CAST(%s AS JSON), %s, %s)"
)
# One row's statement, run as an executemany (store/sqlite_audit.py; the engine for "file:" URIs).
AUDIT_INSERT_SQLITE = _AUDIT_INSERT + "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def sqlite_audit_rows(events: Sequence[AuditEvent]) -> list[tuple[Any, ...]]:
    """The values of ``AUDIT_INSERT_SQLITE`` for ``events``, as the ORM would store them on SQLite.

    Raises ValueError for a naive timestamp, before anything is written.
    """
    return [_audit_row(e, True) for e in events]


def _audit_row(event: AuditEvent, sqlite: bool) -> tuple[Any, ...]:
    at = event.at
    if at.tzinfo is None:  # as UtcDateTime refuses it
        raise ValueError(f"naive datetime {at.isoformat()} given to the store: pass an aware datetime")
    at = at.astimezone(UTC)
    return (
        # SQLAlchemy's SQLite DATETIME text, always with microseconds: rows sort and filter as text.
        at.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else at,
        event.actor,
        event.action,
        event.cluster,
        event.target,
        event.result.value,
        orjson.dumps(event.before).decode(),
        orjson.dumps(event.after).decode(),
        event.request_id,
        event.message,
    )
