"""Leader leases in the database: one row per lease name, taken by whoever finds it free.

A claim is one statement that only succeeds when the row is ours or expired (an UPDATE with
that condition, or an INSERT that does nothing on conflict), so two contenders can never
both hold it: PostgreSQL re-checks the condition of a concurrent UPDATE against the row it
waited for, SQLite writes one transaction at a time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kubecap.store.schema import LeaderLeaseRow
from kubecap.store.upsert import insert


async def acquire(
    connection: AsyncConnection, name: str, holder: str, *, now: datetime, until: datetime
) -> bool:
    """Take or renew lease ``name`` for ``holder`` until ``until``; False while another holds it."""
    renewed = await connection.execute(
        update(LeaderLeaseRow)
        .where(LeaderLeaseRow.name == name)
        .where(
            or_(
                LeaderLeaseRow.holder == holder,
                LeaderLeaseRow.holder == "",
                LeaderLeaseRow.expires_at <= now,
            )
        )
        .values(holder=holder, expires_at=until, renewed_at=now)
        .returning(LeaderLeaseRow.name)
    )
    # RETURNING rather than rowcount: drivers disagree on the rowcount of ON CONFLICT DO NOTHING.
    if renewed.first() is not None:
        return True
    created = await connection.execute(
        insert(connection, LeaderLeaseRow)
        .values(name=name, holder=holder, expires_at=until, renewed_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(LeaderLeaseRow.name)
    )
    return created.first() is not None


async def release(connection: AsyncConnection, name: str, holder: str, *, now: datetime) -> None:
    """Give lease ``name`` up if ``holder`` holds it (the next contender need not wait for the expiry)."""
    await connection.execute(
        update(LeaderLeaseRow)
        .where(LeaderLeaseRow.name == name, LeaderLeaseRow.holder == holder)
        .values(holder="", expires_at=now)
    )
