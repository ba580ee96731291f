"""Fixtures for predictive replicas: the store fixtures of tests/store (SQLite and PostgreSQL)."""

from tests.store.conftest import (  # noqa: F401 - fixtures shared with the store tests
    backend,
    database_url,
    postgres_database,
    postgres_server,
    store,
)
