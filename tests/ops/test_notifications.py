"""Collection failures are notified (and each delivery audited) through the real command line,
a Prometheus address nothing listens on, and a notification endpoint on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.notify_endpoint import Endpoint, notification_endpoint


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with notification_endpoint() as found:
        yield found


def kubecap(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBECAP_")}
    return subprocess.run(
        [sys.executable, "-m", "kubecap.cli", *args, "--database-url", f"sqlite:///{tmp_path / 'k.db'}"],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        timeout=120,
    )


def failing_collection(tmp_path: Path, endpoint: Endpoint) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "k.yaml"
    config.write_text(
        "notifications:\n  attempts: 2\n  backoff_seconds: 0.01\n  channels:\n"
        f"    - {{name: data-team, urls: ['{endpoint.url}'], events: [collection_failure]}}\n"
        f"    - {{name: ops-only, urls: ['{endpoint.url}'], events: [task_result]}}\n"
    )
    return kubecap(
        tmp_path,
        "collect",
        "--prometheus-url",
        "http://127.0.0.1:1",
        "--days",
        "1",
        "--until",
        "2026-12-01",
        "--config",
        str(config),
    )


def audited(tmp_path: Path) -> list[dict[str, Any]]:
    result = kubecap(tmp_path, "audit", "--action", "notify", "--format", "json")
    assert result.returncode == 0, result.stderr
    events: list[dict[str, Any]] = json.loads(result.stdout)
    return events


def test_a_failed_collection_is_notified_to_the_channels_that_want_it(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    result = failing_collection(tmp_path, endpoint)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.count("error:") == 1
    assert "cannot reach Prometheus at http://127.0.0.1:1" in result.stderr
    assert len(endpoint.received) == 1  # data-team only: ops-only does not want collection failures
    sent = endpoint.received[0]
    assert sent["title"] == "[kubecap/default] collection of 2026-12-01 10:00-11:30 failed"
    assert "cannot reach Prometheus" in sent["message"] and "resumes with this window" in sent["message"]
    assert [(e["target"], e["result"], e["request_id"]) for e in audited(tmp_path)] == [
        ("channel data-team", "ok", "collect-default-2026-12-01-10:00-11:30")
    ]


def test_a_notification_endpoint_down_never_hides_the_collection_error(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    endpoint.status = 500
    result = failing_collection(tmp_path, endpoint)
    assert result.returncode == 2
    assert result.stderr.count("error:") == 1 and "cannot reach Prometheus" in result.stderr
    assert len(endpoint.received) == 2  # retried
    events = audited(tmp_path)
    assert [(e["target"], e["result"]) for e in events] == [("channel data-team", "failed")]
    assert "collection_failure not delivered after 2 attempts" in events[0]["message"]
    assert endpoint.url.split("://")[1] not in json.dumps(events)  # URLs hold secrets: never recorded


def test_a_channel_kubecap_cannot_use_is_a_warning_after_the_collection_error(tmp_path: Path) -> None:
    config = tmp_path / "k.yaml"
    config.write_text("notifications:\n  channels:\n    - {name: typo, urls: ['slak://oops']}\n")
    result = kubecap(
        tmp_path,
        *("collect", "--prometheus-url", "http://127.0.0.1:1", "--days", "1", "--until", "2026-12-01"),
        *("--config", str(config)),
    )
    assert result.returncode == 2
    assert result.stderr.count("error:") == 1 and "cannot reach Prometheus" in result.stderr
    assert "warning: the collection failure was not notified: notification channel 'typo'" in result.stderr
