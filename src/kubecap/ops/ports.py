"""What the ops service needs from the store and the control table, as protocols.

kubecap.store.Store implements the store's; ``kubecap.wiring.OpsControlTable`` adapts the
control service to ``ControlTable`` (ops must not import control: capabilities are
independent). They sit here rather than in kubecap/ports.py only because that file belongs
to another part of the work for now; they speak domain types only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from kubecap.domain.audit import AuditEvent, AuditFilter
from kubecap.domain.control import ControlSpec
from kubecap.domain.notifications import Channel
from kubecap.domain.resources import ContainerResources
from kubecap.domain.schedule import ClaimPlan
from kubecap.domain.tasks import ClaimedRun, NewTask, RunOutcome, Task, TaskRun, TaskState
from kubecap.domain.workload import WorkloadRef

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


class ControlTable(Protocol):
    """The control table as ops sees it: read a workload's spec, change its replicas or resources.

    Every change is a new version of the spec (who = ``actor``, why = ``reason``) audited by
    the table itself; a change that changes nothing stores nothing, so a retried operation
    never adds a second version.
    """

    async def spec(self, ref: WorkloadRef) -> ControlSpec | None:
        """The workload's spec; None when the workload is unmanaged."""
        ...

    async def set_replicas(self, ref: WorkloadRef, replicas: int, *, actor: str, reason: str) -> None:
        """Pin the spec's replicas (mode fixed); the workload must be managed."""
        ...

    async def set_resources(
        self,
        ref: WorkloadRef,
        resources: tuple[ContainerResources, ...],
        *,
        actor: str,
        reason: str,
        source: str,
    ) -> None:
        """Replace the requests and limits of the listed containers in the spec (others kept)."""
        ...
