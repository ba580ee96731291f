"""Reads the API and the UI share: summaries, the overview, one workload's detail (store → views)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.encoders import jsonable_encoder

from kubecap.api import cache, views
from kubecap.api.context import ApiContext
from kubecap.domain.recommendation import Recommendation
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.errors import ConfigError, NotFoundError

DEFAULT_STRATEGY = cache.DEFAULT_STRATEGY
SUMMARY_DAYS = cache.SUMMARY_DAYS
TREND_DAYS = cache.TREND_DAYS


async def clusters(ctx: ApiContext) -> list[str]:
    stored = await ctx.store.clusters()
    configured = [c.name for c in ctx.settings.clusters]
    return sorted(set(stored) | set(configured))


async def summaries(ctx: ApiContext, cluster: str | None) -> list[views.WorkloadSummary]:
    """Every workload's summary over the last SUMMARY_DAYS (cached until the store's state moves)."""
    return (await ctx.summaries.get(ctx.store, cluster)).workloads


async def summary_rows(ctx: ApiContext, cluster: str | None) -> list[dict[str, Any]]:
    """The summaries as the API's dicts (cached with them; callers must not change them)."""
    return (await ctx.summaries.get(ctx.store, cluster)).rows


async def overview(ctx: ApiContext, cluster: str | None) -> dict[str, Any]:
    """The overview (views.overview) of ``cluster`` or of every cluster, cached with the summaries."""
    return (await ctx.summaries.get(ctx.store, cluster)).overview


def parse_kind(kind: str) -> WorkloadKind:
    for known in WorkloadKind:
        if kind.lower() == known.value.lower():
            return known
    raise ConfigError(f"kind {kind!r} is unknown: use Deployment, StatefulSet or DaemonSet")


async def workload(ctx: ApiContext, ref: WorkloadRef, days: int = TREND_DAYS) -> dict[str, Any]:
    """A workload's summary, daily series per container and window, and its recommendations."""
    span = await ctx.store.usage_span(cluster=ref.cluster)
    profiles = (
        await ctx.store.usage(
            cluster=ref.cluster,
            namespace=ref.namespace,
            since=span[1] - timedelta(days=days - 1),
            until=span[1],
        )
        if span
        else []
    )
    mine = [p for p in profiles if p.workload == ref]
    if not mine:
        raise NotFoundError(
            f"workload {views.workload_id(ref)} has no stored usage: check the cluster, namespace, kind and name"
        )
    recs = [
        r
        for r in await ctx.store.recommendations(cluster=ref.cluster, namespace=ref.namespace)
        if r.ref.workload == ref
    ]
    default = [r for r in recs if r.strategy == DEFAULT_STRATEGY]
    summary = views.summarise(mine, default)[0]
    return {
        "workload": summary.to_dict(),
        "series": views.series(mine, ref),
        "recommendations": [recommendation_dict(r) for r in recs],
    }


def recommendation_dict(rec: Recommendation) -> dict[str, Any]:
    body: dict[str, Any] = jsonable_encoder(rec)
    body["workload_id"] = views.workload_id(rec.ref.workload)
    body["container"] = rec.ref.container
    body["changed"] = rec.changed
    return body
