"""Predictive replicas: list the opted-in workloads (viewer), opt one in or change it, opt it out (operator).

Thin over ``kubecap.predict.PolicyService``, as ``kubecap predict`` is: the policy is validated
whole (one sentence, 422), every change is audited with the caller as actor.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from kubecap.api import queries
from kubecap.api.context import context
from kubecap.api.listing import page
from kubecap.api.security import Operator, Viewer
from kubecap.domain.workload import WorkloadRef
from kubecap.predict import CronWindow, Mode, Policy, PolicyService, Signal
from kubecap.predict.service import PolicyView

router = APIRouter(prefix="/api/predict", tags=["predict"])


class CronBody(BaseModel):
    start: str = Field(description="cron expression: the window opens")
    end: str = Field(description="cron expression: the window closes")
    replicas: int = Field(description="at least this many replicas while it is open")
    timezone: str = "UTC"


class PolicyBody(BaseModel):
    target: float = Field(
        description="load one replica carries: cores for cpu, the expression's unit for promql"
    )
    min_replicas: int = 1
    max_replicas: int = 10
    max_step: int = Field(5, description="most replicas added or removed per round")
    lead_seconds: int = Field(1800, description="how far ahead of the forecast load to scale")
    mode: Mode = Mode.CONTROL_TABLE
    signal: Signal = Signal.CPU
    promql: str = ""
    hpa: str = Field("", description="the HPA for hpa-min (empty: the one targeting the workload)")
    max_error: float = Field(0.5, description="backtest error above which it reacts instead (0.5 = 50%)")
    crons: list[CronBody] = Field(default_factory=list)
    preview: bool = Field(False, description="only record what it would do")


def _view(view: PolicyView) -> dict[str, Any]:
    last = view.state.get("last") or {}
    return {
        "workload": str(view.policy.ref),
        **view.policy.to_json(),
        "last_at": view.state.get("at"),
        "last_replicas": last.get("replicas"),
        "last_reason": last.get("reason"),
        "error": view.state.get("error"),
    }


@router.get("/policies")
async def list_policies(
    principal: Viewer,
    request: Request,
    cluster: str | None = None,
    offset: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
    sort: str | None = None,
    q: str | None = Query(None, description="substring of the workload"),
) -> dict[str, Any]:
    """The opted-in workloads, their policies and their last round."""
    views = await PolicyService(context(request).store).policies(cluster=cluster)
    return page([_view(v) for v in views], offset=offset, limit=limit, sort=sort, search=q)


@router.put("/policies/{cluster}/{namespace}/{kind}/{name}")
async def set_policy(
    cluster: str,
    namespace: str,
    kind: str,
    name: str,
    body: PolicyBody,
    principal: Operator,
    request: Request,
) -> dict[str, Any]:
    """Opt the workload in, or replace its policy (audited); the answer holds the policy before and after."""
    ctx = context(request)
    policy = Policy(
        WorkloadRef(cluster, namespace, queries.parse_kind(kind), name),
        target=body.target,
        min_replicas=body.min_replicas,
        max_replicas=body.max_replicas,
        max_step=body.max_step,
        lead_seconds=body.lead_seconds,
        mode=body.mode,
        signal=body.signal,
        promql=body.promql,
        hpa=body.hpa,
        max_error=body.max_error,
        crons=tuple(CronWindow(c.start, c.end, c.replicas, c.timezone) for c in body.crons),
        preview=body.preview,
    ).validate()
    before = await PolicyService(ctx.store, clock=ctx.clock).set(policy, actor=principal.username)
    return {"before": None if before is None else before.policy.to_json(), "after": policy.to_json()}


@router.delete("/policies/{cluster}/{namespace}/{kind}/{name}", status_code=204)
async def unset_policy(
    cluster: str, namespace: str, kind: str, name: str, principal: Operator, request: Request
) -> None:
    """Opt the workload out (404 when it had no policy); its replicas and any HPA minimum stay (audited)."""
    ctx = context(request)
    ref = WorkloadRef(cluster, namespace, queries.parse_kind(kind), name)
    await PolicyService(ctx.store, clock=ctx.clock).unset(ref, actor=principal.username)
