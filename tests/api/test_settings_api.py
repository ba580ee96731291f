"""Settings over real HTTP: prices, notification channels (URLs never shown back, a real test
delivery), the Prometheus connection test, nodes live or daily, and tasks for now run at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kubecap.api.auth import Role
from kubecap.api.live import Live
from kubecap.cluster.port import Taint
from kubecap.config import ClusterSettings, Settings
from kubecap.ops.runner import TaskRunner
from kubecap.scheduling.load import Figure, LoadSnapshot, NodeLoad, ResourceLoad
from kubecap.store import Store
from kubecap.testing.cluster import InMemoryCluster
from tests.api.inproc import copy_settings, login, serve
from tests.notify_endpoint import Endpoint, notification_endpoint


@pytest.fixture
def cluster() -> InMemoryCluster:
    memory = InMemoryCluster(name="demo")
    memory.add_workload("shop", "frontend", replicas=3)
    memory.add_node("node-a", taints=(Taint("kubecap.io/overloaded", "PreferNoSchedule"),))
    memory.add_node("node-b")
    return memory


@pytest.fixture
def url(seeded: Settings, tmp_path: Path, cluster: InMemoryCluster) -> Iterator[str]:
    async def load() -> LoadSnapshot:
        # What the node-load cache hands over (its reading of Prometheus is tested in tests/scheduling).
        at = datetime.now(UTC)
        busy = ResourceLoad(avg_5m=Figure(0.42, at), max_1h=Figure(0.7, at))
        return LoadSnapshot(at, {"node-a": NodeLoad("node-a", cpu=busy)})

    def live(store: Store) -> Live:
        runner = TaskRunner(store, lambda name: cluster)
        return Live(clusters={"demo": cluster}, node_load={"demo": load}, runner=runner)

    with serve(copy_settings(seeded, tmp_path), live) as base:
        yield base


@pytest.fixture
def plain_url(seeded: Settings, tmp_path: Path) -> Iterator[str]:
    with serve(copy_settings(seeded, tmp_path)) as base:
        yield base


@pytest.fixture
def receiver() -> Iterator[Endpoint]:
    with notification_endpoint() as found:
        yield found


def problem(answer: Any, status: int) -> str:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    detail: str = answer.json()["detail"]
    assert "Traceback" not in detail
    return detail


def test_prices_are_validated_saved_audited_and_shown_with_their_source(url: str) -> None:
    admin, csrf = login(url, Role.ADMIN)
    with admin:
        saved = admin.put(
            "/api/settings/prices/cluster/demo", json={"cpu_price": 0.05, "memory_price": 0.006}, headers=csrf
        )
        assert saved.status_code == 200, saved.text
        rows = admin.get("/api/settings/prices").json()
        assert {"scope": "cluster", "name": "demo", "source": "database"}.items() <= next(
            r for r in rows if r["scope"] == "cluster"
        ).items()
        assert "0.05" in str(rows)
        negative = admin.put(
            "/api/settings/prices/cluster/demo", json={"cpu_price": -1, "memory_price": 0.006}, headers=csrf
        )
        assert "CPU price" in problem(negative, 422)
        unknown = admin.put(
            "/api/settings/prices/pool/no-such-pool", json={"cpu_price": 1, "memory_price": 1}, headers=csrf
        )
        assert "no-such-pool" in problem(unknown, 422)
        scope = admin.put(
            "/api/settings/prices/rack/r1", json={"cpu_price": 1, "memory_price": 1}, headers=csrf
        )
        assert scope.status_code == 422
        audit = admin.get("/api/audit", params={"action": "price.set"}).json()["items"]
        assert [e["target"] for e in audit] == ["cluster demo"]
        assert admin.delete("/api/settings/prices/cluster/demo", headers=csrf).status_code == 204
        assert "no saved price" in problem(
            admin.delete("/api/settings/prices/cluster/demo", headers=csrf), 404
        )


def test_channels_keep_their_urls_secret_and_send_a_real_test(url: str, receiver: Endpoint) -> None:
    admin, csrf = login(url, Role.ADMIN)
    secret = receiver.url
    with admin:
        saved = admin.put(
            "/api/settings/channels/oncall",
            json={"urls": [secret], "clusters": ["demo"], "events": ["task_result"]},
            headers=csrf,
        )
        assert saved.status_code == 200, saved.text
        assert saved.json()["urls"] == ["json://••••"]
        for path in ("/api/settings/channels", "/api/settings", "/api/audit"):
            assert str(receiver.port) not in admin.get(path).text, path
        # Editing without URLs keeps the saved ones.
        edited = admin.put("/api/settings/channels/oncall", json={"events": ["node_taint"]}, headers=csrf)
        assert edited.json()["events"] == ["node_taint"]
        sent = admin.post("/api/settings/channels/oncall/test", headers=csrf)
        assert sent.json() == {"channel": "oncall", "ok": True, "reason": ""}
        assert receiver.received and "test message" in json.dumps(receiver.received[0])
        bad = admin.put("/api/settings/channels/broken", json={"urls": ["not a url"]}, headers=csrf)
        assert "apprise" in problem(bad, 422)
        event = admin.put(
            "/api/settings/channels/x", json={"urls": [secret], "events": ["sometimes"]}, headers=csrf
        )
        assert "sometimes" in problem(event, 422)
        new_without = admin.put("/api/settings/channels/y", json={}, headers=csrf)
        assert "at least one" in problem(new_without, 422)
        actions = [e["action"] for e in admin.get("/api/audit", params={"target": "channel"}).json()["items"]]
        assert actions == ["channel.save", "channel.save", "channel.test"]
        assert admin.delete("/api/settings/channels/oncall", headers=csrf).status_code == 204
        assert admin.get("/api/settings/channels").json() == []
    viewer, viewer_csrf = login(url, Role.VIEWER)
    with viewer:
        denied = viewer.put("/api/settings/channels/z", json={"urls": [secret]}, headers=viewer_csrf)
        assert denied.status_code == 403


def test_prometheus_test_says_what_it_found(plain_url: str, seeded: Settings, tmp_path: Path) -> None:
    operator, csrf = login(plain_url, Role.OPERATOR)
    with operator:
        checks = operator.post("/api/settings/prometheus/test", headers=csrf).json()
        assert [c["cluster"] for c in checks] == ["demo"]
        assert not checks[0]["reachable"] and "no Prometheus" in checks[0]["message"]
        assert "not configured" in problem(
            operator.post("/api/settings/prometheus/test", params={"cluster": "nope"}, headers=csrf), 404
        )
    # A Prometheus nobody answers at: one sentence, not a traceback.
    far = ClusterSettings.model_validate({"name": "far", "prometheus": {"url": "http://127.0.0.1:9/"}})
    with serve(copy_settings(seeded, tmp_path, clusters=[far])) as base:
        operator, csrf = login(base, Role.OPERATOR)
        with operator:
            (check,) = operator.post("/api/settings/prometheus/test", headers=csrf).json()
    assert check["cluster"] == "far" and not check["reachable"] and not check["ok"]
    assert "127.0.0.1:9" in check["message"] and "Traceback" not in check["message"]


def test_nodes_are_live_with_taints_where_the_cluster_api_is_wired(url: str, plain_url: str) -> None:
    viewer, _ = login(url, Role.VIEWER)
    with viewer:
        body = viewer.get("/api/nodes").json()
        live = {r["node"]: r for r in body["items"] if r["source"] == "live"}
        assert set(live) == {"node-a", "node-b"}
        assert live["node-a"]["taints"] == ["kubecap.io/overloaded:PreferNoSchedule"]
        assert live["node-b"]["taints"] == []
        assert (live["node-a"]["load"], live["node-a"]["cpu_avg_5m"], live["node-a"]["cpu_max_1h"]) == (
            "live",
            0.42,
            0.7,
        )
        assert live["node-b"]["load"] == "none" and live["node-b"]["cpu_avg_5m"] is None
        assert not [r for r in body["items"] if r["source"] == "daily" and r["cluster"] == "demo"]
    viewer, _ = login(plain_url, Role.VIEWER)
    with viewer:
        rows = viewer.get("/api/nodes").json()["items"]
        assert rows and {r["source"] for r in rows} == {"daily"}


def test_a_task_for_now_runs_at_once(url: str, plain_url: str, cluster: InMemoryCluster) -> None:
    operator, csrf = login(url, Role.OPERATOR)
    with operator:
        answer = operator.post(
            "/api/tasks",
            json={"operation": "scale", "workload_id": "demo/shop/Deployment/frontend", "replicas": 5},
            headers=csrf,
        )
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert [r["state"] for r in body["runs"]] == ["succeeded"], body
        assert cluster.calls_for("scale")
        assert next(iter(cluster.workloads.values())).replicas == 5
        cron = operator.post(
            "/api/tasks",
            json={
                "operation": "restart",
                "workload_id": "demo/shop/Deployment/frontend",
                "cron": "0 3 * * *",
            },
            headers=csrf,
        )
        assert "runs" not in cron.json()
    operator, csrf = login(plain_url, Role.OPERATOR)
    with operator:
        queued = operator.post(
            "/api/tasks",
            json={"operation": "scale", "workload_id": "demo/shop/Deployment/frontend", "replicas": 2},
            headers=csrf,
        ).json()
        assert queued["runs"] == [] and "queued" in queued["ran"]
