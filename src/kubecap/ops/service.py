"""The operations service: validate and submit tasks, cancel, pause, resume, and read their history.

Everything the CLI, the API and the UI do with tasks goes through here, so every change is
validated the same way (one sentence for bad input) and audited the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from kubecap.cluster.port import ClusterPort, WorkloadNotFound
from kubecap.domain.audit import AuditEvent, AuditResult
from kubecap.domain.schedule import first_run, make_schedule, next_fire
from kubecap.domain.tasks import (
    DEFAULT_GRACE,
    DEFAULT_MAX_ATTEMPTS,
    NewTask,
    Operation,
    OperationSpec,
    Task,
    TaskError,
    TaskRun,
    TaskState,
)
from kubecap.ops.execute import refuse_hpa
from kubecap.ops.ports import ControlTable, OpsStore
from kubecap.ops.runner import Clock, utc_now

_ACTIONS = {
    TaskState.CANCELLED: "task.cancel",
    TaskState.PAUSED: "task.pause",
    TaskState.ACTIVE: "task.resume",
}


@dataclass(frozen=True, slots=True)
class History:
    task: Task
    runs: list[TaskRun]


class TaskService:
    def __init__(
        self, store: OpsStore, *, clock: Clock = utc_now, control: ControlTable | None = None
    ) -> None:
        """``control``: the control table, to refuse at once a scale the webhook would not honour."""
        self._store = store
        self._clock = clock
        self._control = control

    async def submit(
        self,
        spec: OperationSpec,
        *,
        actor: str,
        at: datetime | None = None,
        cron: str | None = None,
        timezone: str = "UTC",
        grace: timedelta = DEFAULT_GRACE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        cluster: ClusterPort | None = None,
    ) -> Task:
        """Validate and store a task; with ``cluster``, its target must exist there now."""
        now = self._clock()
        spec.validate()
        schedule = make_schedule(at=at, cron=cron, timezone=timezone, grace=grace, now=now)
        if spec.revert_at is not None and spec.revert_at <= (schedule.at or now):
            raise TaskError(
                f"the expiry {spec.revert_at.isoformat()} must come after the scale itself: give a later --until"
            )
        if max_attempts < 1:
            raise TaskError("max attempts must be at least 1")
        if cluster is not None:
            await _check_target(cluster, spec)
        if self._control is not None and spec.operation is Operation.SCALE:
            what = "honour a temporary scale" if spec.revert_at else "scale it"
            refuse_hpa(await self._control.spec(spec.target), what)
        task = NewTask(
            spec=spec,
            schedule=schedule,
            first_run_at=first_run(schedule, now),
            created_by=actor,
            max_attempts=max_attempts,
        )
        audit = AuditEvent(
            at=now,
            actor=actor,
            action="task.add",
            cluster=spec.target.cluster,
            target=str(spec.target),
            result=AuditResult.OK,
            after={"operation": spec.describe(), "schedule": schedule.describe()},
        )
        return await self._store.add_task(task, now, audit)

    async def cancel(self, task_id: int, *, actor: str) -> Task:
        return await self._change(
            task_id, TaskState.CANCELLED, (TaskState.ACTIVE, TaskState.PAUSED), actor, None
        )

    async def pause(self, task_id: int, *, actor: str) -> Task:
        return await self._change(task_id, TaskState.PAUSED, (TaskState.ACTIVE,), actor, None)

    async def resume(self, task_id: int, *, actor: str) -> Task:
        task = await self._store.task(task_id)
        now = self._clock()
        # Fire times that passed while paused were skipped on purpose: start from the next one.
        following = next_fire(task.schedule, now) if task.schedule.recurring else task.next_run_at
        return await self._change(task_id, TaskState.ACTIVE, (TaskState.PAUSED,), actor, following)

    async def _change(
        self,
        task_id: int,
        state: TaskState,
        allowed: tuple[TaskState, ...],
        actor: str,
        next_run_at: datetime | None,
    ) -> Task:
        task = await self._store.task(task_id)
        now = self._clock()
        audit = AuditEvent(
            at=now,
            actor=actor,
            action=_ACTIONS[state],
            cluster=task.spec.target.cluster,
            target=f"task {task.id} ({task.spec.describe()})",
            result=AuditResult.OK,
            before={"state": task.state.value},
            after={"state": state.value},
        )
        return await self._store.update_task_state(
            task_id, state, allowed_from=allowed, next_run_at=next_run_at, now=now, audit=audit
        )

    async def tasks(self, *, state: TaskState | None = None, cluster: str | None = None) -> list[Task]:
        return await self._store.tasks(state=state, cluster=cluster)

    async def history(self, task_id: int, limit: int = 100) -> History:
        task = await self._store.task(task_id)
        return History(task, await self._store.task_runs(task_id, limit))


async def _check_target(cluster: ClusterPort, spec: OperationSpec) -> None:
    workload = await cluster.get_workload(spec.target)
    if spec.operation is Operation.APPLY:
        names = {c.container for c in workload.containers}
        for wanted in spec.resources:
            if wanted.container not in names:
                raise WorkloadNotFound(
                    f"{spec.target} has no container {wanted.container!r} (it has {', '.join(sorted(names))}): "
                    "check the container name"
                )
