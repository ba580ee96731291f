"""Audit events and notification channels, on a connection the caller owns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kubecap.domain.audit import AuditEvent, AuditFilter, AuditResult
from kubecap.domain.notifications import Channel, EventKind
from kubecap.store.schema import AuditEventRow, NotificationChannelRow
from kubecap.store.upsert import insert


async def record(connection: AsyncConnection, event: AuditEvent) -> int:
    result = await connection.execute(
        insert(connection, AuditEventRow)
        .values(
            at=event.at,
            actor=event.actor,
            action=event.action,
            cluster=event.cluster,
            target=event.target,
            result=event.result.value,
            before=event.before,
            after=event.after,
            request_id=event.request_id,
            message=event.message,
        )
        .returning(AuditEventRow.id)
    )
    return int(result.scalar_one())


def _event(row: Row[Any]) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        cluster=row.cluster,
        target=row.target,
        result=AuditResult(row.result),
        before=row.before,
        after=row.after,
        request_id=row.request_id,
        message=row.message,
    )


async def query(connection: AsyncConnection, where: AuditFilter) -> list[AuditEvent]:
    statement = select(AuditEventRow).order_by(AuditEventRow.at, AuditEventRow.id)
    if where.since is not None:
        statement = statement.where(AuditEventRow.at >= where.since)
    if where.until is not None:
        statement = statement.where(AuditEventRow.at < where.until)
    for column, value in (
        (AuditEventRow.actor, where.actor),
        (AuditEventRow.action, where.action),
        (AuditEventRow.cluster, where.cluster),
        (AuditEventRow.result, where.result.value if where.result else None),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if where.target:
        statement = statement.where(AuditEventRow.target.contains(where.target, autoescape=True))
    # The newest ``limit`` events, returned oldest first.
    newest = (
        statement.order_by(None).order_by(AuditEventRow.at.desc(), AuditEventRow.id.desc()).limit(where.limit)
    )
    rows = list(await connection.execute(newest))
    return [_event(r) for r in reversed(rows)]


async def save_channel(connection: AsyncConnection, channel: Channel, now: datetime) -> None:
    statement = insert(connection, NotificationChannelRow).values(
        name=channel.name,
        urls=list(channel.urls),
        clusters=sorted(channel.clusters),
        events=sorted(e.value for e in channel.events),
        enabled=True,
        created_at=now,
    )
    new = statement.excluded
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[NotificationChannelRow.name],
            set_={"urls": new.urls, "clusters": new.clusters, "events": new.events, "enabled": True},
        )
    )


async def channels(connection: AsyncConnection) -> list[Channel]:
    rows = await connection.execute(
        select(NotificationChannelRow)
        .where(NotificationChannelRow.enabled.is_(True))
        .order_by(NotificationChannelRow.name)
    )
    return [
        Channel(
            name=row.name,
            urls=tuple(row.urls),
            clusters=frozenset(row.clusters),
            events=frozenset(EventKind(e) for e in row.events),
        )
        for row in rows
    ]


async def delete_channel(connection: AsyncConnection, name: str) -> bool:
    from sqlalchemy import delete

    result = await connection.execute(
        delete(NotificationChannelRow).where(NotificationChannelRow.name == name)
    )
    return bool(result.rowcount)
