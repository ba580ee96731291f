"""The task runner: claims due runs from the database, executes them once, records and notifies.

Exactly once, across replicas and restarts, comes from the store: a claim moves a task to
its next fire time and inserts its run (unique per task and fire time) in one transaction,
so two runners can never both take it. A run whose runner died keeps state ``running``
until its lease expires; it is then recorded as failed with that reason and NOT run again,
because the operation may already have reached the cluster (see docs/operations.md).

``run_once`` is one linear pass: abandon expired leases, then claim and execute due runs and
due retries in batches until none is left. ``serve`` repeats it every ``interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kubecap.cluster.port import ClusterPort
from kubecap.domain.audit import AuditEvent, AuditResult
from kubecap.domain.notifications import EventKind, Notification
from kubecap.domain.schedule import ClaimPlan, plan_claim, retry_delay
from kubecap.domain.tasks import (
    ClaimedRun,
    NewTask,
    Operation,
    OperationSpec,
    RunOutcome,
    RunState,
    Schedule,
    Task,
    TaskRun,
)
from kubecap.errors import ConfigError
from kubecap.ops.execute import SETTLE_DELAYS_S, Executed, ExecutionFailed, execute
from kubecap.ops.notify import Notifier, notify_recorded
from kubecap.ops.ports import ControlTable, OpsStore

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
ClusterResolver = Callable[[str], ClusterPort]


def default_runner_id() -> str:
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RunnerOptions:
    lease: timedelta = timedelta(minutes=10)
    """How long a claimed run is ours; an operation is cut off at half of it."""
    batch: int = 1
    """Runs claimed per transaction: one, so that a runner that dies strands only the run in flight."""
    pause_between_s: float = 0.0
    """Optional pause between two workloads' operations (spreads restarts out)."""
    settle_s: tuple[float, ...] = SETTLE_DELAYS_S
    """Pauses before a managed workload's change is read back and made again (see ops.execute)."""


def planner(task: Task, now: datetime) -> ClaimPlan:
    assert task.next_run_at is not None
    return plan_claim(task.schedule, task.next_run_at, now)


class TaskRunner:
    def __init__(
        self,
        store: OpsStore,
        clusters: ClusterResolver,
        *,
        notifier: Notifier | None = None,
        control: ControlTable | None = None,
        runner_id: str | None = None,
        options: RunnerOptions | None = None,
        clock: Clock = utc_now,
    ) -> None:
        """``control``: the control table, through which managed workloads are scaled and
        given resources (without it every workload is treated as unmanaged)."""
        self._store = store
        self._clusters = clusters
        self._control = control
        self._notifier = notifier
        self.runner_id = runner_id or default_runner_id()
        self._options = options or RunnerOptions()
        self._clock = clock

    async def run_once(self, now: datetime | None = None) -> list[TaskRun]:
        """Execute every run due at ``now``; returns the finished runs (missed ones included)."""
        now = now or self._clock()
        finished: list[TaskRun] = []
        for abandoned in await self._store.abandon_expired(now=now, message=self._abandon_message()):
            finished.append(abandoned.run)
            await self._notify_run(abandoned.task, abandoned.run)
        while True:
            lease_until = now + self._options.lease
            claimed = await self._store.claim_due(
                now=now,
                runner=self.runner_id,
                lease_until=lease_until,
                limit=self._options.batch,
                plan=planner,
            )
            claimed += await self._store.claim_retries(
                now=now, runner=self.runner_id, lease_until=lease_until, limit=self._options.batch
            )
            if not claimed:
                return finished
            finished.extend(await self._run_claimed(claimed))

    async def run_task(self, task_id: int, now: datetime | None = None) -> list[TaskRun]:
        """Claim and execute one task if it is due (used by the CLI for 'now' tasks)."""
        now = now or self._clock()
        claimed = await self._store.claim_due(
            now=now,
            runner=self.runner_id,
            lease_until=now + self._options.lease,
            limit=1,
            plan=planner,
            task_id=task_id,
        )
        return await self._run_claimed(claimed)

    async def serve(self, stop: asyncio.Event, interval_s: float = 15.0) -> None:
        """Run passes until ``stop`` is set; a failing pass is logged and the loop goes on."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                runs = await self.run_once()
                if runs:
                    log.info("task pass", extra={"runner": self.runner_id, "runs": len(runs)})
            except Exception:
                log.exception("task pass failed", extra={"runner": self.runner_id})
            elapsed = time.monotonic() - started
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(interval_s - elapsed, 0.1))

    def _abandon_message(self) -> str:
        return (
            "the runner stopped during this run; it is not run again because the operation may already "
            "have reached the cluster: check the target, then run it again by hand if needed"
        )

    async def _run_claimed(self, claimed: Sequence[ClaimedRun]) -> list[TaskRun]:
        finished = []
        for index, item in enumerate(claimed):
            if item.run.state is RunState.MISSED:
                finished.append(item.run)
                await self._notify_run(item.task, item.run)
                continue
            if index and self._options.pause_between_s:
                await asyncio.sleep(self._options.pause_between_s)
            finished.append(await self._execute(item))
        return finished

    async def _execute(self, item: ClaimedRun) -> TaskRun:
        task, run = item.task, item.run
        now = self._clock()
        spec = task.spec
        request_id = f"task-{task.id}-run-{run.id}-attempt-{run.attempt}"
        follow_up = None
        try:
            cluster = self._clusters(spec.target.cluster)
            async with asyncio.timeout(self._options.lease.total_seconds() / 2):
                done = await execute(
                    cluster,
                    spec,
                    now,
                    control=self._control,
                    actor=task.created_by,
                    reason=f"task {task.id}: {spec.describe()}",
                    settle=self._options.settle_s,
                )
        except (ExecutionFailed, ConfigError, TimeoutError) as exc:
            outcome = self._failure(task, run, exc, now)
            result = AuditResult.FAILED
            before = after = None
        else:
            message = f"{spec.describe()}; {done.note}" if done.note else spec.describe()
            outcome = RunOutcome(RunState.SUCCEEDED, message, done.result)
            result = AuditResult.OK
            before, after = done.before, done.after
            follow_up = self._revert_task(task, done)
        audit = AuditEvent(
            at=self._clock(),
            actor=task.created_by,
            action=spec.operation.value,
            cluster=spec.target.cluster,
            target=str(spec.target),
            result=result,
            before=before,
            after=after,
            request_id=request_id,
            message=outcome.message,
        )
        recorded = await self._store.finish_run(
            run.id, outcome, now=self._clock(), audit=audit, follow_up=follow_up
        )
        await self._notify_run(task, recorded)
        return recorded

    def _failure(self, task: Task, run: TaskRun, exc: BaseException, now: datetime) -> RunOutcome:
        if isinstance(exc, TimeoutError):
            message, transient = f"the operation did not finish within {self._options.lease / 2}", True
        elif isinstance(exc, ExecutionFailed):
            message, transient = exc.message, exc.transient
        else:
            message, transient = str(exc), False
        if transient and run.attempt < task.max_attempts:
            retry_at = now + retry_delay(run.attempt)
            return RunOutcome(
                RunState.RETRY,
                f"attempt {run.attempt} of {task.max_attempts} failed: {message}; retrying at {retry_at.isoformat()}",
                retry_at=retry_at,
            )
        tries = f" after {run.attempt} attempts" if run.attempt > 1 else ""
        return RunOutcome(RunState.FAILED, f"failed{tries}: {message}")

    def _revert_task(self, task: Task, done: Executed) -> NewTask | None:
        spec = task.spec
        if spec.operation is not Operation.SCALE or spec.revert_at is None:
            return None
        previous = int(done.result["replicas_before"])
        revert = OperationSpec(Operation.SCALE, spec.target, replicas=previous, ends_override=True)
        return NewTask(
            spec=revert,
            schedule=Schedule(at=spec.revert_at, timezone=task.schedule.timezone, grace=task.schedule.grace),
            first_run_at=spec.revert_at,
            created_by=task.created_by,
            max_attempts=task.max_attempts,
            note=f"ends the temporary scale of task {task.id}",
        )

    async def _notify_run(self, task: Task, run: TaskRun) -> None:
        if self._notifier is None or run.state is RunState.RETRY:
            return
        notification = Notification(
            kind=EventKind.TASK_RESULT,
            cluster=task.spec.target.cluster,
            title=f"task {task.id} {run.state.value}: {task.spec.describe()}",
            body=run.message or task.spec.describe(),
            path="/operations",  # the UI page listing tasks, their runs and results
        )
        await notify_recorded(
            self._notifier,
            self._store,
            notification,
            actor=f"runner {self.runner_id}",
            request_id=f"task-{task.id}-run-{run.id}",
            clock=self._clock,
        )
