"""A loop: a linear list of named, timed steps repeated on an interval (STYLE "Do" 5).

A pass runs its steps in order and stops at the first that fails (later steps build on the
earlier ones); the failure is logged with the loop, the step and the error as structured
keys, counted, and the loop goes on at the next interval. A loop marked ``leader_only``
only runs its passes while this process leads. Health (last success, failures) is kept per
loop for `/readyz` and `/metrics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from kubecap.errors import KubecapError

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    run: Callable[[], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Loop:
    name: str
    interval_s: float
    steps: Sequence[Step]
    leader_only: bool = False
    """Acts on a cluster: runs only on the leader."""


@dataclass(slots=True)
class Health:
    """What `/readyz` reports of one loop."""

    passes: int = 0
    failures: int = 0
    standby: int = 0
    """Passes skipped because another replica leads."""
    last_success: datetime | None = None
    last_failure: datetime | None = None
    last_error: str | None = None
    failed_step: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "passes": self.passes,
            "failures": self.failures,
            "standby": self.standby,
            "last_success": self.last_success.isoformat() if self.last_success else None,
            "last_failure": self.last_failure.isoformat() if self.last_failure else None,
            "last_error": self.last_error,
            "failed_step": self.failed_step,
        }


class LoopMetrics:
    """The loops' Prometheus series, in the registry the API's `/metrics` serves."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.passes = Counter(
            "kubecap_loop_passes_total", "Background loop passes", ["loop", "result"], registry=registry
        )
        self.step_failures = Counter(
            "kubecap_loop_step_failures_total",
            "Failed background loop steps",
            ["loop", "step"],
            registry=registry,
        )
        self.step_seconds = Histogram(
            "kubecap_loop_step_seconds", "Background loop step duration", ["loop", "step"], registry=registry
        )
        self.last_success = Gauge(
            "kubecap_loop_last_success_timestamp_seconds",
            "When a background loop last completed a pass (Unix time)",
            ["loop"],
            registry=registry,
        )
        self.leader = Gauge(
            "kubecap_leader", "1 while this process leads the loops that act on clusters", registry=registry
        )


async def run_pass(loop: Loop, health: Health, metrics: LoopMetrics, clock: Clock) -> bool:
    """One pass: every step in order until one fails; True when all succeeded."""
    for step in loop.steps:
        started = time.monotonic()
        try:
            await step.run()
        except Exception as exc:  # a failing step (or a bug) must not end the loop
            health.failures += 1
            health.last_failure = clock()
            health.last_error = f"{type(exc).__name__}: {exc}"
            health.failed_step = step.name
            metrics.step_failures.labels(loop.name, step.name).inc()
            metrics.passes.labels(loop.name, "failed").inc()
            log.warning(
                "background step failed",
                extra={"loop": loop.name, "step": step.name, "error": health.last_error},
                # A KubecapError is one sentence that says it all; anything else is a bug: traceback.
                exc_info=not isinstance(exc, KubecapError),
            )
            return False
        finally:
            metrics.step_seconds.labels(loop.name, step.name).observe(time.monotonic() - started)
    health.passes += 1
    health.last_success = clock()
    health.last_error = health.failed_step = None
    metrics.passes.labels(loop.name, "ok").inc()
    metrics.last_success.labels(loop.name).set(health.last_success.timestamp())
    return True


async def run_forever(
    loop: Loop,
    stop: asyncio.Event,
    health: Health,
    metrics: LoopMetrics,
    clock: Clock,
    leading: Callable[[], bool] = lambda: True,
) -> None:
    """Passes every ``interval_s`` (measured from a pass's start) until ``stop`` is set."""
    while not stop.is_set():
        started = time.monotonic()
        if loop.leader_only and not leading():
            health.standby += 1
        else:
            await run_pass(loop, health, metrics, clock)
        wait = max(loop.interval_s - (time.monotonic() - started), 0.0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)
