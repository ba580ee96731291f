"""kubecap's database: the usage history on SQLite (default) or PostgreSQL.

The public API speaks domain types only; SQLAlchemy and Alembic stay inside this package
(an import-linter contract keeps it so).
"""

from kubecap.store.migrate import head_revision, upgrade_database
from kubecap.store.runs_repo import CollectionRun, RunStatus
from kubecap.store.store import Store
from kubecap.store.urls import masked as masked_url
from kubecap.store.urls import normalise_url

__all__ = [
    "CollectionRun",
    "RunStatus",
    "Store",
    "head_revision",
    "masked_url",
    "normalise_url",
    "upgrade_database",
]
