"""The background tests use the store tests' databases: SQLite always, PostgreSQL where marked."""

from tests.store.conftest import (  # noqa: F401 - fixtures, used by name
    backend,
    database_url,
    postgres_database,
    postgres_server,
    store,
)
