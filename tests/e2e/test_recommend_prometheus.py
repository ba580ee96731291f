"""`kubecap recommend` straight from a real Prometheus (no database), against the same history from the simulated source.

The Prometheus of tests/e2e/conftest.py holds the "contract" scenario (and two others told
apart by the `cluster` label). Recommending live from it must give the values that a store
collected from the simulated source gives for the same days: the whole path — PromQL,
collection into a temporary SQLite file, recommendation — agrees with the reference.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import CONTRACT_YAML, SimulatedPrometheus

pytestmark = pytest.mark.prometheus

CLUSTER = """
  - name: contract
    timezone: Europe/Berlin
    peak_windows: ["10:00-11:30", "23:00-01:00"]
"""
# The scenario ends at 2026-10-27 00:00 Berlin time and holds the three days before.
HISTORY = ("--until", "2026-10-26", "--days", "3")


def kubecap(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBECAP_")}
    if home is not None:
        env["XDG_DATA_HOME"] = str(home)  # where the default database would go
    return subprocess.run(
        [sys.executable, "-m", "kubecap.cli", *args],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        cwd=home,
        timeout=300,
    )


def by_container(output: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["namespace"], r["workload"], r["container"]): r for r in json.loads(output)}


def test_live_recommendations_match_those_of_the_simulated_source(
    simulated_prometheus: SimulatedPrometheus, tmp_path: Path
) -> None:
    live_config = tmp_path / "live.yaml"
    live_config.write_text(
        "clusters:"
        + CLUSTER
        + f"    prometheus: {{url: '{simulated_prometheus.url}'}}\n    cluster_label: {{cluster: contract}}\n"
    )
    live = kubecap("recommend", "--config", str(live_config), "--live", *HISTORY, "-f", "json")
    assert live.returncode == 0, live.stderr
    assert "contract:" in live.stderr and "collected" in live.stderr

    scenario = tmp_path / "contract.yaml"
    scenario.write_text(CONTRACT_YAML)
    stored_config = tmp_path / "stored.yaml"
    stored_config.write_text(
        f"database_url: sqlite:///{tmp_path / 'k.db'}\nclusters:" + CLUSTER + f"    simulated: {scenario}\n"
    )
    collected = kubecap("collect", "--config", str(stored_config), "--until", "2026-10-26", "--days", "4")
    assert collected.returncode == 0, collected.stderr
    reference = kubecap("recommend", "--config", str(stored_config), *HISTORY, "-f", "json")
    assert reference.returncode == 0, reference.stderr

    got, want = by_container(live.stdout), by_container(reference.stdout)
    assert (
        set(got)
        == set(want)
        == {
            ("shop", "web", "app"),
            ("shop", "web", "proxy"),
            ("shop", "db", "postgres"),
            ("ops", "agent", "agent"),
        }
    )
    # HPAs are read live on both sides (kube-state-metrics, and the configured simulated cluster):
    # web's HPA scales on CPU, so its CPU requests and limits stay; db's scales on memory.
    held = {("shop", "web", "app"): "cpu", ("shop", "web", "proxy"): "cpu", ("shop", "db", "postgres"): "mem"}
    for key, expected in want.items():
        actual = got[key]
        assert actual["status"] == expected["status"] == "ok", key
        for name in ("cpu_request", "cpu_limit", "mem_request", "mem_limit"):
            a = actual[f"recommended_{name}"]
            if held.get(key) == name[:3]:
                assert a == actual[f"current_{name}"] == expected[f"recommended_{name}"], (key, name)
                continue
            b = expected[f"recommended_{name}"]
            unit = 0.001 if name.startswith("cpu") else 2**20
            # Both sides round up to whole units: the last few ulps may tip one unit.
            assert (a is None and b is None) or abs(a - b) <= unit * 1.001, (key, name, a, b)
        assert actual["window"] == "10:00-11:30"
    web = got[("shop", "web", "app")]
    assert (web["hpa_min_replicas"], web["replicas_recommended"]) != (None, None)
    assert web["replicas_recommended"] is None and web["hpa_max_replicas"] >= web["hpa_min_replicas"] >= 1
    assert "scales on CPU utilisation" in web["explanation"]
    want_web = want[("shop", "web", "app")]
    assert (want_web["hpa_min_replicas"], want_web["hpa_max_replicas"]) == (
        web["hpa_min_replicas"],
        web["hpa_max_replicas"],
    )


def test_recommend_from_a_prometheus_url_needs_no_database(
    simulated_prometheus: SimulatedPrometheus, tmp_path: Path
) -> None:
    # The KRR way: one URL, nothing else. The harness' Prometheus holds several clusters and the
    # URL shortcut selects none, so only the shape of the answer is checked here.
    done = kubecap(
        "recommend", "--prometheus-url", simulated_prometheus.url, *HISTORY, "-f", "patch", home=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "default:" in done.stderr
    assert "apiVersion: apps/v1" in done.stdout
    # No database was created, neither the default one nor in the working directory.
    assert list(tmp_path.iterdir()) == []


def test_a_label_selector_picks_workloads_by_their_live_labels(
    simulated_prometheus: SimulatedPrometheus, tmp_path: Path
) -> None:
    live_config = tmp_path / "live.yaml"
    live_config.write_text(
        "clusters:"
        + CLUSTER
        + f"    prometheus: {{url: '{simulated_prometheus.url}'}}\n    cluster_label: {{cluster: contract}}\n"
    )
    # The contract scenario labels web {app: web, app.kubernetes.io/part-of: shop} and db {app: db, tier: data}.
    picked = kubecap(
        "recommend", "--config", str(live_config), "--live", *HISTORY, "-f", "json",
        "-l", "app.kubernetes.io/part-of=shop",
    )  # fmt: skip
    assert picked.returncode == 0, picked.stderr
    assert {(r["workload"], r["container"]) for r in json.loads(picked.stdout)} == {
        ("web", "app"),
        ("web", "proxy"),
    }

    scenario = tmp_path / "contract.yaml"
    scenario.write_text(CONTRACT_YAML)
    stored_config = tmp_path / "stored.yaml"
    stored_config.write_text(
        f"database_url: sqlite:///{tmp_path / 'k.db'}\nclusters:" + CLUSTER + f"    simulated: {scenario}\n"
    )
    assert kubecap("collect", "--config", str(stored_config), *HISTORY).returncode == 0
    stored = kubecap(
        "recommend", "--config", str(stored_config), *HISTORY, "-f", "json", "-l", "app in (db),tier"
    )
    assert stored.returncode == 0, stored.stderr
    assert {r["workload"] for r in json.loads(stored.stdout)} == {"db"}

    nothing = kubecap("recommend", "--config", str(stored_config), *HISTORY, "-l", "app=nope")
    assert nothing.returncode == 3 and "labels matching 'app=nope'" in nothing.stderr
    bad = kubecap("recommend", "--config", str(stored_config), *HISTORY, "-l", "app=(web")
    assert bad.returncode == 2 and "write it as kubectl does" in bad.stderr and "Traceback" not in bad.stderr
    unconfigured = kubecap(
        "recommend", "--database-url", f"sqlite:///{tmp_path / 'k.db'}", *HISTORY, "-l", "app=db"
    )
    assert unconfigured.returncode == 2 and "--selector needs the workloads' labels" in unconfigured.stderr
