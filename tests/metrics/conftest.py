"""A real Prometheus over a small hand-written history, shared by the tests of this folder.

History: one hour from HISTORY_START (2-hour aligned, so one promtool block) at one sample a
minute. ``kubecap_test_cpu`` has two pods: web-1 is worth i at minute i, web-2 is 100 + 2i.
``kubecap_test_special`` holds NaN, +Inf and -Inf, which the API writes as strings.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kubecap.testing.prometheus import PrometheusServer, backfill

HISTORY_START = datetime(2024, 1, 1, tzinfo=UTC)
HISTORY_MINUTES = 60


def write_openmetrics(path: Path, start: datetime, minutes: int) -> Path:
    t0 = int(start.timestamp())
    lines = ["# TYPE kubecap_test_cpu gauge"]
    for pod, value in (("web-1", lambda i: float(i)), ("web-2", lambda i: 100.0 + 2 * i)):
        lines += [
            f'kubecap_test_cpu{{namespace="shop",pod="{pod}"}} {value(i)} {t0 + 60 * i}'
            for i in range(minutes)
        ]
    lines.append("# TYPE kubecap_test_special gauge")
    for kind, text in (("nan", "NaN"), ("pinf", "+Inf"), ("ninf", "-Inf")):
        lines += [f'kubecap_test_special{{kind="{kind}"}} {text} {t0 + 60 * i}' for i in range(minutes)]
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def history_start() -> datetime:
    return HISTORY_START


@pytest.fixture(scope="session")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real Prometheus serving the history above, for the whole session."""
    root = tmp_path_factory.mktemp("prometheus")
    source = write_openmetrics(root / "history.om", HISTORY_START, HISTORY_MINUTES)
    backfill([source], root / "data")
    with PrometheusServer(root / "data") as server:
        yield server.url
