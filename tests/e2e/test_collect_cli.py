"""`kubecap collect` and `kubecap report` end to end: real Prometheus, real SQLite, the real CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import SimulatedPrometheus

pytestmark = pytest.mark.prometheus

COLLECT = ("collect", "--days", "3", "--until", "2026-10-26")


def config_file(tmp_path: Path, sim: SimulatedPrometheus, *, label: str = "contract") -> Path:
    path = tmp_path / "kubecap.yaml"
    path.write_text(
        f"""
database_url: sqlite:///{tmp_path / "kubecap.db"}
clusters:
  - name: contract
    prometheus: {{url: "{sim.url}", retries: 0}}
    cluster_label: {{cluster: {label}}}
    timezone: Europe/Berlin
    peak_windows: ["10:00-11:30", "23:00-01:00"]
"""
    )
    return path


def kubecap(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBECAP_")}
    return subprocess.run(
        [sys.executable, "-m", "kubecap.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


def stored(db: Path) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select count(*) from usage_daily").fetchone()[0]
        complete = conn.execute("select count(*) from collection_runs where status = 'complete'").fetchone()[
            0
        ]
    return int(rows), int(complete)


def stored_nodes(db: Path) -> tuple[int, int]:
    """Node rows, and complete whole-day windows (each carries the 4 nodes of the contract cluster)."""
    with sqlite3.connect(db) as conn:
        nodes = conn.execute("select count(*) from node_usage_daily").fetchone()[0]
        days = conn.execute(
            "select count(*) from collection_runs where status = 'complete' and window = 'day'"
        ).fetchone()[0]
    return int(nodes), int(days)


def test_collect_is_idempotent_and_reports(tmp_path: Path, simulated_prometheus: SimulatedPrometheus) -> None:
    config = config_file(tmp_path, simulated_prometheus)
    first = kubecap(*COLLECT, "--config", str(config))
    assert first.returncode == 0, first.stderr
    # 16 queries per window, one more per whole day for the nodes, and one whole-window inventory
    # for the last night window, whose final hour lies past the end of the history.
    assert "contract: 9 collected; 36 rows and 12 node rows from 148 queries" in first.stderr
    assert "no node-exporter data for node(s) spare-0" in first.stderr
    assert stored(tmp_path / "kubecap.db") == (36, 9)
    assert stored_nodes(tmp_path / "kubecap.db") == (12, 3)

    again = kubecap(*COLLECT, "--config", str(config))
    assert "9 already complete; 0 rows from 0 queries" in again.stderr
    forced = kubecap(*COLLECT, "--force", "--config", str(config))
    assert "9 collected; 36 rows" in forced.stderr
    assert stored(tmp_path / "kubecap.db") == (36, 9)

    report = kubecap("report", "--config", str(config), "--format", "json")
    assert report.returncode == 0, report.stderr
    rows = json.loads(report.stdout)
    assert {(r["namespace"], r["workload"], r["container"]) for r in rows} == {
        ("shop", "web", "app"),
        ("shop", "web", "proxy"),
        ("shop", "db", "postgres"),
        ("ops", "agent", "agent"),
    }
    web = next(r for r in rows if r["container"] == "app")
    assert web["window"] == "10:00-11:30" and web["days"] == 3
    assert web["cpu_request_cores"] == pytest.approx(0.25)
    assert web["memory_request_bytes"] == 256 * 2**20

    day_csv = kubecap("report", "--config", str(config), "--format", "csv", "--window", "day")
    assert len(list(csv.DictReader(io.StringIO(day_csv.stdout)))) == 4
    table = kubecap("report", "--config", str(config))
    assert "Deployment/web" in table.stdout and "StatefulSet/db" in table.stdout


def test_a_wrong_cluster_label_fails_clearly_and_writes_nothing(
    tmp_path: Path, simulated_prometheus: SimulatedPrometheus
) -> None:
    config = config_file(tmp_path, simulated_prometheus, label="prod")
    result = kubecap(*COLLECT, "--config", str(config))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert 'no series match the cluster label {cluster="prod"}' in result.stderr
    assert stored(tmp_path / "kubecap.db") == (0, 0)


def test_a_killed_run_resumes_to_the_same_store(
    tmp_path: Path, simulated_prometheus: SimulatedPrometheus
) -> None:
    config = config_file(tmp_path, simulated_prometheus)
    db = tmp_path / "kubecap.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBECAP_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubecap.cli", *COLLECT, "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                if stored(db)[1] >= 2:
                    break
            except sqlite3.OperationalError:
                pass  # schema not there yet
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rows, complete = stored(db)
    assert rows == 4 * complete  # never a half-written window
    nodes, days = stored_nodes(db)
    assert nodes == 4 * days  # a day's node rows commit with it
    resumed = kubecap(*COLLECT, "--config", str(config))
    assert resumed.returncode == 0, resumed.stderr
    assert f"{complete} already complete" in resumed.stderr or complete == 9
    assert stored(db) == (36, 9)
    assert stored_nodes(db) == (12, 3)
