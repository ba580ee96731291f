"""Price overrides, login failures and OIDC sign-in state, on a connection the caller owns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kubecap.store.schema import LoginFailureRow, OidcIdentityRow, OidcLoginRow, PriceOverrideRow
from kubecap.store.upsert import insert


@dataclass(frozen=True, slots=True)
class PriceOverride:
    scope: str  # "cluster" or "pool"
    name: str
    cpu_price: float
    memory_price: float
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True, slots=True)
class PendingOidcLogin:
    nonce: str
    verifier: str
    expires_at: datetime


async def price_overrides(connection: AsyncConnection) -> list[PriceOverride]:
    rows = await connection.execute(
        select(PriceOverrideRow.__table__).order_by(PriceOverrideRow.scope, PriceOverrideRow.name)
    )
    return [
        PriceOverride(r.scope, r.name, r.cpu_price, r.memory_price, r.updated_at, r.updated_by) for r in rows
    ]


async def save_price(connection: AsyncConnection, price: PriceOverride) -> None:
    statement = insert(connection, PriceOverrideRow).values(
        scope=price.scope,
        name=price.name,
        cpu_price=price.cpu_price,
        memory_price=price.memory_price,
        updated_at=price.updated_at,
        updated_by=price.updated_by,
    )
    new = statement.excluded
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[PriceOverrideRow.scope, PriceOverrideRow.name],
            set_={
                "cpu_price": new.cpu_price,
                "memory_price": new.memory_price,
                "updated_at": new.updated_at,
                "updated_by": new.updated_by,
            },
        )
    )


async def delete_price(connection: AsyncConnection, scope: str, name: str) -> bool:
    result = await connection.execute(
        delete(PriceOverrideRow).where(PriceOverrideRow.scope == scope, PriceOverrideRow.name == name)
    )
    return bool(result.rowcount)


async def recent_failures(connection: AsyncConnection, key: str, since: datetime) -> list[datetime]:
    """The failures of ``key`` since ``since``, oldest first (older ones are deleted on the way)."""
    await connection.execute(delete(LoginFailureRow).where(LoginFailureRow.at < since))
    rows = await connection.execute(
        select(LoginFailureRow.at).where(LoginFailureRow.key == key).order_by(LoginFailureRow.at)
    )
    return list(rows.scalars())


async def add_failure(connection: AsyncConnection, key: str, at: datetime) -> None:
    await connection.execute(insert(connection, LoginFailureRow).values(key=key, at=at))


async def clear_failures(connection: AsyncConnection, key: str) -> None:
    await connection.execute(delete(LoginFailureRow).where(LoginFailureRow.key == key))


async def add_oidc_login(
    connection: AsyncConnection, state: str, nonce: str, verifier: str, expires_at: datetime
) -> None:
    await connection.execute(
        insert(connection, OidcLoginRow).values(
            state=state, nonce=nonce, verifier=verifier, expires_at=expires_at
        )
    )


async def take_oidc_login(connection: AsyncConnection, state: str, now: datetime) -> PendingOidcLogin | None:
    """The pending login of this state digest, removed so it can be used once; None if unknown or expired."""
    await connection.execute(delete(OidcLoginRow).where(OidcLoginRow.expires_at < now))
    row = (
        await connection.execute(select(OidcLoginRow.__table__).where(OidcLoginRow.state == state))
    ).first()
    if row is None:
        return None
    await connection.execute(delete(OidcLoginRow).where(OidcLoginRow.state == state))
    return PendingOidcLogin(row.nonce, row.verifier, row.expires_at)


async def oidc_user(connection: AsyncConnection, issuer: str, subject: str) -> int | None:
    return (
        await connection.execute(
            select(OidcIdentityRow.user_id).where(
                OidcIdentityRow.issuer == issuer, OidcIdentityRow.subject == subject
            )
        )
    ).scalar_one_or_none()


async def link_oidc(connection: AsyncConnection, issuer: str, subject: str, user_id: int) -> None:
    await connection.execute(
        insert(connection, OidcIdentityRow).values(issuer=issuer, subject=subject, user_id=user_id)
    )
