"""Databases for tests that need one: a SQLite file per test, a PostgreSQL database per session.

Fixtures, from low to high level:

- ``backend``: "sqlite" or "postgresql"; every test using the fixtures below runs once for each.
  The PostgreSQL case carries the ``postgres`` marker and FAILS (never skips) when the server
  is unreachable: CI must run it. The server is ``KUBECAP_TEST_POSTGRES_URL`` (default
  ``postgresql://postgres@127.0.0.1:5432/test``), a database where the user may create
  others; the session creates ``kubecap_test_<random>`` there and drops it at the end.
- ``empty_database_url``: a database without any table (a new SQLite path / a new
  PostgreSQL database dropped after the test).
- ``database_url``: a database at the head revision with no data (PostgreSQL: the session
  database, emptied before each test; a test that changes its schema or revision must use
  ``empty_database_url`` instead).
- ``store``: an opened ``kubecap.store.Store`` on ``database_url``, closed after the test.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from kubecap.store import Store, masked_url, upgrade_database

POSTGRES_URL_ENV = "KUBECAP_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@dataclass(frozen=True)
class PostgresServer:
    """A PostgreSQL server on which the tests may create and drop databases."""

    url: str
    """URL of the maintenance database the test databases are created from."""

    def database_url(self, name: str) -> str:
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def _connect(self, url: str | None = None) -> psycopg.Connection[tuple[object, ...]]:
        plain = make_url(url or self.url).set(drivername="postgresql").render_as_string(hide_password=False)
        return psycopg.connect(plain, autocommit=True, connect_timeout=5)

    def create_database(self) -> str:
        name = f"kubecap_test_{secrets.token_hex(6)}"
        with self._connect() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.database_url(name)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        assert name is not None and name.startswith("kubecap_test_"), name
        with self._connect() as connection:
            # FORCE: a test that failed half-way may have left connections open.
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def empty_tables(self, url: str) -> None:
        """Delete every row except the migration stamp."""
        with self._connect(url) as connection:
            rows = connection.execute(
                "SELECT tablename FROM pg_tables "
                "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
            tables = [row[0] for row in rows]
            if tables:
                names = sql.SQL(", ").join(sql.Identifier(str(t)) for t in tables)
                connection.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(names))


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    server = PostgresServer(os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL)
    try:
        with server._connect():
            pass
    except psycopg.Error as exc:
        pytest.fail(
            f"PostgreSQL at {masked_url(server.url)} is unreachable ({str(exc).strip().splitlines()[0]}): "
            f"start it, or set {POSTGRES_URL_ENV} to a server where this user may create databases",
            pytrace=False,
        )
    return server


@pytest.fixture(scope="session")
def postgres_database(postgres_server: PostgresServer) -> Iterator[str]:
    """This session's PostgreSQL database, migrated to head."""
    url = postgres_server.create_database()
    try:
        upgrade_database(url)
        yield url
    finally:
        postgres_server.drop_database(url)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty' / 'kubecap.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create_database()
    try:
        yield url
    finally:
        server.drop_database(url)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'kubecap.db'}"
        upgrade_database(url)
        return url
    url = str(request.getfixturevalue("postgres_database"))
    server: PostgresServer = request.getfixturevalue("postgres_server")
    server.empty_tables(url)
    return url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    async with await Store.open(database_url) as opened:
        yield opened
