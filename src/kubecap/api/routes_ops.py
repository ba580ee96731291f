"""Tasks (scale / restart / apply now, at a time, on cron; cancel, pause, resume, history) and the
audit log (filter, export as JSON or CSV)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response
from pydantic import BaseModel, Field

from kubecap.api import queries
from kubecap.api.context import ApiContext, context
from kubecap.api.listing import page
from kubecap.api.security import Operator, Viewer
from kubecap.domain.audit import AuditFilter, AuditResult
from kubecap.domain.schedule import parse_at
from kubecap.domain.tasks import Operation, OperationSpec, Task, TaskState
from kubecap.domain.workload import WorkloadRef
from kubecap.errors import ConfigError

router = APIRouter(prefix="/api", tags=["operations"])
AUDIT_FIELDS = [
    "id",
    "at",
    "actor",
    "action",
    "cluster",
    "target",
    "result",
    "before",
    "after",
    "request_id",
    "message",
]


class NewTask(BaseModel):
    operation: Operation
    workload_id: str = Field(description="cluster/namespace/Kind/name")
    replicas: int | None = Field(None, description="for scale")
    at: str | None = Field(None, description="'YYYY-MM-DD HH:MM' in timezone, or an ISO time; omit for now")
    cron: str | None = Field(None, description="a cron expression, e.g. '0 22 * * *'")
    timezone: str = "UTC"
    until: str | None = Field(None, description="for scale: revert at this time")


def task_dict(task: Task) -> dict[str, Any]:
    body: dict[str, Any] = jsonable_encoder(task)
    body["description"] = task.spec.describe()
    body["schedule_text"] = task.schedule.describe()
    body["workload_id"] = "/".join(
        (
            task.spec.target.cluster,
            task.spec.target.namespace,
            task.spec.target.kind.value,
            task.spec.target.name,
        )
    )
    return body


def parse_ref(workload_id: str) -> WorkloadRef:
    parts = workload_id.split("/")
    if len(parts) != 4 or not all(parts):
        raise ConfigError(
            f"workload id {workload_id!r} is not cluster/namespace/Kind/name: copy it from the list"
        )
    return WorkloadRef(parts[0], parts[1], queries.parse_kind(parts[2]), parts[3])


@router.get("/tasks")
async def list_tasks(
    principal: Viewer,
    request: Request,
    state: TaskState | None = None,
    cluster: str | None = None,
    sort: str | None = "-id",
    offset: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    tasks = await context(request).tasks.tasks(state=state, cluster=cluster)
    return page([task_dict(t) for t in tasks], offset=offset, limit=limit, sort=sort)


@router.post("/tasks", status_code=201)
async def create_task(body: NewTask, principal: Operator, request: Request) -> dict[str, Any]:
    """Submit a task now, at a time or on cron (validated and audited by the operations service)."""
    ctx = context(request)
    now = ctx.clock()
    when = parse_at(body.at, body.timezone, now) if body.at else None
    revert = parse_at(body.until, body.timezone, now) if body.until else None
    spec = OperationSpec(
        body.operation, parse_ref(body.workload_id), replicas=body.replicas, revert_at=revert
    )
    task = await ctx.tasks.submit(
        spec, actor=principal.username, at=when, cron=body.cron, timezone=body.timezone
    )
    if when is None and body.cron is None:
        return await run_now(ctx, task)
    return task_dict(task)


async def run_now(ctx: ApiContext, task: Task) -> dict[str, Any]:
    """A task for now runs at once through the ops runner (claimed exactly once like any other run);
    without a wired runner it waits for the background runner, and the answer says so."""
    body = task_dict(task)
    if ctx.live.runner is None:
        body["runs"] = []
        body["ran"] = "queued: no cluster API is wired in this process; the background runner will run it"
        return body
    runs = await ctx.live.runner.run_task(task.id)
    history = await ctx.tasks.history(task.id)
    body = task_dict(history.task)
    body["runs"] = jsonable_encoder(runs)
    body["ran"] = (
        "; ".join(f"{r.state.value}: {r.message}" for r in runs) or "already taken by another runner"
    )
    return body


@router.get("/tasks/{task_id}")
async def task_history(task_id: int, principal: Viewer, request: Request) -> dict[str, Any]:
    history = await context(request).tasks.history(task_id)
    return {"task": task_dict(history.task), "runs": jsonable_encoder(history.runs)}


@router.post("/tasks/{task_id}/cancel")
async def cancel_task(task_id: int, principal: Operator, request: Request) -> dict[str, Any]:
    return task_dict(await context(request).tasks.cancel(task_id, actor=principal.username))


@router.post("/tasks/{task_id}/pause")
async def pause_task(task_id: int, principal: Operator, request: Request) -> dict[str, Any]:
    return task_dict(await context(request).tasks.pause(task_id, actor=principal.username))


@router.post("/tasks/{task_id}/resume")
async def resume_task(task_id: int, principal: Operator, request: Request) -> dict[str, Any]:
    return task_dict(await context(request).tasks.resume(task_id, actor=principal.username))


def _audit_filter(
    since: datetime | None,
    until: datetime | None,
    actor: str | None,
    action: str | None,
    cluster: str | None,
    target: str | None,
    result: AuditResult | None,
    limit: int,
) -> AuditFilter:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ConfigError(f"{name} {value.isoformat()} has no time zone: add one, e.g. Z or +08:00")
    return AuditFilter(since, until, actor, action, cluster, target, result, limit)


@router.get("/audit")
async def audit(
    principal: Viewer,
    request: Request,
    since: datetime | None = None,
    until: datetime | None = None,
    actor: str | None = None,
    action: str | None = None,
    cluster: str | None = None,
    target: str | None = Query(None, description="substring of the target"),
    result: AuditResult | None = None,
    offset: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    where = _audit_filter(since, until, actor, action, cluster, target, result, offset + limit)
    events = await context(request).store.audit_events(where)
    rows = [e.to_dict() for e in events]
    return {"items": rows[offset : offset + limit], "offset": offset, "limit": limit, "total": len(rows)}


@router.get("/audit/export")
async def audit_export(
    principal: Viewer,
    request: Request,
    format: Literal["json", "csv"] = "csv",
    since: datetime | None = None,
    until: datetime | None = None,
    actor: str | None = None,
    action: str | None = None,
    cluster: str | None = None,
    target: str | None = None,
    result: AuditResult | None = None,
    limit: int = Query(10_000, ge=1, le=100_000),
) -> Response:
    where = _audit_filter(since, until, actor, action, cluster, target, result, limit)
    rows = [e.to_dict() for e in await context(request).store.audit_events(where)]
    if format == "json":
        return Response(json.dumps(rows), media_type="application/json")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=AUDIT_FIELDS)
    writer.writeheader()
    writer.writerows({k: json.dumps(v) if isinstance(v, dict) else v for k, v in row.items()} for row in rows)
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
