"""The loop engine: steps in order, a failing step ends the pass (logged, counted) and the loop goes on;
leader-only loops stand by; the service starts, reports and stops them."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from kubecap.background.leader import KubeLease, Leadership
from kubecap.background.loop import Health, Loop, LoopMetrics, Step, run_forever, run_pass
from kubecap.background.service import Background
from kubecap.errors import ConfigError
from kubecap.testing.cluster import InMemoryCluster
from tests.background.clock import FakeClock


def recorder(calls: list[str], name: str, fail: BaseException | None = None) -> Step:
    async def run() -> None:
        calls.append(name)
        if fail is not None:
            raise fail

    return Step(name, run)


async def test_a_pass_runs_its_steps_in_order_and_stops_at_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []
    registry = CollectorRegistry()
    metrics, health, clock = LoopMetrics(registry), Health(), FakeClock()
    ok = Loop("demo", 1, [recorder(calls, "one"), recorder(calls, "two")])
    assert await run_pass(ok, health, metrics, clock)
    assert calls == ["one", "two"] and health.passes == 1 and health.last_success == clock.now
    broken = Loop(
        "demo",
        1,
        [recorder(calls, "one"), recorder(calls, "bad", ConfigError("no way")), recorder(calls, "never")],
    )
    with caplog.at_level(logging.WARNING):
        assert not await run_pass(broken, health, metrics, clock)
    assert calls[2:] == ["one", "bad"]
    assert (health.failures, health.failed_step, health.last_error) == (1, "bad", "ConfigError: no way")
    record = next(r for r in caplog.records if r.getMessage() == "background step failed")
    assert (record.loop, record.step) == ("demo", "bad")  # type: ignore[attr-defined]
    assert not record.exc_info  # a KubecapError is a sentence, not a traceback
    text = generate_latest(registry).decode()
    assert 'kubecap_loop_step_failures_total{loop="demo",step="bad"} 1.0' in text
    assert 'kubecap_loop_passes_total{loop="demo",result="ok"} 1.0' in text


async def test_the_loop_goes_on_after_failures_and_stops_when_asked() -> None:
    calls: list[str] = []
    stop = asyncio.Event()

    async def flaky() -> None:
        calls.append("x")
        if len(calls) == 3:
            stop.set()
        raise RuntimeError("a bug")

    health = Health()
    loop = Loop("flaky", 0.01, [Step("x", flaky)])
    await asyncio.wait_for(run_forever(loop, stop, health, LoopMetrics(CollectorRegistry()), FakeClock()), 5)
    assert calls == ["x", "x", "x"] and health.failures == 3


async def test_leader_only_loops_stand_by_without_the_lease() -> None:
    clock = FakeClock()
    cluster = InMemoryCluster(name="prod", clock=clock)
    await cluster.acquire_lease("kubecap", "serve", "someone-else", 30)
    calls: list[str] = []
    metrics = LoopMetrics(CollectorRegistry())
    leadership = Leadership(
        KubeLease(cluster, "kubecap", "serve"), lease_s=30, renew_s=0.01, clock=clock, metrics=metrics
    )
    acting = Loop("tasks", 0.01, [recorder(calls, "act")], leader_only=True)
    everywhere = Loop("node-load", 0.01, [recorder(calls, "read")])
    service = Background([acting, everywhere], metrics=metrics, clock=clock, leadership=leadership)
    await service.start()
    for _ in range(200):
        if service.health["node-load"].passes >= 3 and service.health["tasks"].standby >= 3:
            break
        await asyncio.sleep(0.01)
    assert "act" not in calls and not service.report()["leader"]
    clock.advance(31)  # the other holder stopped renewing
    for _ in range(200):
        if "act" in calls:
            break
        await asyncio.sleep(0.01)
    assert "act" in calls and service.report()["leader"]
    await service.stop()
    # Stopping released the lease: a new contender takes it at once.
    assert await cluster.acquire_lease("kubecap", "serve", "next", 30)
    report = service.report()
    assert report["loops"]["tasks"]["passes"] >= 1 and report["loops"]["leader"]["failures"] == 0
