"""Fixtures for predictive replicas: the store fixtures of tests/store (SQLite and PostgreSQL), and the
real Prometheus holding the simulated contract cluster of tests/e2e."""

from tests.e2e.conftest import simulated_prometheus  # noqa: F401 - the contract scenario in Prometheus
from tests.store.conftest import (  # noqa: F401 - fixtures shared with the store tests
    backend,
    database_url,
    postgres_database,
    postgres_server,
    store,
)
