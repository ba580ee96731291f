"""The webhook over real HTTPS on 127.0.0.1, with AdmissionReview bodies as kube-apiserver sends them."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import jsonpatch
import pytest

from kubecap.control.certs import make_serving
from kubecap.control.server import StalePolicy
from kubecap.domain.audit import AuditFilter, AuditResult
from kubecap.domain.control import (
    ContainerSpec,
    ControlSnapshot,
    Enforcement,
    Failure,
    NamespacePolicy,
    ReplicasMode,
    Unmanaged,
)
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.store import Store
from kubecap.testing.admission import body, container, review, scale_review, workload
from tests.control.builders import CLUSTER, NOW, containers_of, policy, spec
from tests.control.conftest import Running, TlsFiles, serve_webhook, write_pair


@pytest.fixture
async def sqlite_store(sqlite_url: str) -> AsyncIterator[Store]:
    async with await Store.open(sqlite_url) as opened:
        await opened.save_control_specs([spec()], now=NOW, actor="alice", reason="approved")
        yield opened


@pytest.fixture
async def running(sqlite_store: Store, tls_files: TlsFiles) -> AsyncIterator[Running]:
    async with serve_webhook(sqlite_store, tls_files) as served:
        yield served


def answer(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    document = json.loads(response.content)
    assert document["apiVersion"] == "admission.k8s.io/v1" and document["kind"] == "AdmissionReview"
    result: dict[str, Any] = document["response"]
    return result


def apply(obj: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    assert response["patchType"] == "JSONPatch"
    operations = json.loads(base64.b64decode(response["patch"]))
    result: dict[str, Any] = jsonpatch.apply_patch(obj, operations)
    return result


async def test_a_create_is_mutated_audited_and_counted(running: Running, sqlite_store: Store) -> None:
    obj = workload(replicas=5)
    document = review(obj)
    response = answer(await running.post(body(document)))
    assert response["uid"] == document["request"]["uid"] and response["allowed"] is True
    result = apply(obj, response)
    assert result["spec"]["replicas"] == 2
    assert containers_of(result)["app"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"memory": "512Mi"},
    }
    assert response["warnings"][0].startswith("kubecap set replicas 5 -> 2")
    await running.recorder.drain()
    events = await sqlite_store.audit_events(AuditFilter(action="webhook.mutate"))
    assert [(e.target, e.result, e.request_id) for e in events] == [
        (f"{CLUSTER}/shop/Deployment/web", AuditResult.OK, document["request"]["uid"])
    ]
    assert events[0].before == {
        "replicas": 5,
        "app.requests.cpu": "500m",
        "app.requests.memory": "512Mi",
        "app.limits.cpu": "1",
        "app.limits.memory": "1Gi",
    }
    assert "CREATE by kubernetes-admin" in events[0].message
    metrics = (await running.client.get(running.url + "/metrics")).text
    assert 'kubecap_webhook_decisions_total{outcome="mutated"} 1.0' in metrics
    assert "kubecap_webhook_review_seconds_bucket" in metrics
    assert "kubecap_webhook_snapshot_age_seconds" in metrics


async def test_updates_follow_the_three_principles(running: Running) -> None:
    old = workload(
        replicas=2, containers=[container("app", {"cpu": "250m", "memory": "256Mi"}, {"memory": "512Mi"})]
    )
    relabelled = json.loads(json.dumps(old))
    relabelled["metadata"]["labels"]["tier"] = "gold"
    assert "patch" not in answer(await running.post(body(review(relabelled, old))))
    rescaled = json.loads(json.dumps(old))
    rescaled["spec"]["replicas"] = 9
    response = answer(await running.post(body(review(rescaled, old))))
    assert apply(rescaled, response)["spec"]["replicas"] == 2
    scaled = scale_review(replicas=9, old_replicas=2)
    response = answer(await running.post(body(scaled)))
    assert apply(scaled["request"]["object"], response)["spec"]["replicas"] == 2


async def test_health_readiness_and_routing_on_the_path(running: Running) -> None:
    assert (await running.client.get(running.url + "/healthz")).status_code == 200
    ready = await running.client.get(running.url + "/readyz")
    assert ready.status_code == 200 and "revision 1" in ready.text
    assert (await running.client.get(running.url + "/mutate")).status_code == 405
    assert (await running.client.get(running.url + "/nothing")).status_code == 404
    # Any query string, as the apiserver appends ?timeout=..., is ignored.
    for path in ("/mutate", "/mutate?timeout=30s", "/mutate?timeout=1s&x=%00"):
        assert answer(await running.post(body(review(workload())), path=path))["allowed"] is True


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b'{"kind":"Pod","apiVersion":"v1"}', "not AdmissionReview"),
        (b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1beta1","request":{}}', "v1 only"),
        (b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}', "no request"),
    ],
)
async def test_malformed_bodies_are_400_with_a_json_error(
    running: Running, payload: bytes, fragment: str
) -> None:
    response = await running.post(payload)
    assert response.status_code == 400
    assert fragment in response.json()["error"]


async def test_an_unexpected_kind_or_a_missing_object_is_400(running: Running) -> None:
    document = review(workload())
    document["request"]["kind"] = {"group": "", "version": "v1", "kind": "Pod"}
    response = await running.post(body(document))
    assert response.status_code == 400 and "unexpected kind" in response.json()["error"]
    document = review(workload())
    document["request"]["object"] = None
    response = await running.post(body(document))
    assert response.status_code == 400 and "request.object is missing" in response.json()["error"]


async def test_bodies_over_3_mib_are_413(running: Running) -> None:
    big = b" " * (3 * 2**20 + 1)
    response = await running.post(big)
    assert response.status_code == 413 and "larger than" in response.json()["error"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for _ in range(4):
            yield b" " * 2**20

    response = await running.client.post(running.url + "/mutate", content=chunks())
    assert response.status_code == 413
    metrics = (await running.client.get(running.url + "/metrics")).text
    assert 'kubecap_webhook_bad_requests_total{status="413"} 2.0' in metrics


async def test_a_change_of_the_table_reaches_the_webhook(running: Running, sqlite_store: Store) -> None:
    await sqlite_store.save_control_specs([spec(replicas=7)], now=NOW, actor="bob", reason="peak")
    for _ in range(200):  # refreshed every 0.05 s; bounded wait
        if running.webhook.holder.version() == 2:
            break
        await asyncio.sleep(0.05)
    obj = workload(replicas=5)
    assert apply(obj, answer(await running.post(body(review(obj)))))["spec"]["replicas"] == 7


async def test_rejections_and_registrations_are_audited(running: Running, sqlite_store: Store) -> None:
    await sqlite_store.save_namespace_policy(policy(unmanaged=Unmanaged.REJECT), now=NOW, actor="alice")
    await sqlite_store.save_namespace_policy(
        policy(unmanaged=Unmanaged.REGISTER, namespace="batch"), now=NOW, actor="alice"
    )
    await running.webhook.holder.refresh()
    rejected = answer(await running.post(body(review(workload("other")))))
    assert rejected["allowed"] is False and rejected["status"]["code"] == 403
    assert "kubecap control set deployment/other -n shop" in rejected["status"]["message"]
    registered = answer(await running.post(body(review(workload("jobs", "batch", replicas=4)))))
    assert registered["allowed"] is True and "patch" not in registered
    await running.recorder.drain()
    assert [e.result for e in await sqlite_store.audit_events(AuditFilter(action="webhook.reject"))] == [
        AuditResult.REJECTED
    ]
    ref = WorkloadRef(CLUSTER, "batch", WorkloadKind.DEPLOYMENT, "jobs")
    found = await sqlite_store.control_spec(ref)
    assert found is not None and found.replicas == 4 and found.source == "webhook:register"
    assert len(await sqlite_store.audit_events(AuditFilter(action="control.register"))) == 1


async def test_an_internal_error_admits_unchanged_unless_fail_closed(
    sqlite_store: Store, tls_files: TlsFiles
) -> None:
    async def broken(ref: WorkloadRef) -> dict[str, str]:
        raise RuntimeError("apiserver down")

    async with serve_webhook(sqlite_store, tls_files, annotations=broken) as served:
        response = answer(await served.post(body(scale_review(replicas=9))))
        assert response["allowed"] is True and "patch" not in response
        assert "failed internally (RuntimeError): admitted unchanged" in response["warnings"][0]
        await sqlite_store.save_namespace_policy(policy(failure=Failure.CLOSED), now=NOW, actor="alice")
        await served.webhook.holder.refresh()
        response = answer(await served.post(body(scale_review(replicas=9))))
        assert response["allowed"] is False and "fail-closed" in response["status"]["message"]
        metrics = (await served.client.get(served.url + "/metrics")).text
        assert "kubecap_webhook_internal_errors_total 2.0" in metrics
        await served.recorder.drain()
        assert len(await sqlite_store.audit_events(AuditFilter(action="webhook.error"))) == 2


class FlakySource:
    """A snapshot source that works once, then fails (the store became unreachable)."""

    def __init__(self) -> None:
        self.calls = 0
        self.audits: list[Any] = []

    async def control_revision(self) -> int:
        self.calls += 1
        if self.calls > 1:
            raise OSError("connection refused")
        return 1

    async def control_snapshot(self, cluster: str) -> ControlSnapshot:
        return ControlSnapshot.build(cluster, 1, [spec()], [])

    async def record_audits(self, events: Any) -> int:
        self.audits += list(events)
        return len(events)

    async def save_control_specs(self, specs: Any, **kwargs: Any) -> list[Any]:
        return list(specs)


@pytest.mark.parametrize("on_stale", [StalePolicy.ENFORCE, StalePolicy.ALLOW])
async def test_a_stale_snapshot_is_reported_and_handled_by_policy(
    tls_files: TlsFiles, on_stale: StalePolicy
) -> None:
    ticks = [0.0]
    source = FlakySource()
    async with serve_webhook(
        source, tls_files, on_stale=on_stale, stale_after_s=60, monotonic=lambda: ticks[0], refresh_s=3600
    ) as served:
        ticks[0] = 61.0
        await served.webhook.holder.refresh()  # fails: the snapshot is now 61 s old
        obj = workload(replicas=5)
        response = answer(await served.post(body(review(obj))))
        if on_stale is StalePolicy.ENFORCE:
            assert apply(obj, response)["spec"]["replicas"] == 2
            assert "control table is 61 s old" in response["warnings"][0]
        else:
            assert "patch" not in response
            assert "could not be refreshed" in response["warnings"][0]
        metrics = (await served.client.get(served.url + "/metrics")).text
        assert "kubecap_webhook_snapshot_stale 1.0" in metrics
        assert "kubecap_webhook_snapshot_age_seconds 61.0" in metrics


class EmptySource(FlakySource):
    async def control_revision(self) -> int:
        raise OSError("connection refused")


async def test_not_ready_without_a_snapshot_and_admitting_unchanged(tls_files: TlsFiles) -> None:
    async with serve_webhook(EmptySource(), tls_files, refresh_s=3600) as served:
        ready = await served.client.get(served.url + "/readyz")
        assert ready.status_code == 503 and "connection refused" in ready.text
        response = answer(await served.post(body(review(workload()))))
        assert response["allowed"] is True and "patch" not in response


async def test_the_certificate_is_reloaded_when_its_files_rotate(
    running: Running, tls_files: TlsFiles
) -> None:
    port = int(running.url.rsplit(":", 1)[1])

    def served_certificate() -> str:
        return ssl.get_server_certificate(("127.0.0.1", port), timeout=5)

    first = await asyncio.to_thread(served_certificate)
    renewed = make_serving(tls_files.ca, ["localhost", "127.0.0.1"], datetime.now(UTC), 60)
    write_pair(renewed, tls_files.cert_file, tls_files.key_file)
    for _ in range(200):
        if running.tls.reloads:
            break
        await asyncio.sleep(0.05)
    second = await asyncio.to_thread(served_certificate)
    assert first != second
    assert ssl.PEM_cert_to_DER_cert(second) == ssl.PEM_cert_to_DER_cert(renewed.cert_pem.decode())
    # The client that trusts the CA still connects, on a new connection.
    assert (
        await running.client.get(running.url + "/healthz", headers={"Connection": "close"})
    ).status_code == 200


async def test_warn_mode_and_hpa_mode_over_https(running: Running, sqlite_store: Store) -> None:
    await sqlite_store.save_namespace_policy(
        NamespacePolicy(CLUSTER, "shop", Enforcement.WARN), now=NOW, actor="alice"
    )
    hpa = spec("api", replicas=None, mode=ReplicasMode.HPA, containers=(ContainerSpec("app", {"cpu": "1"}),))
    await sqlite_store.save_control_specs([hpa], now=NOW, actor="alice", reason="")
    await running.webhook.holder.refresh()
    response = answer(await running.post(body(review(workload(replicas=5)))))
    assert "patch" not in response and response["warnings"][0].startswith("kubecap (warn mode) would set")
    metrics = (await running.client.get(running.url + "/metrics")).text
    assert 'kubecap_webhook_decisions_total{outcome="warned"} 1.0' in metrics
