"""The predictive-replicas routes over real HTTP (`kubecap serve` on 127.0.0.1): roles, audit, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import Server, start, stop

PATH = "/api/predict/policies/prod/shop/Deployment/web"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root: Path = tmp_path_factory.mktemp("predict-api")
    url = f"sqlite:///{root / 'kubecap.db'}"
    process, base, password = start(["serve", "--database-url", url, "--host", "127.0.0.1", "--port", "0"])
    try:
        yield Server(base, password, url, process)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def tokens(server: Server) -> dict[str, str]:
    return {role: server.token(role) for role in ("viewer", "operator")}


def client(server: Server, tokens: dict[str, str], role: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {tokens[role]}"})


def test_an_operator_opts_a_workload_in_and_out_and_every_change_is_audited(
    server: Server, tokens: dict[str, str]
) -> None:
    body: dict[str, Any] = {
        "target": 0.5,
        "max_replicas": 8,
        "lead_seconds": 3600,
        "mode": "hpa-min",
        "crons": [{"start": "0 9 * * 1-5", "end": "0 18 * * 1-5", "replicas": 4, "timezone": "Europe/Paris"}],
        "preview": True,
    }
    with client(server, tokens, "operator") as operator, client(server, tokens, "viewer") as viewer:
        created = operator.put(PATH, json=body)
        assert created.status_code == 200, created.text
        assert created.json()["before"] is None and created.json()["after"]["mode"] == "hpa-min"
        changed = operator.put(PATH, json={**body, "max_replicas": 9})
        assert changed.json()["before"]["max_replicas"] == 8
        listed = viewer.get("/api/predict/policies", params={"q": "web"}).json()
        assert listed["total"] == 1
        (item,) = listed["items"]
        assert (item["workload"], item["max_replicas"], item["preview"], item["last_replicas"]) == (
            "prod/shop/Deployment/web",
            9,
            True,
            None,
        )
        assert viewer.put(PATH, json=body).status_code == 403
        assert operator.delete(PATH).status_code == 204
        missing = operator.delete(PATH)
        assert missing.status_code == 404 and "has no predictive-replicas policy" in missing.json()["detail"]
        actions = [
            e["action"]
            for e in viewer.get("/api/audit", params={"target": "shop/Deployment/web"}).json()["items"]
        ]
        assert actions == ["predict.set", "predict.set", "predict.unset"]


@pytest.mark.parametrize(
    ("path", "body", "detail"),
    [
        (PATH, {"target": 0}, "target per replica 0.0 must be a positive number"),
        (PATH, {"target": 1, "min_replicas": 3, "max_replicas": 2}, "0 <= min <= max"),
        (
            PATH,
            {"target": 1, "crons": [{"start": "9am", "end": "0 18 * * *", "replicas": 2}]},
            "'9am' is not a cron",
        ),
        (PATH, {"target": 1, "signal": "promql"}, "needs an expression"),
        (
            "/api/predict/policies/prod/kube-system/DaemonSet/agent",
            {"target": 1},
            "Deployments and StatefulSets",
        ),
        ("/api/predict/policies/prod/shop/Pod/web", {"target": 1}, "'Pod'"),
        (PATH, {"target": 1, "mode": "sideways"}, "mode"),
    ],
)
def test_bad_policies_are_a_problem_document_in_one_sentence(
    server: Server, tokens: dict[str, str], path: str, body: dict[str, Any], detail: str
) -> None:
    with client(server, tokens, "operator") as operator:
        answer = operator.put(path, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert detail in answer.json()["detail"] and "\n" not in answer.json()["detail"]
