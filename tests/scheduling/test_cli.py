"""The commands through the real command line: the extender as a process, node load, one taint round."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from kubecap.testing.apiserver import FakeApiServer
from kubecap.testing.prometheus import PrometheusServer, backfill
from tests.scheduling.kube_requests import names_form
from tests.scheduling.node_exporter import ExporterNode, History, constant


def kubecap(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KUBECAP_")}
    return subprocess.run(
        [sys.executable, "-m", "kubecap.cli", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {}), "COLUMNS": "250"},
        timeout=120,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_sentence(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    assert fragment in result.stderr, result.stderr


def test_invalid_taint_settings_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "k.yaml"
    config.write_text("prometheus_url: http://127.0.0.1:1\nscheduling:\n  taints: {low: 0.9, high: 0.8}\n")
    one_sentence(
        kubecap("nodes", "load", "--config", str(config)),
        "scheduling.taints: the low mark 0.9 must be below the high mark 0.8",
    )
    config.write_text("prometheus_url: http://127.0.0.1:1\nscheduling:\n  taints: {max_share: 1.5}\n")
    one_sentence(kubecap("nodes", "taints", "--once", "--config", str(config)), "max_share 1.5 is above 1")


def test_a_cluster_without_prometheus_is_named(tmp_path: Path) -> None:
    config = tmp_path / "k.yaml"
    config.write_text("clusters:\n  - {name: sim, simulated: demo}\n")
    one_sentence(kubecap("extender", "--config", str(config)), "cluster 'sim' has no Prometheus")


def unreachable(tmp_path: Path) -> Path:
    """Settings whose Prometheus nobody answers for, without retries (so the test is quick)."""
    config = tmp_path / "down.yaml"
    config.write_text(
        f"clusters:\n  - name: prod\n    prometheus: {{url: 'http://127.0.0.1:{free_port()}', retries: 0}}\n"
    )
    return config


def test_node_load_with_prometheus_down_names_the_problem(tmp_path: Path) -> None:
    one_sentence(kubecap("nodes", "load", "--config", str(unreachable(tmp_path))), "cannot reach Prometheus")


def test_the_extender_refuses_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = kubecap(
            "extender",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            env={"KUBECAP_PROMETHEUS_URL": "http://127.0.0.1:1"},
        )
    one_sentence(result, f"cannot listen on 127.0.0.1:{port}")


def test_the_extender_process_serves_fails_open_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBECAP_")}
    config = unreachable(tmp_path)  # nobody there: fail open
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubecap.cli",
            "extender",
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        with httpx.Client(trust_env=False, timeout=5) as http:
            while True:
                try:
                    if http.get(f"{url}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the extender did not come up"
                time.sleep(0.1)
            answer = http.post(f"{url}/filter", content=names_form(["node-a", "node-b"])).json()
            assert answer["NodeNames"] == ["node-a", "node-b"] and answer["Error"] == ""
            assert "kubecap_node_load_up 0.0" in http.get(f"{url}/metrics").text
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


@pytest.fixture
def live_prometheus(tmp_path: Path) -> Iterator[str]:
    """Half an hour of node-exporter history up to a minute ago: node-a hot, node-b cool."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    history = History((now - timedelta(minutes=30)).timestamp(), (now - timedelta(minutes=1)).timestamp())
    history.node_exporter(ExporterNode({"instance": "node-a:9100"}, constant(0.95), constant(0.3)))
    history.node_exporter(ExporterNode({"instance": "node-b:9100"}, constant(0.10), constant(0.3)))
    backfill(history.write(tmp_path / "om"), tmp_path / "data")
    with PrometheusServer(tmp_path / "data") as server:
        yield server.url


@pytest.mark.prometheus
def test_node_load_and_one_taint_round_end_to_end(live_prometheus: str, tmp_path: Path) -> None:
    table = kubecap("nodes", "load", env={"KUBECAP_PROMETHEUS_URL": live_prometheus})
    assert table.returncode == 0, table.stderr
    lines = {line.split()[0]: line for line in table.stdout.splitlines()[1:]}
    # Read at the wall clock, over a minute after the last scrape and half an hour after the first:
    # windows the scrapes only partly cover still give the true share (the 1-hour maximum too).
    assert lines["node-a"].split()[1:4] == ["0.95", "0.95", "0.95"]
    assert lines["node-b"].split()[1:4] == ["0.10", "0.10", "0.10"]
    document = json.loads(
        kubecap("nodes", "load", "-f", "json", env={"KUBECAP_PROMETHEUS_URL": live_prometheus}).stdout
    )
    assert document["nodes"]["node-a"]["cpu_avg_5m"]["fresh"] is True

    with FakeApiServer() as apiserver:
        foreign = {"key": "team.example/dedicated", "value": "db", "effect": "NoSchedule"}
        apiserver.add_node("node-a", taints=[foreign])
        apiserver.add_node("node-b")
        kubeconfig = apiserver.write_kubeconfig(tmp_path / "kubeconfig")
        config = tmp_path / "k.yaml"
        config.write_text(
            f"prometheus_url: {live_prometheus}\n"
            f"database_url: sqlite:///{tmp_path / 'kubecap.db'}\n"
            "scheduling:\n  taints: {high_seconds: 0, max_share: 0.5}\n"
        )
        assert kubecap("db", "upgrade", "--config", str(config)).returncode == 0
        args = ("nodes", "taints", "--once", "--config", str(config), "--kubeconfig", str(kubeconfig))
        dry = kubecap(*args, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "would add node-a: CPU 0.95" in dry.stdout
        assert apiserver.get("nodes", "", "node-a")["spec"]["taints"] == [foreign]
        done = kubecap(*args)
        assert done.returncode == 0, done.stderr
        assert "add node-a: CPU 0.95" in done.stdout
        assert apiserver.get("nodes", "", "node-a")["spec"]["taints"] == [
            foreign,
            {"key": "kubecap.io/overloaded", "effect": "PreferNoSchedule"},
        ]
        assert apiserver.get("nodes", "", "node-b")["spec"]["taints"] == []
        assert apiserver.count("PATCH", r"/nodes/node-b$") == 0
        audit = kubecap("audit", "--config", str(config))
        assert "node.taint" in audit.stdout and "node/node-a" in audit.stdout, audit
