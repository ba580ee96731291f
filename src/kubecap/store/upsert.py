"""``INSERT ... ON CONFLICT`` for whichever backend a connection speaks.

SQLite and PostgreSQL share the syntax but SQLAlchemy exposes it per dialect; the
repositories ask for one statement here and stay backend-agnostic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

Upsert = sqlite.Insert | postgresql.Insert
T = TypeVar("T")


def insert(connection: AsyncConnection, table: Any) -> Upsert:
    """An insert into ``table`` (a mapped class) that supports ``on_conflict_do_*``."""
    name = connection.dialect.name
    if name == "sqlite":
        return sqlite.insert(table)
    if name == "postgresql":
        return postgresql.insert(table)
    raise RuntimeError(f"the store does not support the {name} database dialect")


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """Consecutive slices of at most ``size`` items: bounded statements for big windows."""
    return [items[start : start + size] for start in range(0, len(items), size)]
