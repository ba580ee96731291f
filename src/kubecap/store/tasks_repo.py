"""Tasks and task runs: the statements behind exactly-once execution, on a connection the caller owns.

A claim is one transaction that starts with a write (so SQLite takes its writer lock at
once and PostgreSQL locks the rows, skipping rows another runner holds), moves each claimed
task to its next fire time and inserts its run. The run key (task, scheduled_for) is unique,
so even a claim that raced past the locks could not insert the same run twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kubecap.domain.resources import ContainerResources
from kubecap.domain.schedule import ClaimPlan
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
    TaskState,
)
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.store.schema import TaskRow, TaskRunRow
from kubecap.store.upsert import insert

Planner = Callable[[Task, datetime], ClaimPlan]


def _params(spec: OperationSpec) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if spec.replicas is not None:
        params["replicas"] = spec.replicas
    if spec.resources:
        params["resources"] = [r.to_dict() for r in spec.resources]
    if spec.revert_at is not None:
        params["revert_at"] = spec.revert_at.isoformat()
    if spec.ends_override:
        params["ends_override"] = True
    if spec.source:
        params["source"] = spec.source
    return params


def _task(row: Row[Any], last_run: TaskRun | None = None) -> Task:
    params = row.params or {}
    spec = OperationSpec(
        operation=Operation(row.operation),
        target=WorkloadRef(row.cluster, row.namespace, WorkloadKind(row.kind), row.name),
        replicas=params.get("replicas"),
        resources=tuple(ContainerResources.from_dict(r) for r in params.get("resources", [])),
        revert_at=datetime.fromisoformat(params["revert_at"]) if params.get("revert_at") else None,
        ends_override=bool(params.get("ends_override", False)),
        source=str(params.get("source", "")),
    )
    schedule = Schedule(
        at=row.run_at, cron=row.cron, timezone=row.timezone, grace=timedelta(seconds=row.grace_seconds)
    )
    return Task(
        id=row.id,
        spec=spec,
        schedule=schedule,
        state=TaskState(row.state),
        next_run_at=row.next_run_at,
        created_at=row.created_at,
        created_by=row.created_by,
        max_attempts=row.max_attempts,
        note=row.note,
        last_run=last_run,
    )


def _run(row: Row[Any]) -> TaskRun:
    return TaskRun(
        id=row.id,
        task_id=row.task_id,
        scheduled_for=row.scheduled_for,
        state=RunState(row.state),
        attempt=row.attempt,
        runner=row.runner,
        started_at=row.started_at,
        finished_at=row.finished_at,
        lease_until=row.lease_until,
        retry_at=row.retry_at,
        message=row.message,
        result=dict(row.result or {}),
    )


async def add_task(connection: AsyncConnection, task: NewTask, now: datetime) -> Task:
    spec, schedule = task.spec, task.schedule
    result = await connection.execute(
        insert(connection, TaskRow)
        .values(
            cluster=spec.target.cluster,
            namespace=spec.target.namespace,
            kind=spec.target.kind.value,
            name=spec.target.name,
            operation=spec.operation.value,
            params=_params(spec),
            run_at=schedule.at,
            cron=schedule.cron,
            timezone=schedule.timezone,
            grace_seconds=int(schedule.grace.total_seconds()),
            max_attempts=task.max_attempts,
            state=TaskState.ACTIVE.value,
            next_run_at=task.first_run_at,
            created_at=now,
            created_by=task.created_by,
            updated_at=now,
            note=task.note,
        )
        .returning(TaskRow.id)
    )
    task_id = int(result.scalar_one())
    found = await get_task(connection, task_id)
    assert found is not None
    return found


async def _last_runs(connection: AsyncConnection, task_ids: Sequence[int]) -> dict[int, TaskRun]:
    if not task_ids:
        return {}
    latest = (
        select(TaskRunRow.task_id, TaskRunRow.id)
        .where(TaskRunRow.task_id.in_(task_ids))
        .order_by(TaskRunRow.task_id, TaskRunRow.id.desc())
    )
    newest: dict[int, int] = {}
    for row in await connection.execute(latest):
        newest.setdefault(row.task_id, row.id)
    if not newest:
        return {}
    rows = await connection.execute(select(TaskRunRow).where(TaskRunRow.id.in_(list(newest.values()))))
    return {row.task_id: _run(row) for row in rows}


async def get_task(connection: AsyncConnection, task_id: int) -> Task | None:
    row = (await connection.execute(select(TaskRow).where(TaskRow.id == task_id))).first()
    if row is None:
        return None
    return _task(row, (await _last_runs(connection, [task_id])).get(task_id))


async def list_tasks(connection: AsyncConnection, state: TaskState | None, cluster: str | None) -> list[Task]:
    query = select(TaskRow).order_by(TaskRow.id)
    if state is not None:
        query = query.where(TaskRow.state == state.value)
    if cluster is not None:
        query = query.where(TaskRow.cluster == cluster)
    rows = list(await connection.execute(query))
    last = await _last_runs(connection, [r.id for r in rows])
    return [_task(r, last.get(r.id)) for r in rows]


async def set_state(
    connection: AsyncConnection, task_id: int, state: TaskState, next_run_at: datetime | None, now: datetime
) -> None:
    values: dict[str, Any] = {"state": state.value, "updated_at": now}
    if state is TaskState.CANCELLED:
        values["next_run_at"] = None
    elif next_run_at is not None:
        values["next_run_at"] = next_run_at
    await connection.execute(update(TaskRow).where(TaskRow.id == task_id).values(**values))


async def claim_due(
    connection: AsyncConnection,
    *,
    now: datetime,
    runner: str,
    lease_until: datetime,
    limit: int,
    plan: Planner,
    task_id: int | None,
) -> list[ClaimedRun]:
    due = (
        select(TaskRow.id)
        .where(TaskRow.state == TaskState.ACTIVE.value, TaskRow.next_run_at <= now)
        .order_by(TaskRow.next_run_at, TaskRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if task_id is not None:
        due = due.where(TaskRow.id == task_id)
    # The claiming write comes first; see the module docstring.
    touched = await connection.execute(
        update(TaskRow)
        .where(TaskRow.id.in_(due.scalar_subquery()), TaskRow.next_run_at <= now)
        .values(updated_at=now)
        .returning(TaskRow.id)
    )
    ids = sorted(int(i) for i in touched.scalars())
    if not ids:
        return []
    rows = list(
        await connection.execute(select(TaskRow).where(TaskRow.id.in_(ids)).order_by(TaskRow.next_run_at))
    )
    claimed: list[ClaimedRun] = []
    for row in rows:
        task = _task(row)
        decision = plan(task, now)
        state = task.state
        if not task.schedule.recurring and decision.run_for is None:
            state = TaskState.MISSED
        await connection.execute(
            update(TaskRow)
            .where(TaskRow.id == task.id)
            .values(next_run_at=decision.next_run_at, state=state.value, updated_at=now)
        )
        if decision.missed_from is not None:
            missed = await _insert_run(
                connection,
                task.id,
                decision.missed_from,
                RunState.MISSED,
                runner=runner,
                now=now,
                lease_until=None,
                message=decision.missed_message(task.schedule.grace),
            )
            if missed is not None:
                claimed.append(ClaimedRun(task, missed))
        if decision.run_for is not None:
            run = await _insert_run(
                connection,
                task.id,
                decision.run_for,
                RunState.RUNNING,
                runner=runner,
                now=now,
                lease_until=lease_until,
            )
            if run is not None:
                claimed.append(ClaimedRun(task, run))
    return claimed


async def _insert_run(
    connection: AsyncConnection,
    task_id: int,
    scheduled_for: datetime,
    state: RunState,
    *,
    runner: str,
    now: datetime,
    lease_until: datetime | None,
    message: str = "",
) -> TaskRun | None:
    statement = (
        insert(connection, TaskRunRow)
        .values(
            task_id=task_id,
            scheduled_for=scheduled_for,
            state=state.value,
            attempt=1 if state is RunState.RUNNING else 0,
            runner=runner,
            started_at=now if state is RunState.RUNNING else None,
            finished_at=now if state.final else None,
            lease_until=lease_until,
            message=message,
            result={},
        )
        .on_conflict_do_nothing(index_elements=[TaskRunRow.task_id, TaskRunRow.scheduled_for])
        .returning(*TaskRunRow.__table__.c)
    )
    row = (await connection.execute(statement)).first()
    return None if row is None else _run(row)


async def claim_retries(
    connection: AsyncConnection, *, now: datetime, runner: str, lease_until: datetime, limit: int
) -> list[ClaimedRun]:
    due = (
        select(TaskRunRow.id)
        .where(TaskRunRow.state == RunState.RETRY.value, TaskRunRow.retry_at <= now)
        .order_by(TaskRunRow.retry_at, TaskRunRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await connection.execute(
        update(TaskRunRow)
        .where(TaskRunRow.id.in_(due.scalar_subquery()), TaskRunRow.state == RunState.RETRY.value)
        .values(
            state=RunState.RUNNING.value,
            attempt=TaskRunRow.attempt + 1,
            runner=runner,
            started_at=now,
            lease_until=lease_until,
            retry_at=None,
        )
        .returning(*TaskRunRow.__table__.c)
    )
    runs = [_run(row) for row in result]
    return await _with_tasks(connection, runs)


async def _with_tasks(connection: AsyncConnection, runs: list[TaskRun]) -> list[ClaimedRun]:
    if not runs:
        return []
    rows = await connection.execute(select(TaskRow).where(TaskRow.id.in_({r.task_id for r in runs})))
    tasks = {row.id: _task(row) for row in rows}
    return [ClaimedRun(tasks[r.task_id], r) for r in sorted(runs, key=lambda r: r.id)]


async def finish_run(connection: AsyncConnection, run_id: int, outcome: RunOutcome, now: datetime) -> TaskRun:
    result = await connection.execute(
        update(TaskRunRow)
        .where(TaskRunRow.id == run_id)
        .values(
            state=outcome.state.value,
            finished_at=now if outcome.state.final else None,
            retry_at=outcome.retry_at,
            lease_until=None,
            message=outcome.message,
            result=outcome.result,
        )
        .returning(*TaskRunRow.__table__.c)
    )
    run = _run(result.one())
    if outcome.state.final:
        # A one-shot task ends with its run; a cron task stays active for its next time.
        final = TaskState.DONE if outcome.state is RunState.SUCCEEDED else TaskState.FAILED
        await connection.execute(
            update(TaskRow)
            .where(TaskRow.id == run.task_id, TaskRow.cron.is_(None), TaskRow.state == TaskState.ACTIVE.value)
            .values(state=final.value, updated_at=now)
        )
    return run


async def abandon_expired(connection: AsyncConnection, *, now: datetime, message: str) -> list[ClaimedRun]:
    expired = (
        select(TaskRunRow.id)
        .where(TaskRunRow.state == RunState.RUNNING.value, TaskRunRow.lease_until < now)
        .with_for_update(skip_locked=True)
    )
    result = await connection.execute(
        update(TaskRunRow)
        .where(
            TaskRunRow.id.in_(expired.scalar_subquery()),
            and_(TaskRunRow.state == RunState.RUNNING.value, TaskRunRow.lease_until < now),
        )
        .values(state=RunState.FAILED.value, finished_at=now, lease_until=None, message=message)
        .returning(*TaskRunRow.__table__.c)
    )
    runs = [_run(row) for row in result]
    for run in runs:
        await connection.execute(
            update(TaskRow)
            .where(TaskRow.id == run.task_id, TaskRow.cron.is_(None), TaskRow.state == TaskState.ACTIVE.value)
            .values(state=TaskState.FAILED.value, updated_at=now)
        )
    return await _with_tasks(connection, runs)


async def list_runs(connection: AsyncConnection, task_id: int, limit: int) -> list[TaskRun]:
    rows = await connection.execute(
        select(TaskRunRow).where(TaskRunRow.task_id == task_id).order_by(TaskRunRow.id.desc()).limit(limit)
    )
    return [_run(row) for row in rows]
