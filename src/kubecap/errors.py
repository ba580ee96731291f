"""The one exception tree of kubecap.

Every error a user can cause is a ``KubecapError`` whose message is one plain sentence naming
the input and the fix. The CLI (and later the API) map these to an exit code (or an HTTP
status) in one place; anything else is a bug and is shown as such.

    KubecapError                    exit 2
    ├── ConfigError                 bad settings, window, time zone, scenario
    ├── StoreError                  database unreachable or migration failure
    ├── MetricsError                metrics backend problems
    │   ├── PrometheusUnreachable   connection refused, DNS, TLS, timeouts after retries
    │   ├── PrometheusQueryError    the server rejected the PromQL (4xx) or failed (5xx)
    │   └── MissingSeriesError      exporters or the cluster label match nothing
    └── NotFoundError               a named object does not exist
"""

from __future__ import annotations


class KubecapError(Exception):
    """An error with a message meant for the user."""

    exit_code = 2


class ConfigError(KubecapError):
    """Settings, a window, a time zone or a scenario is invalid.

    ``problems`` lists every problem found (one sentence each) when there were several.
    """

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class StoreError(KubecapError):
    """The database cannot be reached or migrated."""


class MetricsError(KubecapError):
    """The metrics backend failed."""


class PrometheusUnreachable(MetricsError):
    """Prometheus could not be reached, even after retries."""


class PrometheusQueryError(MetricsError):
    """Prometheus answered with an error for a query."""

    def __init__(self, message: str, *, query: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.query = query
        self.status = status


class MissingSeriesError(MetricsError):
    """Series that collection needs are absent."""


class NotFoundError(KubecapError):
    """A named object does not exist."""

    exit_code = 3
