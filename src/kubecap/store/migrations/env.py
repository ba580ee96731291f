"""Alembic environment for kubecap: runs against the connection kubecap hands over.

kubecap.store.migrate builds the configuration in code and passes an open connection in
``config.attributes["connection"]``; a ``sqlalchemy.url`` main option (set in code, e.g. to
autogenerate a revision) is used only when no connection is given.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from kubecap.store.engine import sync_engine
from kubecap.store.schema import Base


def _run(connection: Connection) -> None:
    # Batch mode lets later migrations alter tables on SQLite, which lacks most ALTER TABLE forms.
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = context.config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("kubecap migrations need a connection or the sqlalchemy.url option")
    engine = sync_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("kubecap migrations run online only: use `kubecap db upgrade`")
run_migrations_online()
