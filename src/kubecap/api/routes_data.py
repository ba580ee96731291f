"""Clusters, the overview, workloads with their usage history, recommendations (and approving them
into the control table with a diff), control specs and namespace policies. Nodes and settings
are in routes_nodes.py and routes_settings.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from kubecap.api import queries
from kubecap.api.context import context
from kubecap.api.listing import page
from kubecap.api.security import Admin, Operator, Viewer
from kubecap.control.service import SpecChange
from kubecap.domain.control import ContainerSpec, Enforcement, Failure, ReplicasMode, Unmanaged
from kubecap.domain.workload import WorkloadRef
from kubecap.errors import NotFoundError

router = APIRouter(prefix="/api", tags=["data"])
Offset = Query(0, ge=0)
Limit = Query(100, ge=1, le=1000)


@router.get("/clusters")
async def list_clusters(principal: Viewer, request: Request) -> list[dict[str, Any]]:
    ctx = context(request)
    return [{"name": name, "span": await _span(request, name)} for name in await queries.clusters(ctx)]


async def _span(request: Request, cluster: str) -> list[str] | None:
    span = await context(request).store.usage_span(cluster=cluster)
    return [span[0].isoformat(), span[1].isoformat()] if span else None


@router.get("/overview")
async def overview(principal: Viewer, request: Request, cluster: str | None = None) -> dict[str, Any]:
    """Requested vs used vs allocatable at peak, top namespaces and workloads, the 30-day trend, cost."""
    return await queries.overview(context(request), cluster)


@router.get("/workloads")
async def list_workloads(
    principal: Viewer,
    request: Request,
    cluster: str | None = None,
    namespace: str | None = None,
    kind: str | None = None,
    q: str | None = Query(None, description="substring of the name or namespace"),
    sort: str | None = Query("-waste_usd", description="a field, '-' first for descending"),
    offset: int = Offset,
    limit: int = Limit,
) -> dict[str, Any]:
    rows = await queries.summary_rows(context(request), cluster)
    filters = {"namespace": namespace, "kind": queries.parse_kind(kind).value if kind else None}
    return page(rows, offset=offset, limit=limit, sort=sort, filters=filters, search=q)


@router.get("/workloads/{cluster}/{namespace}/{kind}/{name}")
async def get_workload(
    cluster: str,
    namespace: str,
    kind: str,
    name: str,
    principal: Viewer,
    request: Request,
    days: int = Query(30, ge=1, le=400),
) -> dict[str, Any]:
    """Summary, daily peak-window and whole-day usage per container, and recommendations."""
    ref = WorkloadRef(cluster, namespace, queries.parse_kind(kind), name)
    return await queries.workload(context(request), ref, days)


@router.get("/recommendations")
async def list_recommendations(
    principal: Viewer,
    request: Request,
    cluster: str | None = None,
    namespace: str | None = None,
    strategy: str | None = None,
    changed: bool | None = None,
    sort: str | None = None,
    offset: int = Offset,
    limit: int = Limit,
) -> dict[str, Any]:
    recs = await context(request).store.recommendations(
        cluster=cluster, strategy=strategy, namespace=namespace
    )
    rows = [queries.recommendation_dict(r) for r in recs if changed is None or r.changed == changed]
    return page(rows, offset=offset, limit=limit, sort=sort)


class Approval(BaseModel):
    workload_id: str = Field(description="cluster/namespace/Kind/name")
    strategy: str = queries.DEFAULT_STRATEGY
    replicas: bool = True
    dry_run: bool = False


@router.post("/recommendations/approve")
async def approve(body: Approval, principal: Operator, request: Request) -> dict[str, Any]:
    """Write a workload's recommendation into the control table; the answer is the diff (audited)."""
    ctx = context(request)
    parts = body.workload_id.split("/")
    if len(parts) != 4:
        raise NotFoundError(
            f"workload id {body.workload_id!r} is not cluster/namespace/Kind/name: copy it from the list"
        )
    ref = WorkloadRef(parts[0], parts[1], queries.parse_kind(parts[2]), parts[3])
    recs = [
        r
        for r in await ctx.store.recommendations(
            cluster=ref.cluster, strategy=body.strategy, namespace=ref.namespace
        )
        if r.ref.workload == ref
    ]
    if not recs:
        raise NotFoundError(
            f"no {body.strategy} recommendation for {body.workload_id}: run the recommender or pick another strategy"
        )
    changes, skipped = await ctx.control.approve(recs, replicas=body.replicas)
    applied = await ctx.control.apply(
        changes,
        action="control.approve",
        actor=principal.username,
        reason=f"approved {body.strategy}",
        dry_run=body.dry_run,
    )
    return {
        "changes": [{"workload": str(c.ref), "state": c.describe(), "diff": c.lines()} for c in applied],
        "skipped": skipped,
        "dry_run": body.dry_run,
    }


@router.get("/control/specs")
async def control_specs(
    principal: Viewer, request: Request, cluster: str | None = None, namespace: str | None = None
) -> list[dict[str, Any]]:
    specs = await context(request).control.specs(cluster=cluster, namespace=namespace)
    return [{"workload": str(s.ref), **s.values()} for s in specs]


@router.get("/control/policies")
async def control_policies(principal: Viewer, request: Request, cluster: str) -> list[dict[str, Any]]:
    policies = await context(request).control.policies(cluster)
    return [{"cluster": p.cluster, "namespace": p.namespace, **p.values()} for p in policies]


class ContainerValues(BaseModel):
    container: str
    requests: dict[str, str | None] = Field(
        default_factory=dict, description="e.g. {'cpu': '250m'}; null removes"
    )
    limits: dict[str, str | None] = Field(default_factory=dict)


class SpecChangeBody(BaseModel):
    replicas: int | None = None
    mode: ReplicasMode | None = None
    container: ContainerValues | None = None
    reason: str = ""
    dry_run: bool = False


class PolicyBody(BaseModel):
    enforcement: Enforcement | None = None
    unmanaged: Unmanaged | None = None
    failure: Failure | None = None


def _diff(change: SpecChange) -> dict[str, Any]:
    return {"workload": str(change.ref), "state": change.describe(), "diff": change.lines()}


@router.put("/control/specs/{cluster}/{namespace}/{kind}/{name}")
async def set_spec(
    cluster: str,
    namespace: str,
    kind: str,
    name: str,
    body: SpecChangeBody,
    principal: Operator,
    request: Request,
) -> dict[str, Any]:
    """Create or change a workload's control spec (merged per container); the answer is the diff (audited)."""
    ref = WorkloadRef(cluster, namespace, queries.parse_kind(kind), name)
    c = body.container
    container = ContainerSpec(c.container, c.requests, c.limits).validate() if c else None
    change = await context(request).control.set(
        ref,
        actor=principal.username,
        reason=body.reason,
        replicas=body.replicas,
        mode=body.mode,
        container=container,
        dry_run=body.dry_run,
    )
    return _diff(change)


@router.delete("/control/specs/{cluster}/{namespace}/{kind}/{name}")
async def unset_spec(
    cluster: str,
    namespace: str,
    kind: str,
    name: str,
    principal: Operator,
    request: Request,
    container: str | None = None,
) -> dict[str, Any]:
    """Remove a spec (the workload becomes unmanaged), or one container from it (audited)."""
    ref = WorkloadRef(cluster, namespace, queries.parse_kind(kind), name)
    return _diff(await context(request).control.unset(ref, actor=principal.username, container=container))


@router.put("/control/policies/{cluster}/{namespace}")
async def set_policy(
    cluster: str, namespace: str, body: PolicyBody, principal: Admin, request: Request
) -> dict[str, Any]:
    """Set a namespace's enforcement mode, unmanaged-workload rule and failure mode (audited)."""
    before, after = await context(request).control.set_policy(
        cluster,
        namespace,
        actor=principal.username,
        enforcement=body.enforcement,
        unmanaged=body.unmanaged,
        failure=body.failure,
    )
    return {"before": before.values() if before else None, "after": after.values()}


@router.delete("/control/policies/{cluster}/{namespace}", status_code=204)
async def remove_policy(cluster: str, namespace: str, principal: Admin, request: Request) -> None:
    if not await context(request).control.remove_policy(cluster, namespace, actor=principal.username):
        raise NotFoundError(f"namespace {namespace!r} of cluster {cluster!r} has no policy of its own")
