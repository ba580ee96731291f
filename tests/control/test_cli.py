"""The control and webhook commands through the real command line (subprocesses), against a SQLite
store, the fake apiserver on 127.0.0.1, and the webhook served by ``kubecap webhook serve``."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from lightkube import codecs

from kubecap.control.certs import make_ca, make_serving
from kubecap.testing.admission import body, review, workload
from kubecap.testing.apiserver import FakeApiServer
from tests.notify_endpoint import Endpoint

Kubecap = Callable[..., subprocess.CompletedProcess[str]]


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBECAP_")}
    return {**env, "COLUMNS": "200"}


@pytest.fixture
def kubecap(tmp_path: Path) -> Kubecap:
    database = f"sqlite:///{tmp_path / 'k.db'}"

    def call(*args: str, store: bool = True, cluster: bool = True) -> subprocess.CompletedProcess[str]:
        extra = ["--database-url", database] if store else []
        extra += ["--cluster", "prod"] if store and cluster else []
        return subprocess.run(
            [sys.executable, "-m", "kubecap.cli", *args, *extra],
            capture_output=True,
            text=True,
            env=environment(),
            timeout=120,
        )

    return call


def one_sentence(result: subprocess.CompletedProcess[str], code: int, fragment: str) -> None:
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr
    assert fragment in result.stderr, result.stderr
    assert result.stderr.count("error:") == 1


def test_invalid_specs_are_one_sentence_and_exit_2(kubecap: Kubecap) -> None:
    one_sentence(
        kubecap(
            "control",
            "set",
            "web",
            "-n",
            "shop",
            "--replicas",
            "2",
            "--container",
            "app",
            "--cpu-request",
            "fast",
        ),
        2,
        "requests.cpu 'fast' is not a Kubernetes quantity",
    )
    one_sentence(
        kubecap(
            "control",
            "set",
            "web",
            "-n",
            "shop",
            "--replicas",
            "2",
            "--container",
            "app",
            "--cpu-request",
            "2",
            "--cpu-limit",
            "1",
        ),
        2,
        "the cpu limit 1 is below the request 2",
    )
    one_sentence(kubecap("control", "set", "web", "-n", "shop", "--replicas", "-3"), 2, "outside 0..100000")
    one_sentence(kubecap("control", "history", "web", "-n", "shop"), 3, "has never had a control spec")
    one_sentence(kubecap("control", "approve"), 2, "run `kubecap recommend` first")


def test_set_show_history_policy_and_unset(kubecap: Kubecap) -> None:
    done = kubecap(
        "control",
        "set",
        "web",
        "-n",
        "shop",
        "--replicas",
        "3",
        "--container",
        "app",
        "--cpu-request",
        "250m",
        "--remove",
        "limits.cpu",
        "--reason",
        "right-size",
    )
    assert done.returncode == 0, done.stderr
    assert "prod/shop/Deployment/web (new)" in done.stdout
    assert "app.limits.cpu: - -> unset" in done.stdout
    assert kubecap("control", "set", "web", "-n", "shop", "--replicas", "4", "--dry-run").stdout.count(
        "(dry run"
    )
    shown = json.loads(kubecap("control", "show", "--format", "json").stdout)
    assert shown["specs"][0]["replicas"] == 3
    assert shown["specs"][0]["containers"] == [
        {"container": "app", "requests": {"cpu": "250m"}, "limits": {"cpu": None}}
    ]
    policy = kubecap("control", "policy", "shop", "--enforcement", "warn", "--unmanaged", "reject")
    assert policy.returncode == 0 and "enforcement - -> warn" in policy.stdout
    assert "shop: enforcement warn, unmanaged reject, failure open" in kubecap("control", "policy").stdout
    assert kubecap("control", "unset", "web", "-n", "shop").returncode == 0
    history = kubecap("control", "history", "web", "-n", "shop")
    assert "version 1" in history.stdout and "(right-size)" in history.stdout and "removed" in history.stdout
    audit = json.loads(kubecap("audit", "--action", "control.set", "--format", "json", cluster=False).stdout)
    assert [e["target"] for e in audit] == ["prod/shop/Deployment/web"]


@pytest.fixture
def apiserver(tmp_path: Path) -> Iterator[tuple[FakeApiServer, Path]]:
    with FakeApiServer() as server:
        yield server, server.write_kubeconfig(tmp_path / "kubeconfig")


def test_webhook_install_status_and_uninstall_on_a_cluster(
    kubecap: Kubecap, apiserver: tuple[FakeApiServer, Path]
) -> None:
    server, kubeconfig = apiserver
    flags = ["--kubeconfig", str(kubeconfig)]
    installed = kubecap("webhook", "install", *flags, store=False)
    assert installed.returncode == 0, installed.stderr
    assert "applied MutatingWebhookConfiguration kubecap" in installed.stdout
    configuration = server.get("mutatingwebhookconfigurations", "", "kubecap")
    assert configuration["webhooks"][0]["failurePolicy"] == "Ignore"
    assert set(server.get("secrets", "kubecap", "kubecap-webhook-tls")["data"]) == {
        "tls.crt",
        "tls.key",
        "ca.crt",
    }
    checked = kubecap("webhook", "status", *flags, store=False)
    assert checked.returncode == 0, checked.stderr
    assert "installed: yes" in checked.stdout and "servingExpires" in checked.stdout
    assert "nothing to do" in kubecap("webhook", "install", *flags, store=False).stdout
    removed = kubecap("webhook", "uninstall", *flags, store=False)
    assert "deleted MutatingWebhookConfiguration kubecap" in removed.stdout
    assert kubecap("webhook", "status", *flags, store=False).returncode == 2


@pytest.mark.parametrize("mode", ["--self-signed", "--cert-manager"])
def test_manifests_are_valid_kubernetes_yaml(kubecap: Kubecap, mode: str) -> None:
    printed = kubecap("webhook", "manifests", mode, "--namespace", "platform", store=False)
    assert printed.returncode == 0, printed.stderr
    documents = list(yaml.safe_load_all(printed.stdout))
    kinds = [d["kind"] for d in documents]
    assert kinds[-1] == "MutatingWebhookConfiguration"
    for document in documents:
        assert document["apiVersion"] and document["metadata"]["name"]
        if document["apiVersion"].startswith("cert-manager.io"):
            continue
        parsed: Any = codecs.from_dict(document)  # lightkube's models: field names and types
        assert parsed.to_dict()["kind"] == document["kind"]
    webhook = documents[-1]["webhooks"][0]
    excluded = webhook["namespaceSelector"]["matchExpressions"][0]["values"]
    assert excluded == ["kube-system", "platform"]
    if mode == "--cert-manager":
        assert documents[-1]["metadata"]["annotations"] == {
            "cert-manager.io/inject-ca-from": "platform/kubecap-webhook-serving"
        }
    else:
        assert webhook["clientConfig"]["caBundle"]
        assert "private keys" in printed.stderr


@contextmanager
def serving(tmp_path: Path, *extra: str) -> Iterator[tuple[str, httpx.Client]]:
    """``kubecap webhook serve`` on 127.0.0.1 over the test's store, with a client trusting its CA."""
    now = datetime.now(UTC)
    ca = make_ca("cli-test", now, 2)
    serving = make_serving(ca, ["127.0.0.1"], now, 2)
    (tmp_path / "tls.crt").write_bytes(serving.cert_pem)
    (tmp_path / "tls.key").write_bytes(serving.key_pem)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubecap.cli",
            "webhook",
            "serve",
            "--no-read-annotations",
            "--cert-file",
            str(tmp_path / "tls.crt"),
            "--key-file",
            str(tmp_path / "tls.key"),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--database-url",
            f"sqlite:///{tmp_path / 'k.db'}",
            "--cluster",
            "prod",
            *extra,
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    )
    try:
        assert process.stderr is not None
        url = ""
        for _ in range(200):
            line = process.stderr.readline()
            if "kubecap webhook for cluster 'prod' on " in line:
                url = line.rsplit(" on ", 1)[1].strip().removesuffix("/mutate")
                break
            assert line, "the webhook exited before serving"
        with httpx.Client(
            verify=ssl.create_default_context(cadata=ca.cert_pem.decode()), timeout=10
        ) as client:
            for _ in range(100):
                if client.get(url + "/readyz").status_code == 200:
                    break
            yield url, client
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        if process.stderr is not None:
            process.stderr.close()
    assert process.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled


def test_webhook_serve_answers_reviews_over_https(kubecap: Kubecap, tmp_path: Path) -> None:
    assert kubecap("control", "set", "web", "-n", "shop", "--replicas", "2").returncode == 0
    with serving(tmp_path) as (url, client):
        obj = workload(replicas=5)
        answer = client.post(url + "/mutate?timeout=10s", content=body(review(obj))).json()["response"]
        assert answer["allowed"] is True and answer["patchType"] == "JSONPatch"
        assert "kubecap set replicas 5 -> 2" in answer["warnings"][0]


def test_webhook_serve_notifies_a_rejection_through_the_configured_channel(
    kubecap: Kubecap, tmp_path: Path, endpoint: Endpoint
) -> None:
    assert kubecap("control", "policy", "shop", "--unmanaged", "reject").returncode == 0
    config = tmp_path / "k.yaml"
    config.write_text(
        "notifications:\n  attempts: 1\n  channels:\n"
        f"    - {{name: platform, urls: ['{endpoint.url}'], events: [webhook_rejection]}}\n"
    )
    with serving(tmp_path, "--config", str(config)) as (url, client):
        for _ in range(3):
            answer = client.post(url + "/mutate", content=body(review(workload("other")))).json()["response"]
            assert answer["allowed"] is False
        for _ in range(400):  # the recorder's linger, then the notifications' flush
            if endpoint.received:
                break
            time.sleep(0.025)
    assert [m["title"] for m in endpoint.received] == [
        "[kubecap/prod] webhook rejected Deployment shop/other"
    ]
    assert "kubecap control set deployment/other -n shop" in endpoint.received[0]["message"]
    audit = kubecap("audit", "--action", "notify", "--format", "json", cluster=False)
    assert audit.returncode == 0, audit.stderr
    [delivery] = json.loads(audit.stdout)
    assert delivery["result"] == "ok" and delivery["target"] == "channel platform"
