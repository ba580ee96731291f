"""Bad input through the real command line: one sentence, a non-zero exit, no traceback, nothing written."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def kubecap(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KUBECAP_")}
    return subprocess.run(
        [sys.executable, "-m", "kubecap.cli", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {}), "COLUMNS": "200"},
        cwd=cwd,
        timeout=120,
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assert_one_clear_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_config_check_lists_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "k.yaml"
    config.write_text(
        "clusters:\n  - name: a\n    prometheus: {url: 'http://x'}\n    timezone: Nowhere/Land\n"
        "    peak_windows: ['10:00-10:00']\n"
    )
    result = kubecap("config", "check", "--config", str(config))
    assert_one_clear_error(result, "unknown time zone 'Nowhere/Land'", "start and end are equal")
    assert result.stderr.count("problem:") == 2


def test_config_check_accepts_a_valid_file(tmp_path: Path) -> None:
    config = tmp_path / "k.yaml"
    config.write_text(
        f"database_url: sqlite:///{tmp_path}/k.db\nclusters:\n  - {{name: a, prometheus: {{url: 'http://x'}}}}\n"
    )
    result = kubecap("config", "check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "settings are valid; clusters: a" in result.stdout


def test_collect_from_unreachable_prometheus(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = kubecap(
        "collect", "--days", "2", "--prometheus-url", url, "--database-url", f"sqlite:///{tmp_path}/k.db"
    )
    assert_one_clear_error(result, "cannot reach Prometheus at", url)


def test_collect_with_a_database_that_does_not_connect() -> None:
    result = kubecap(
        "collect",
        "--prometheus-url",
        "http://127.0.0.1:1",
        "--database-url",
        f"postgresql://nobody@127.0.0.1:{closed_port()}/nothing",
    )
    assert_one_clear_error(result, "database")


@pytest.mark.parametrize("url", ["mysql://x/y", "not a url"])
def test_unsupported_database_url(url: str) -> None:
    result = kubecap("report", "--database-url", url)
    assert_one_clear_error(result)


def test_report_on_an_empty_store(tmp_path: Path) -> None:
    result = kubecap("report", "--database-url", f"sqlite:///{tmp_path}/empty.db")
    assert_one_clear_error(result, "run `kubecap collect` first")


def test_invalid_days() -> None:
    result = kubecap("collect", "--days", "0")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_db_upgrade_reports_the_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/new.db"
    result = kubecap("db", "upgrade", "--database-url", url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"database {url} is at revision ")
    again = kubecap("db", "upgrade", "--database-url", url)
    assert again.stdout == result.stdout
