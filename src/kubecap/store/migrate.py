"""Alembic, driven from code: the migrations ship inside the package, no alembic.ini needed.

Everything here is blocking (file reads, a synchronous driver); async callers run it with
``asyncio.to_thread``.

A new revision, for developers: change schema.py, then against a database at head run
``command.revision(alembic_config(connection), "what changed", autogenerate=True, rev_id="0002")``
with ``connection`` from ``sync_engine(url).begin()``, and review the generated file.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from kubecap.errors import StoreError
from kubecap.store.engine import reason, sync_engine, unreachable
from kubecap.store.urls import masked, normalise_url, sqlite_file

MIGRATIONS = Path(__file__).with_name("migrations")
# Serialises concurrent upgrades of one PostgreSQL database (several replicas starting at once).
_PG_UPGRADE_LOCK = 0x6B756265636170  # "kubecap"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the packaged migrations, optionally bound to ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str:
    """The revision the code of this kubecap expects."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return str(head)


def known_revision(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None for an empty database)."""
    return MigrationContext.configure(connection).get_current_revision()


def newer_than_code(url: str, revision: str) -> StoreError:
    return StoreError(
        f"database at {masked(url)} is at revision {revision}, which this kubecap does not know: "
        "run the kubecap version that last upgraded it, or a newer one"
    )


def upgrade_database(url: str) -> str:
    """Bring the database at ``url`` to the head revision and return that revision.

    Creates the parent folder of a SQLite file. Raises StoreError when the database cannot
    be reached or migrated.
    """
    sync_url, _ = normalise_url(url)
    path = sqlite_file(sync_url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the folder {path.parent} for the SQLite database at {masked(url)} "
                f"({exc.strerror}): check --database-url or KUBECAP_DATABASE_URL"
            ) from exc
    engine = sync_engine(sync_url)
    try:
        try:
            connection = engine.connect()
        except DBAPIError as exc:
            raise unreachable(url, exc) from exc
        with connection, connection.begin():
            _upgrade(connection, url)
        return head_revision()
    except (CommandError, SQLAlchemyError) as exc:
        raise StoreError(
            f"migrating the database at {masked(url)} failed ({reason(exc)}): "
            "fix the cause and run `kubecap db upgrade` again"
        ) from exc
    finally:
        engine.dispose()


def _upgrade(connection: Connection, url: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_UPGRADE_LOCK})
    current = current_revision(connection)
    if current == head_revision():
        return
    if current is not None and not known_revision(current):
        raise newer_than_code(url, current)
    command.upgrade(alembic_config(connection), "head")
