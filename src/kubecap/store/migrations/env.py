"""Alembic environment for kubecap: migrates the connection kubecap hands over.

kubecap.store.migrate builds the configuration in code and passes an open connection in
``config.attributes["connection"]``; there is no alembic.ini and no URL here.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from kubecap.store.schema import Base

if context.is_offline_mode():
    raise RuntimeError("kubecap migrations run online only: use `kubecap db upgrade`")

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "kubecap migrations need a connection: use kubecap.store.migrate.alembic_config(connection)"
    )

# Batch mode lets later migrations alter tables on SQLite, which lacks most ALTER TABLE forms.
context.configure(
    connection=connection, target_metadata=Base.metadata, render_as_batch=True, compare_type=True
)
with context.begin_transaction():
    context.run_migrations()
