"""Notifications from the webhook: rejections and registrations, coalesced per workload, delivered
off the request path through the real apprise notifier to an HTTP endpoint on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import pytest

from kubecap.control.alerts import Coalescer, WebhookAlerts, notification
from kubecap.domain.audit import AuditEvent, AuditFilter, AuditResult
from kubecap.domain.control import Unmanaged
from kubecap.domain.notifications import Channel, EventKind, Notification
from kubecap.ops.notify import Delivery, Notifier
from kubecap.store import Store
from kubecap.testing.admission import body, review, workload
from tests.control.builders import CLUSTER, NOW, policy, spec
from tests.control.conftest import TlsFiles, serve_webhook
from tests.notify_endpoint import Endpoint


def event(action: str, name: str = "web", seconds: float = 0, message: str = "") -> AuditEvent:
    return AuditEvent(
        at=NOW + timedelta(seconds=seconds),
        actor="kubecap-webhook",
        action=action,
        cluster=CLUSTER,
        target=f"{CLUSTER}/shop/Deployment/{name}",
        result=AuditResult.REJECTED if action == "webhook.reject" else AuditResult.OK,
        message=message or f"{action} of {name}",
    )


def test_one_message_per_workload_per_window_the_next_one_counts_those_held_back() -> None:
    coalescer = Coalescer(every_s=300)
    assert coalescer.offer(event("webhook.reject")) is True
    assert coalescer.offer(event("webhook.reject", seconds=1)) is True  # joins the pending message
    assert coalescer.offer(event("webhook.reject", "api", seconds=1)) is True
    due = coalescer.flush()
    assert [(kind, e.target.rsplit("/", 1)[1], count) for kind, e, count in due] == [
        (EventKind.WEBHOOK_REJECTION, "web", 2),
        (EventKind.WEBHOOK_REJECTION, "api", 1),
    ]
    assert coalescer.offer(event("webhook.reject", seconds=60)) is False  # within the window: held back
    assert coalescer.offer(event("webhook.reject", seconds=299)) is False
    assert coalescer.flush() == []
    assert coalescer.offer(event("webhook.reject", seconds=301)) is True
    [(_, first, count)] = coalescer.flush()
    assert count == 3 and first.at == NOW + timedelta(seconds=301)


def test_only_rejections_and_registrations_are_notified() -> None:
    coalescer = Coalescer(every_s=300)
    for action in ("webhook.mutate", "webhook.error", "control.set", "notify"):
        assert coalescer.offer(event(action)) is False
    assert coalescer.offer(event("control.register", "jobs")) is True
    # A rejection and a registration of one workload are separate subjects.
    assert coalescer.offer(event("webhook.reject", "jobs")) is True
    assert {kind for kind, _, _ in coalescer.flush()} == {
        EventKind.UNMANAGED_WORKLOAD,
        EventKind.WEBHOOK_REJECTION,
    }


def test_memory_stays_bounded_with_many_workloads() -> None:
    coalescer = Coalescer(every_s=300, max_keys=100)
    for n in range(1000):
        coalescer.offer(event("webhook.reject", f"w{n}", seconds=n))
        coalescer.flush()
    assert len(coalescer._sent_at) <= 100


def test_the_message_names_the_workload_and_how_many_were_held_back() -> None:
    first = event("webhook.reject", message="CREATE by alice: Deployment shop/web is not in kubecap's table")
    message = notification(EventKind.WEBHOOK_REJECTION, first, 4, 300)
    assert message.title == "webhook rejected Deployment shop/web"
    assert message.body.startswith("CREATE by alice: Deployment shop/web")
    assert "3 more since the last message" in message.body and "300 s" in message.body
    assert message.render("https://kubecap.example.com/")[1].endswith("https://kubecap.example.com/control")
    registered = notification(EventKind.UNMANAGED_WORKLOAD, event("control.register", "jobs"), 1, 300)
    assert registered.title == "unmanaged workload registered: Deployment shop/jobs"
    assert "more since" not in registered.body


@pytest.fixture
async def store(sqlite_url: str) -> AsyncIterator[Store]:
    async with await Store.open(sqlite_url) as opened:
        await opened.save_control_specs([spec()], now=NOW, actor="alice", reason="approved")
        await opened.save_namespace_policy(policy(unmanaged=Unmanaged.REJECT), now=NOW, actor="alice")
        await opened.save_namespace_policy(
            policy(unmanaged=Unmanaged.REGISTER, namespace="batch"), now=NOW, actor="alice"
        )
        yield opened


def notifier(endpoint: Endpoint) -> Notifier:
    channels = [
        Channel("rejections", (endpoint.url,), events=frozenset({EventKind.WEBHOOK_REJECTION})),
        Channel("new-workloads", (endpoint.url,), events=frozenset({EventKind.UNMANAGED_WORKLOAD})),
        Channel("tasks-only", (endpoint.url,), events=frozenset({EventKind.TASK_RESULT})),
    ]
    return Notifier(channels, attempts=2, backoff_s=0.01)


async def until(condition: Any, what: str) -> None:
    for _ in range(400):
        if await condition():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"timed out waiting for {what}")


def answer(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    result: dict[str, Any] = json.loads(response.content)["response"]
    return result


async def notify_events(store: Store) -> list[AuditEvent]:
    return await store.audit_events(AuditFilter(action="notify"))


async def test_rejections_and_registrations_are_notified_once_per_workload_over_http(
    store: Store, tls_files: TlsFiles, endpoint: Endpoint
) -> None:
    alerts = WebhookAlerts(notifier(endpoint), store, every_s=300, flush_s=0.05)
    async with serve_webhook(store, tls_files, alerts=alerts) as running:
        for _ in range(5):  # a pipeline retrying the same rejected Deployment
            assert answer(await running.post(body(review(workload("other")))))["allowed"] is False
        assert answer(await running.post(body(review(workload("jobs", "batch", replicas=3)))))["allowed"]
        await running.recorder.drain()

        async def both_delivered() -> bool:
            return len(await notify_events(store)) == 2

        await until(both_delivered, "two notification deliveries to be audited")
        titles = sorted(m["title"] for m in endpoint.received)
        assert titles == [
            f"[kubecap/{CLUSTER}] unmanaged workload registered: Deployment batch/jobs",
            f"[kubecap/{CLUSTER}] webhook rejected Deployment shop/other",
        ]
        rejection = next(m for m in endpoint.received if "rejected" in m["title"])
        assert "kubecap control set deployment/other -n shop" in rejection["message"]
        assert "4 more since the last message" in rejection["message"]
        delivered = await notify_events(store)
        assert {(e.target, e.result) for e in delivered} == {
            ("channel rejections", AuditResult.OK),
            ("channel new-workloads", AuditResult.OK),
        }
        # Every rejection is still audited, one row each: coalescing is for messages only.
        assert len(await store.audit_events(AuditFilter(action="webhook.reject"))) == 5
        # The same workload rejected again within the window: counted, no message.
        assert answer(await running.post(body(review(workload("other")))))["allowed"] is False
        await running.recorder.drain()
        await alerts.send_due()
        assert len(endpoint.received) == 2


async def test_a_failing_endpoint_is_logged_and_audited_and_admission_goes_on(
    store: Store, tls_files: TlsFiles, endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint.status = 500
    alerts = WebhookAlerts(notifier(endpoint), store, every_s=300, flush_s=0.05)
    async with serve_webhook(store, tls_files, alerts=alerts) as running:
        rejected = answer(await running.post(body(review(workload("other")))))
        assert rejected["allowed"] is False and rejected["status"]["code"] == 403
        await running.recorder.drain()

        async def failure_audited() -> bool:
            return bool(await notify_events(store))

        await until(failure_audited, "the failed delivery to be audited")
        [failed] = await notify_events(store)
        assert failed.result is AuditResult.FAILED and failed.target == "channel rejections"
        assert "webhook_rejection" in failed.message and "not delivered after 2 attempt(s)" in failed.message
        assert len(endpoint.received) == 2  # both attempts reached the endpoint
        assert any("not delivered" in r.getMessage() for r in caplog.records)
        # The webhook still answers, and still audits.
        assert answer(await running.post(body(review(workload("api")))))["allowed"] is False
        await running.recorder.drain()
        assert len(await store.audit_events(AuditFilter(action="webhook.reject"))) == 2


class Stuck:
    """A sink that never returns (a channel whose server hangs)."""

    def __init__(self) -> None:
        self.calls = 0

    async def notify(self, message: Notification) -> Sequence[Delivery]:
        self.calls += 1
        await asyncio.Event().wait()
        return []


async def test_a_hanging_channel_never_delays_admission_or_the_audit(
    store: Store, tls_files: TlsFiles
) -> None:
    stuck = Stuck()
    alerts = WebhookAlerts(stuck, store, every_s=300, flush_s=0.01, shutdown_s=0.05)
    async with serve_webhook(store, tls_files, alerts=alerts) as running:
        assert answer(await running.post(body(review(workload("other")))))["allowed"] is False
        await running.recorder.drain()

        async def called(n: int) -> bool:
            return stuck.calls >= n

        await until(lambda: called(1), "the first notification")
        for name in ("a", "b", "c"):
            assert answer(await running.post(body(review(workload(name)))))["allowed"] is False
        await running.recorder.drain()
        assert len(await store.audit_events(AuditFilter(action="webhook.reject"))) == 4
        # The hanging delivery holds its own message only: the later ones are still sent.
        await until(lambda: called(4), "the later notifications")
