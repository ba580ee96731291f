"""`kubecap demo` (serve on the simulated cluster) runs the background loops: a task created through
its API executes without `kubecap tasks run`, and /readyz and /metrics report the loops."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.api.conftest import Server, start, stop


def loops_holder(client: httpx.Client) -> str:
    holder: str = client.get("/readyz").json()["loops"]["holder"]
    return holder


def test_a_task_created_through_the_api_runs_by_itself() -> None:
    process, url, password = start(["demo", "--days", "2", "--port", "0"])
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            login = client.post("/api/auth/login", json={"username": "admin", "password": password})
            assert login.status_code == 200, login.text
            csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
            # A few seconds ahead: a task for now runs within the request; this one must wait for the loop.
            at = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
            created = client.post(
                "/api/tasks",
                json={
                    "operation": "scale",
                    "workload_id": "demo/shop/Deployment/frontend",
                    "replicas": 6,
                    "at": at,
                },
                headers=csrf,
            )
            assert created.status_code == 201, created.text
            task_id = created.json()["id"]
            runs: list[dict[str, object]] = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not runs:
                runs = client.get(f"/api/tasks/{task_id}").json()["runs"]
                time.sleep(0.2)
            assert [r["state"] for r in runs] == ["succeeded"], runs
            assert runs[0]["runner"] == loops_holder(client)
            ready = client.get("/readyz").json()
            loops = ready["loops"]
            assert loops["leader"] is True
            assert {"leader", "collection", "tasks"} <= set(loops["loops"])
            assert loops["loops"]["tasks"]["passes"] >= 1
            metrics = client.get("/metrics").text
            assert 'kubecap_loop_passes_total{loop="tasks",result="ok"}' in metrics
            assert "kubecap_leader 1.0" in metrics
    finally:
        stop(process)


def test_serve_leads_by_database_lease_and_its_runner_explains_a_cluster_without_api(
    server: Server, tokens: dict[str, str]
) -> None:
    """`kubecap serve` with no cluster API: the lease is a database row, and a due task fails with a
    sentence naming the missing setting instead of waiting for `kubecap tasks run`."""
    headers = {"Authorization": f"Bearer {tokens['operator']}"}
    with server.client() as client:
        loops = client.get("/readyz").json()["loops"]
        assert loops["leader"] is True and loops["holder"]
        assert {"leader", "collection", "tasks"} <= set(loops["loops"])
        at = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
        created = client.post(
            "/api/tasks",
            json={"operation": "restart", "workload_id": "demo/shop/Deployment/frontend", "at": at},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        runs: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not runs:
            runs = client.get(f"/api/tasks/{created.json()['id']}", headers=headers).json()["runs"]
            time.sleep(0.2)
        assert runs and runs[0]["state"] in ("failed", "retry"), runs
        assert "no Kubernetes API configured" in runs[0]["message"]


def test_the_demo_starts_with_a_previewed_predictive_policy_decided_from_its_simulation() -> None:
    """shop/cart is opted in, in preview: the leader's first predict round forecasts its simulated load
    (no Prometheus in the demo) and records a decision; nothing is scaled."""
    process, url, password = start(["demo", "--days", "2", "--port", "0"])
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            login = client.post("/api/auth/login", json={"username": "admin", "password": password})
            assert login.status_code == 200, login.text
            policies: list[dict[str, Any]] = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (policies and policies[0]["last_at"]):
                policies = client.get("/api/predict/policies").json()["items"]
                time.sleep(0.2)
            (cart,) = policies
            assert cart["workload"] == "demo/shop/Deployment/cart" and cart["preview"] is True
            assert cart["error"] is None, cart["error"]
            assert cart["last_reason"].startswith("forecast load "), cart["last_reason"]
            assert 1 <= cart["last_replicas"] <= 8
            assert client.get("/readyz").json()["loops"]["loops"]["predict"]["passes"] >= 1
    finally:
        stop(process)
