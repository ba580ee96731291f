"""The token bucket, on a clock the test controls (no wall-clock assertions)."""

from __future__ import annotations

import pytest

from kubecap.cluster.limiter import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_burst_passes_then_tokens_come_back_at_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(qps=2, burst=3, clock=clock)
    for _ in range(3):
        await bucket.acquire()
    assert bucket._tokens == pytest.approx(0)
    clock.now = 1.0  # one second refills two tokens
    await bucket.acquire()
    await bucket.acquire()
    assert bucket._tokens == pytest.approx(0)


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        TokenBucket(qps=0, burst=1)
