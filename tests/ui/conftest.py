"""The UI tests reuse the API tests' seeded store (a few days of the simulated cluster)."""

from tests.api.conftest import seeded  # noqa: F401 - a fixture, used by name
