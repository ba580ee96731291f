"""The loops `kubecap serve` runs, as one plain list: add a loop with one line in ``loops``.

Each entry pairs the loop's settings (enabled, interval) with its steps; a loop whose parts
are missing (no cluster with a Prometheus for node load, no cluster API for taints) is left
out and named in the log once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubecap.background.loop import Loop, Step
from kubecap.background.steps import Collection, Refreshable, Rounds, each, refresh_all
from kubecap.config import BackgroundSettings, LoopSettings

log = logging.getLogger(__name__)


@dataclass
class Parts:
    """What the loops drive, built by the composition root (`kubecap serve`, `kubecap demo`)."""

    collection: Collection | None = None
    run_tasks: Callable[[], Awaitable[Any]] | None = None
    taints: Mapping[str, Rounds] = field(default_factory=dict)
    node_loads: Mapping[str, Refreshable] = field(default_factory=dict)
    refresh_summaries: Callable[[], Awaitable[Any]] | None = None
    predict_round: Callable[[], Awaitable[Any]] | None = None


def loops(settings: BackgroundSettings, parts: Parts) -> list[Loop]:
    s, c = settings, parts.collection
    planned = [
        # On the leader only: one replica queries Prometheus (collection is idempotent all the same).
        _loop("collection", s.collection, [
            Step("collect", c.collect), Step("recommend", c.recommend), Step("refresh-summaries", c.refresh),
        ] if c else None, leader=True),
        _loop("tasks", s.tasks, [Step("run-due-tasks", parts.run_tasks)] if parts.run_tasks else None, leader=True),
        _loop("taints", s.taints, [Step("taint-round", lambda: each(parts.taints))] if parts.taints else None, leader=True),
        _loop("node-load", s.node_load, [Step("refresh", lambda: refresh_all(parts.node_loads))] if parts.node_loads else None),
        _loop("predict", s.predict, [Step("predict-round", parts.predict_round)] if parts.predict_round else None, leader=True),
        # Every replica: followers learn of the leader's collections here (a fingerprint read when nothing moved).
        _loop("summaries", s.summaries, [Step("refresh", parts.refresh_summaries)] if parts.refresh_summaries else None),
    ]  # fmt: skip
    return [loop for loop in planned if loop is not None]


def _loop(
    name: str, settings: LoopSettings, steps: list[Step] | None, *, leader: bool = False
) -> Loop | None:
    if not settings.enabled:
        return None
    if not steps:
        log.info("background loop left out: nothing to drive", extra={"loop": name})
        return None
    return Loop(name, settings.interval_seconds, steps, leader_only=leader)
