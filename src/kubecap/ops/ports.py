"""What the ops service needs from the store, as protocols (kubecap.store.Store implements them).

They sit here rather than in kubecap/ports.py only because that file belongs to another
part of the work for now; they speak domain types only, so the store never imports ops.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from kubecap.domain.audit import AuditEvent, AuditFilter
from kubecap.domain.notifications import Channel
from kubecap.domain.schedule import ClaimPlan
from kubecap.domain.tasks import ClaimedRun, NewTask, RunOutcome, Task, TaskRun, TaskState

Planner = Callable[[Task, datetime], ClaimPlan]


class TaskStore(Protocol):
    async def add_task(self, task: NewTask, now: datetime, audit: AuditEvent | None = None) -> Task: ...

    async def task(self, task_id: int) -> Task:
        """The task, or NotFoundError."""
        ...

    async def tasks(self, *, state: TaskState | None = None, cluster: str | None = None) -> list[Task]: ...

    async def update_task_state(
        self,
        task_id: int,
        state: TaskState,
        *,
        allowed_from: tuple[TaskState, ...],
        next_run_at: datetime | None,
        now: datetime,
        audit: AuditEvent,
    ) -> Task:
        """Change the state if it is one of ``allowed_from`` (else a ConfigError saying why)."""
        ...

    async def claim_due(
        self,
        *,
        now: datetime,
        runner: str,
        lease_until: datetime,
        limit: int,
        plan: Planner,
        task_id: int | None = None,
    ) -> list[ClaimedRun]:
        """Atomically take due tasks: record their run (or misses) and move them to their next time."""
        ...

    async def claim_retries(
        self, *, now: datetime, runner: str, lease_until: datetime, limit: int
    ) -> list[ClaimedRun]:
        """Atomically take runs whose retry time has come."""
        ...

    async def finish_run(
        self,
        run_id: int,
        outcome: RunOutcome,
        *,
        now: datetime,
        audit: AuditEvent,
        follow_up: NewTask | None = None,
    ) -> TaskRun:
        """Record how an attempt ended, its audit event and any follow-up task, in one transaction."""
        ...

    async def abandon_expired(self, *, now: datetime, message: str) -> list[ClaimedRun]:
        """Mark runs whose runner's lease ran out as failed (never run again) and return them."""
        ...

    async def task_runs(self, task_id: int, limit: int = 100) -> list[TaskRun]: ...


class AuditLog(Protocol):
    async def record_audit(self, event: AuditEvent) -> int: ...

    async def audit_events(self, where: AuditFilter) -> list[AuditEvent]: ...


class ChannelStore(Protocol):
    async def notification_channels(self) -> list[Channel]: ...


class OpsStore(TaskStore, AuditLog, ChannelStore, Protocol):
    """Everything ops reads and writes."""
