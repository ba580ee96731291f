"""The ops commands through the real command line, against the fake apiserver on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kubecap.testing.apiserver import FakeApiServer

Kubecap = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer() as running:
        running.add_workload("shop", "web", replicas=5)
        yield running


@pytest.fixture
def cli(server: FakeApiServer, tmp_path: Path) -> Iterator[Kubecap]:
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    database = f"sqlite:///{tmp_path / 'k.db'}"

    def kubecap(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBECAP_")}
        common = ["--database-url", database]
        if args[0] in ("scale", "restart") or args[:2] == ("tasks", "add"):
            common += ["--kubeconfig", str(kubeconfig), "--cluster", "c"]
        if config is not None:
            common += ["--config", str(config)]
        return subprocess.run(
            [sys.executable, "-m", "kubecap.cli", *args, *common],
            capture_output=True,
            text=True,
            env={**env, "COLUMNS": "200"},
            timeout=120,
        )

    yield kubecap


def one_sentence(result: subprocess.CompletedProcess[str], code: int, fragment: str) -> None:
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr
    assert fragment in result.stderr, result.stderr
    assert result.stderr.count("error:") == 1


def test_scale_now_then_history_and_audit(cli: Kubecap, server: FakeApiServer) -> None:
    kubecap = cli
    done = kubecap("scale", "deployment/web", "-n", "shop", "--replicas", "2", "--actor", "alice")
    assert done.returncode == 0, done.stderr
    assert "succeeded: scale c/shop/Deployment/web to 2 replicas" in done.stdout
    assert server.get("deployments", "shop", "web")["spec"]["replicas"] == 2
    listed = kubecap("tasks", "list", "--format", "json")
    assert [(t["id"], t["state"]) for t in json.loads(listed.stdout)] == [(1, "done")]
    audit = kubecap("audit", "--format", "csv", "--action", "scale")
    assert audit.returncode == 0, audit.stderr
    lines = audit.stdout.splitlines()
    assert lines[0].startswith("id,at,actor,action,cluster,target,result,before,after")
    assert len(lines) == 2 and ",alice,scale,c,c/shop/Deployment/web,ok," in lines[1]


def test_a_weekly_restart_is_scheduled_paused_and_listed(cli: Kubecap, server: FakeApiServer) -> None:
    kubecap = cli
    added = kubecap("restart", "web", "-n", "shop", "--cron", "30 3 * * 0", "--timezone", "Europe/Berlin")
    assert added.returncode == 0, added.stderr
    assert "task 1: restart c/shop/Deployment/web, cron '30 3 * * 0' (Europe/Berlin); active" in added.stdout
    paused = kubecap("tasks", "pause", "1")
    assert "; paused;" in paused.stdout
    again = kubecap("tasks", "pause", "1")
    one_sentence(again, 2, "task 1 is paused; only active tasks can become paused")
    assert server.count("PATCH", "/deployments/web$") == 0


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("scale", "deployment/nope", "-n", "shop", "-r", "1"), 3, "Deployment shop/nope does not exist"),
        (("scale", "web", "-n", "shop", "-r", "-1"), 2, "replicas must be 0 or more, got -1"),
        (
            ("scale", "web", "-n", "shop", "-r", "1", "--cron", "every day"),
            2,
            "invalid cron expression 'every day'",
        ),
        (("scale", "web", "-n", "shop", "-r", "1", "--at", "2001-01-01 10:00"), 2, "is in the past"),
        (
            ("restart", "web", "-n", "shop", "--cron", "0 1 * * *", "--tz", "Mars/Base"),
            2,
            "unknown time zone",
        ),
        (("scale", "pods/web", "-r", "1"), 2, "invalid workload 'pods/web'"),
        (("tasks", "cancel", "42"), 3, "task 42 does not exist"),
    ],
)
def test_bad_input_is_one_sentence(cli: Kubecap, args: tuple[str, ...], code: int, fragment: str) -> None:
    one_sentence(cli(*args), code, fragment)


def test_forbidden_names_the_missing_permission_and_is_recorded(cli: Kubecap, server: FakeApiServer) -> None:
    kubecap = cli
    server.fail("PATCH", r"/deployments/web/scale$", 403)
    result = kubecap("scale", "web", "-n", "shop", "-r", "1")
    assert result.returncode == 2
    assert "grant the verb 'patch' on 'deployments/scale'" in result.stdout
    history = kubecap("tasks", "history", "1", "--format", "json")
    runs = json.loads(history.stdout[history.stdout.index("[") :])
    assert [r["state"] for r in runs] == ["failed"]


def test_notify_test_reports_each_channel(cli: Kubecap, tmp_path: Path) -> None:
    config = tmp_path / "k.yaml"
    config.write_text(
        "notifications:\n  attempts: 1\n  channels:\n"
        "    - {name: nowhere, urls: ['json://127.0.0.1:1/hook']}\n"
    )
    result = cli("notify", "test", config=config)
    assert result.returncode == 2
    assert "channel nowhere: not delivered after 1 attempts" in result.stderr
    assert "127.0.0.1:1" not in result.stderr + result.stdout
    missing = cli("notify", "test", "--channel", "other", config=config)
    one_sentence(missing, 2, "no notification channel named 'other' (known: nowhere)")


def test_a_managed_scale_changes_the_control_table_and_a_temporary_one_annotates(
    cli: Kubecap, server: FakeApiServer
) -> None:
    kubecap = cli
    managed = kubecap("control", "set", "deployment/web", "-n", "shop", "--replicas", "5", "--cluster", "c")
    assert managed.returncode == 0, managed.stderr
    done = kubecap("scale", "web", "-n", "shop", "-r", "3", "--actor", "alice")
    assert done.returncode == 0, done.stderr
    assert server.get("deployments", "shop", "web")["spec"]["replicas"] == 3
    shown = kubecap("control", "show", "deployment/web", "-n", "shop", "--cluster", "c", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    assert '"replicas": 3' in shown.stdout
    temporary = kubecap("scale", "web", "-n", "shop", "-r", "8", "--until", "2099-01-01 00:00")
    assert temporary.returncode == 0, temporary.stderr
    web = server.get("deployments", "shop", "web")
    assert web["metadata"]["annotations"]["kubecap.io/temporary-replicas"] == "8@2099-01-01T00:00:00Z"
    assert web["spec"]["replicas"] == 8
    listed = json.loads(kubecap("tasks", "list", "--state", "active", "--format", "json").stdout)
    assert [(t["operation"], t["next_run"]) for t in listed] == [
        (
            "end the temporary scale of c/shop/Deployment/web (back to the control table's replicas, else 3)",
            "2099-01-01T00:00:00+00:00",
        )
    ]
