"""Users, API tokens and browser sessions, on a connection the caller owns.

Only hashes and digests are stored: argon2 hashes of passwords, SHA-256 digests of token and
session secrets (they are random, so a fast digest suffices and lookups stay indexed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kubecap.store.schema import ApiTokenRow, SessionRow, UserRow
from kubecap.store.upsert import insert


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    password_hash: str
    role: str
    disabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: int
    user_id: int
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    user_id: int
    csrf: str
    created_at: datetime
    expires_at: datetime


def _user(row: Row[Any]) -> UserRecord:
    return UserRecord(row.id, row.username, row.password_hash, row.role, row.disabled, row.created_at)


def _token(row: Row[Any]) -> TokenRecord:
    return TokenRecord(row.id, row.user_id, row.name, row.created_at, row.expires_at, row.last_used_at)


async def count_users(connection: AsyncConnection) -> int:
    return int((await connection.execute(select(func.count()).select_from(UserRow))).scalar_one())


async def users(connection: AsyncConnection) -> list[UserRecord]:
    rows = await connection.execute(select(UserRow.__table__).order_by(UserRow.username))
    return [_user(r) for r in rows]


async def user_by_id(connection: AsyncConnection, user_id: int) -> UserRecord | None:
    row = (await connection.execute(select(UserRow.__table__).where(UserRow.id == user_id))).first()
    return None if row is None else _user(row)


async def user_by_name(connection: AsyncConnection, username: str) -> UserRecord | None:
    row = (await connection.execute(select(UserRow.__table__).where(UserRow.username == username))).first()
    return None if row is None else _user(row)


async def add_user(
    connection: AsyncConnection, username: str, password_hash: str, role: str, now: datetime
) -> int:
    result = await connection.execute(
        insert(connection, UserRow)
        .values(username=username, password_hash=password_hash, role=role, disabled=False, created_at=now)
        .returning(UserRow.id)
    )
    return int(result.scalar_one())


async def update_user(connection: AsyncConnection, user_id: int, values: dict[str, Any]) -> None:
    await connection.execute(update(UserRow).where(UserRow.id == user_id).values(**values))


async def delete_sessions_of(connection: AsyncConnection, user_id: int) -> None:
    await connection.execute(delete(SessionRow).where(SessionRow.user_id == user_id))


async def add_token(
    connection: AsyncConnection,
    user_id: int,
    name: str,
    digest: str,
    now: datetime,
    expires_at: datetime | None,
) -> int:
    result = await connection.execute(
        insert(connection, ApiTokenRow)
        .values(user_id=user_id, name=name, digest=digest, created_at=now, expires_at=expires_at)
        .returning(ApiTokenRow.id)
    )
    return int(result.scalar_one())


async def tokens(connection: AsyncConnection, user_id: int | None) -> list[TokenRecord]:
    query = select(ApiTokenRow.__table__).order_by(ApiTokenRow.id)
    if user_id is not None:
        query = query.where(ApiTokenRow.user_id == user_id)
    return [_token(r) for r in await connection.execute(query)]


async def token_by_id(connection: AsyncConnection, token_id: int) -> TokenRecord | None:
    row = (await connection.execute(select(ApiTokenRow.__table__).where(ApiTokenRow.id == token_id))).first()
    return None if row is None else _token(row)


async def token_user(connection: AsyncConnection, digest: str, now: datetime) -> UserRecord | None:
    row = (
        await connection.execute(select(ApiTokenRow.__table__).where(ApiTokenRow.digest == digest))
    ).first()
    if row is None or (row.expires_at is not None and row.expires_at <= now):
        return None
    await connection.execute(update(ApiTokenRow).where(ApiTokenRow.id == row.id).values(last_used_at=now))
    return await user_by_id(connection, row.user_id)


async def delete_token(connection: AsyncConnection, token_id: int) -> None:
    await connection.execute(delete(ApiTokenRow).where(ApiTokenRow.id == token_id))


async def add_session(
    connection: AsyncConnection, digest: str, user_id: int, csrf: str, now: datetime, expires_at: datetime
) -> None:
    # Expired sessions are useless: drop them whenever a new one starts.
    await connection.execute(delete(SessionRow).where(SessionRow.expires_at <= now))
    await connection.execute(
        insert(connection, SessionRow).values(
            digest=digest, user_id=user_id, csrf=csrf, created_at=now, expires_at=expires_at
        )
    )


async def session(
    connection: AsyncConnection, digest: str, now: datetime
) -> tuple[SessionRecord, UserRecord] | None:
    row = (await connection.execute(select(SessionRow.__table__).where(SessionRow.digest == digest))).first()
    if row is None or row.expires_at <= now:
        return None
    user = await user_by_id(connection, row.user_id)
    if user is None:
        return None
    return SessionRecord(row.user_id, row.csrf, row.created_at, row.expires_at), user


async def delete_session(connection: AsyncConnection, digest: str) -> None:
    await connection.execute(delete(SessionRow).where(SessionRow.digest == digest))
