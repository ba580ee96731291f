"""Engines for both drivers, configured alike, and the one sentence for an unreachable database.

SQLite needs foreign keys switched on per connection, WAL so that readers (the UI) do not
block the collector, and explicit BEGINs so that a transaction covers all its statements;
PostgreSQL gets a connect timeout so that an unreachable host fails within seconds rather
than hanging a command.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kubecap.errors import StoreError
from kubecap.store.urls import masked

CONNECT_TIMEOUT_SECONDS = 10
SQLITE_BUSY_TIMEOUT_SECONDS = 30


def _connect_args(url: str) -> dict[str, Any]:
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        return {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
    if "connect_timeout" in parsed.query:
        return {}
    return {"connect_timeout": CONNECT_TIMEOUT_SECONDS}


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module, which would only begin before
    # the first write; _sqlite_begin then starts every transaction, reads included.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()


# Connections of an engine with these options begin writing transactions: on SQLite, BEGIN
# IMMEDIATE, so the write lock is waited for (busy timeout) rather than refused mid-transaction.
WRITE_OPTIONS: dict[str, Any] = {"kubecap_write": True}


def _sqlite_begin(connection: Connection) -> None:
    write = connection.get_execution_options().get("kubecap_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _sqlite_events(engine: Engine) -> None:
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)


def sync_engine(url: str) -> Engine:
    """A synchronous engine (for migrations) from a URL returned by ``normalise_url``."""
    engine = create_engine(url, connect_args=_connect_args(url))
    if engine.dialect.name == "sqlite":
        _sqlite_events(engine)
    return engine


def async_engine(url: str) -> AsyncEngine:
    """An asynchronous engine (for the application) from a URL returned by ``normalise_url``."""
    is_sqlite = make_url(url).drivername.startswith("sqlite")
    engine = create_async_engine(url, connect_args=_connect_args(url), pool_pre_ping=not is_sqlite)
    if is_sqlite:
        _sqlite_events(engine.sync_engine)
    return engine


def reason(exc: BaseException) -> str:
    """The first line of what the driver said, without a trailing full stop."""
    origin = getattr(exc, "orig", None) or exc
    lines = str(origin).strip().splitlines()
    return lines[0].strip().rstrip(".") if lines else type(origin).__name__


def unreachable(url: str, exc: BaseException) -> StoreError:
    """The error a user sees when the database cannot be opened (chain ``exc`` when raising)."""
    return StoreError(
        f"cannot connect to the database at {masked(url)} ({reason(exc)}): "
        "check --database-url or KUBECAP_DATABASE_URL"
    )
