"""The services one API process works with, built once at startup and reached from requests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import Request

from kubecap.api.auth import AuthService
from kubecap.api.cache import SummaryCache
from kubecap.api.live import Live
from kubecap.config import Settings
from kubecap.control.service import ControlService
from kubecap.ops.ports import ControlTable
from kubecap.ops.service import TaskService
from kubecap.store import Store


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ApiContext:
    """The store and the services over it; the API's routers and the UI's pages share one."""

    settings: Settings
    store: Store
    auth: AuthService
    tasks: TaskService
    control: ControlService
    clock: Callable[[], datetime] = utc_now
    summaries: SummaryCache = field(default_factory=SummaryCache)
    live: Live = field(default_factory=Live)

    @classmethod
    def build(
        cls,
        settings: Settings,
        store: Store,
        clock: Callable[[], datetime] = utc_now,
        *,
        ops_control: ControlTable | None = None,
    ) -> ApiContext:
        """``ops_control``: the control table as operations see it, so that tasks on managed
        workloads are checked against it when submitted (HPA-owned replicas are refused)."""
        return cls(
            settings=settings,
            store=store,
            auth=AuthService(store, settings.api, clock),
            tasks=TaskService(store, clock=clock, control=ops_control),
            control=ControlService(store, clock=clock),
            clock=clock,
        )


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.kubecap
    return ctx
