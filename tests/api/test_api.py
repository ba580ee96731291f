"""The API over real HTTP: logins, sessions, CSRF, tokens, lists, tasks, approvals, audit, and bad
input answered with problem documents (never a traceback)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import Server, start, stop

PROBLEM = "application/problem+json"


def problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    body: dict[str, Any] = answer.json()
    assert body["status"] == status and body["detail"] and "Traceback" not in answer.text
    return body


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def first_workload(server: Server, token: str) -> str:
    with server.client() as c:
        items = c.get("/api/workloads", params={"limit": 1}, headers=auth(token)).json()["items"]
    workload_id: str = items[0]["id"]
    return workload_id


def test_health_readiness_metrics_and_docs_are_open(server: Server) -> None:
    with server.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").status_code == 200
        assert "kubecap_api_requests_total" in c.get("/metrics").text
        assert "/api/workloads" in c.get("/api/openapi.json").json()["paths"]
        assert c.get("/api/docs").status_code == 200


def test_a_wrong_password_is_refused_and_audited(server: Server, tokens: dict[str, str]) -> None:
    with server.client() as c:
        body = problem(c.post("/api/auth/login", json={"username": "admin", "password": "wrong"}), 401)
        assert "wrong user name or password" in body["detail"]
        events = c.get(
            "/api/audit", params={"action": "login", "result": "rejected"}, headers=auth(tokens["viewer"])
        ).json()["items"]
    assert any(e["actor"] == "admin" for e in events)


def test_repeated_failed_logins_are_rate_limited(server: Server) -> None:
    with server.client() as c:
        for _ in range(5):
            problem(c.post("/api/auth/login", json={"username": "mallory", "password": "guess"}), 401)
        answer = c.post("/api/auth/login", json={"username": "mallory", "password": "guess"})
    body = problem(answer, 429)
    assert "too many failed logins" in body["detail"] and int(answer.headers["retry-after"]) > 0


def test_session_cookie_flags_and_csrf(server: Server) -> None:
    client, csrf = server.login()
    with closing(client):
        cookie = client.cookies.jar
        session = next(c for c in cookie if c.name == "kubecap_session")
        assert session.has_nonstandard_attr("HttpOnly") and not session.secure  # plain HTTP here
        assert client.get("/api/auth/me").json()["role"] == "admin"
        body = {"name": "no-csrf"}
        assert problem(client.post("/api/tokens", json=body), 403)["type"].endswith("/csrf")
        problem(client.post("/api/tokens", json=body, headers={"X-CSRF-Token": "forged"}), 403)
        assert client.post("/api/tokens", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
        assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    # The cookie of an ended session no longer works.
    with server.client() as again:
        again.cookies.set("kubecap_session", session.value or "")
        assert "log in again" in problem(again.get("/api/auth/me"), 401)["detail"]


def test_tokens_are_shown_once_and_can_be_revoked(server: Server, tokens: dict[str, str]) -> None:
    with server.client() as c:
        created = c.post("/api/tokens", json={"name": "once"}, headers=auth(tokens["viewer"]))
        assert created.status_code == 201
        secret = created.json()["token"]
        listed = c.get("/api/tokens", headers=auth(secret)).json()
        assert all("token" not in t and secret not in json.dumps(t) for t in listed)
        assert c.delete(f"/api/tokens/{created.json()['id']}", headers=auth(secret)).status_code == 204
        problem(c.get("/api/auth/me", headers=auth(secret)), 401)
        problem(c.get("/api/auth/me", headers=auth("kcp_made-up")), 401)


def test_workloads_list_pages_filters_and_sorts(server: Server, tokens: dict[str, str]) -> None:
    with server.client() as c:
        everything = c.get("/api/workloads", params={"limit": 1000}, headers=auth(tokens["viewer"])).json()
        assert everything["total"] > 5
        page = c.get(
            "/api/workloads", params={"limit": 2, "offset": 1, "sort": "name"}, headers=auth(tokens["viewer"])
        ).json()
        names = sorted(i["name"] for i in everything["items"])
        assert [i["name"] for i in page["items"]] == names[1:3] and page["total"] == everything["total"]
        namespace = everything["items"][0]["namespace"]
        filtered = c.get(
            "/api/workloads", params={"namespace": namespace}, headers=auth(tokens["viewer"])
        ).json()
        assert filtered["total"] < everything["total"] and {i["namespace"] for i in filtered["items"]} == {
            namespace
        }
        body = problem(
            c.get("/api/workloads", params={"sort": "colour"}, headers=auth(tokens["viewer"])), 422
        )
        assert "cannot sort by 'colour'" in body["detail"]
        problem(c.get("/api/workloads", params={"limit": 0}, headers=auth(tokens["viewer"])), 422)


def test_workload_detail_has_daily_usage_and_recommendations(server: Server, tokens: dict[str, str]) -> None:
    workload_id = first_workload(server, tokens["viewer"])
    with server.client() as c:
        detail = c.get(f"/api/workloads/{workload_id}", headers=auth(tokens["viewer"])).json()
        assert detail["workload"]["id"] == workload_id
        assert {r["window"] for r in detail["series"]} >= {"day"} and len(
            {r["window"] for r in detail["series"]}
        ) > 1
        assert detail["recommendations"] and detail["recommendations"][0]["explanation"]
        body = problem(
            c.get("/api/workloads/demo/nowhere/Deployment/ghost", headers=auth(tokens["viewer"])), 404
        )
        assert "ghost" in body["detail"]
        problem(c.get("/api/workloads/demo/shop/Pod/x", headers=auth(tokens["viewer"])), 422)


def test_overview_has_totals_tops_trend_and_cost(server: Server, tokens: dict[str, str]) -> None:
    with server.client() as c:
        data = c.get("/api/overview", headers=auth(tokens["viewer"])).json()
    assert 0 < data["cpu"]["used"] < data["cpu"]["allocatable"]
    assert data["cost_per_month_usd"] > 0 and len(data["trend"]) >= 3
    assert len(data["top_workloads_by_waste"]) == 10


def test_approving_a_recommendation_returns_the_diff_and_audits_it(
    server: Server, tokens: dict[str, str]
) -> None:
    workload_id = first_workload(server, tokens["viewer"])
    with server.client() as c:
        answer = c.post(
            "/api/recommendations/approve",
            json={"workload_id": workload_id},
            headers=auth(tokens["operator"]),
        )
        assert answer.status_code == 200, answer.text
        changes = answer.json()["changes"]
        assert changes and changes[0]["diff"]
        specs = c.get("/api/control/specs", headers=auth(tokens["viewer"])).json()
        assert any(s["workload"] == workload_id for s in specs)
        events = c.get(
            "/api/audit", params={"action": "control.approve"}, headers=auth(tokens["viewer"])
        ).json()
        assert any(workload_id in e["target"] for e in events["items"])


def test_tasks_at_a_time_and_on_cron_can_be_cancelled_with_history(
    server: Server, tokens: dict[str, str]
) -> None:
    workload_id = first_workload(server, tokens["viewer"])
    op = auth(tokens["operator"])
    with server.client() as c:
        at = c.post(
            "/api/tasks",
            json={"operation": "scale", "workload_id": workload_id, "replicas": 3, "at": "2099-01-01 03:00"},
            headers=op,
        )
        assert at.status_code == 201, at.text
        cron = c.post(
            "/api/tasks",
            json={
                "operation": "restart",
                "workload_id": workload_id,
                "cron": "0 22 * * *",
                "timezone": "Asia/Shanghai",
            },
            headers=op,
        )
        assert cron.status_code == 201, cron.text
        task_id = at.json()["id"]
        assert c.post(f"/api/tasks/{task_id}/cancel", headers=op).json()["state"] == "cancelled"
        history = c.get(f"/api/tasks/{task_id}", headers=auth(tokens["viewer"])).json()
        assert history["task"]["state"] == "cancelled" and history["runs"] == []
        listed = c.get("/api/tasks", params={"state": "active"}, headers=op).json()["items"]
        assert cron.json()["id"] in [t["id"] for t in listed] and task_id not in [t["id"] for t in listed]
        actions = [
            e["action"]
            for e in c.get("/api/audit", params={"target": workload_id.split("/")[-1]}, headers=op).json()[
                "items"
            ]
        ]
        assert "task.add" in actions and "task.cancel" in actions
        # Bad input: one sentence each, as a problem document.
        body = problem(
            c.post(
                "/api/tasks",
                json={"operation": "scale", "workload_id": workload_id, "replicas": 1, "cron": "every day"},
                headers=op,
            ),
            422,
        )
        assert "cron" in body["detail"]
        problem(c.post("/api/tasks", json={"operation": "scale", "workload_id": "nonsense"}, headers=op), 422)
        problem(
            c.post("/api/tasks", json={"operation": "explode", "workload_id": workload_id}, headers=op), 422
        )
        problem(c.post(f"/api/tasks/{task_id}/cancel", headers=op), 422)  # already cancelled
        problem(c.get("/api/tasks/424242", headers=op), 404)
        problem(
            c.post(
                "/api/tasks",
                json={"operation": "restart", "workload_id": workload_id},
                headers=auth(tokens["viewer"]),
            ),
            403,
        )


def test_audit_exports_csv_and_json(server: Server, tokens: dict[str, str]) -> None:
    with server.client() as c:
        csv_text = c.get("/api/audit/export", headers=auth(tokens["viewer"])).text
        assert csv_text.splitlines()[0].startswith("id,at,actor,action")
        rows = c.get("/api/audit/export", params={"format": "json"}, headers=auth(tokens["viewer"])).json()
        assert rows and {"actor", "action", "target"} <= set(rows[0])
        problem(
            c.get("/api/audit", params={"since": "2026-01-01T00:00:00"}, headers=auth(tokens["viewer"])), 422
        )


def test_users_admin_can_create_change_and_disable(server: Server, tokens: dict[str, str]) -> None:
    admin = auth(tokens["admin"])
    with server.client() as c:
        created = c.post(
            "/api/users",
            json={"username": "dora", "role": "viewer", "password": "correct horse battery"},
            headers=admin,
        )
        assert created.status_code == 201 and created.json()["password"] is None
        problem(c.post("/api/users", json={"username": "dora"}, headers=admin), 422)
        problem(c.post("/api/users", json={"username": "eve", "password": "short"}, headers=admin), 422)
        user_id = created.json()["id"]
        assert (
            c.patch(f"/api/users/{user_id}", json={"role": "operator"}, headers=admin).json()["role"]
            == "operator"
        )
        assert (
            c.post(
                "/api/auth/login", json={"username": "dora", "password": "correct horse battery"}
            ).status_code
            == 200
        )
        c.patch(f"/api/users/{user_id}", json={"disabled": True}, headers=admin)
        problem(
            c.post("/api/auth/login", json={"username": "dora", "password": "correct horse battery"}), 401
        )
        problem(c.patch("/api/users/999999", json={"role": "admin"}, headers=admin), 404)
        assert any(e["action"] == "user.update" for e in c.get("/api/audit", headers=admin).json()["items"])


@pytest.fixture(scope="module")
def short_sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A second server: sessions of about a second, and a Prometheus with secrets configured."""
    database = f"sqlite:///{tmp_path_factory.mktemp('short') / 'kubecap.db'}"
    clusters = [{"name": "prod", "prometheus": {"url": "http://127.0.0.1:9", "bearer_token": "s3cret-token"}}]
    channels = {"channels": [{"name": "ops", "urls": ["slack://s3cret-hook/abc/def"]}]}
    env = {
        "KUBECAP_API__SESSION_HOURS": "0.0003",
        "KUBECAP_CLUSTERS": json.dumps(clusters),
        "KUBECAP_NOTIFICATIONS": json.dumps(channels),
    }
    process, url, password = start(["serve", "--database-url", database, "--port", "0"], env=env)
    try:
        yield Server(url, password, database, process)
    finally:
        stop(process)


def test_an_expired_session_is_refused(short_sessions: Server) -> None:
    client, _ = short_sessions.login()
    with closing(client):
        secret = client.cookies["kubecap_session"]
    time.sleep(1.5)  # the session lasts 0.0003 h ≈ 1.1 s
    with short_sessions.client() as again:
        # Sent by hand: a browser would drop the expired cookie, an attacker would not.
        answer = again.get("/api/auth/me", headers={"Cookie": f"kubecap_session={secret}"})
    assert "expired" in problem(answer, 401)["detail"]


def test_settings_never_return_secrets(short_sessions: Server, tmp_path: Path) -> None:
    client, _ = short_sessions.login()
    with closing(client):
        answer = client.get("/api/settings")
    assert answer.status_code == 200
    assert "s3cret" not in answer.text
    assert answer.json()["clusters"][0]["prometheus"]["auth"] == "bearer"


def test_control_specs_and_policies_are_edited_with_diffs_and_bad_quantities_refused(
    server: Server, tokens: dict[str, str]
) -> None:
    op, admin = auth(tokens["operator"]), auth(tokens["admin"])
    path = "/api/control/specs/demo/edit/Deployment/api"
    with server.client() as c:
        body = {"replicas": 3, "container": {"container": "app", "requests": {"cpu": "lots"}}}
        assert "lots" in problem(c.put(path, json=body, headers=op), 422)["detail"]
        body["container"] = {"container": "app", "requests": {"cpu": "250m", "memory": "256Mi"}}
        created = c.put(path, json=body, headers=op)
        assert created.status_code == 200, created.text
        assert "replicas: - -> fixed 3" in created.json()["diff"]
        assert any(
            s["workload"] == "demo/edit/Deployment/api"
            for s in c.get("/api/control/specs", headers=op).json()
        )
        assert c.delete(path, headers=op).json()["state"].endswith("(removed)")
        problem(c.delete(path, headers=op), 404)
        problem(c.put("/api/control/policies/demo/edit", json={"enforcement": "warn"}, headers=op), 403)
        policy = c.put("/api/control/policies/demo/edit", json={"enforcement": "warn"}, headers=admin).json()
        assert policy["after"]["enforcement"] == "warn"
        listed = c.get("/api/control/policies", params={"cluster": "demo"}, headers=op).json()
        assert {"cluster": "demo", "namespace": "edit"}.items() <= listed[0].items()
        problem(c.put("/api/control/policies/demo/edit", json={"enforcement": "maybe"}, headers=admin), 422)
        assert c.delete("/api/control/policies/demo/edit", headers=admin).status_code == 204
        problem(c.delete("/api/control/policies/demo/edit", headers=admin), 404)


def test_a_user_cannot_revoke_someone_else_s_token(server: Server, tokens: dict[str, str]) -> None:
    with server.client() as c:
        created = c.post("/api/tokens", json={"name": "mine", "days": 1}, headers=auth(tokens["operator"]))
        token_id = created.json()["id"]
        assert created.json()["expires_at"] is not None
        problem(c.delete(f"/api/tokens/{token_id}", headers=auth(tokens["viewer"])), 404)
        assert c.delete(f"/api/tokens/{token_id}", headers=auth(tokens["admin"])).status_code == 204


def test_a_scale_of_a_workload_whose_hpa_owns_its_replicas_is_refused_when_submitted(
    server: Server, tokens: dict[str, str]
) -> None:
    op = auth(tokens["operator"])
    with server.client() as c:
        items = c.get("/api/workloads", params={"limit": 3}, headers=op).json()["items"]
        workload_id = items[-1]["id"]  # not the first: other tests approve that one
        assert c.put(f"/api/control/specs/{workload_id}", json={"mode": "hpa"}, headers=op).status_code == 200
        body = problem(
            c.post(
                "/api/tasks",
                json={
                    "operation": "scale",
                    "workload_id": workload_id,
                    "replicas": 3,
                    "at": "2099-01-01 03:00",
                },
                headers=op,
            ),
            422,
        )
        assert "replicas mode hpa" in body["detail"]
        assert c.delete(f"/api/control/specs/{workload_id}", headers=op).status_code in (200, 204)
