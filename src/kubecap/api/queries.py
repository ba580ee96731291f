"""Reads the API and the UI share: summaries, the overview, one workload's detail (store → views)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.encoders import jsonable_encoder

from kubecap.api import views
from kubecap.api.context import ApiContext
from kubecap.domain.recommendation import Recommendation
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.errors import ConfigError, NotFoundError

DEFAULT_STRATEGY = "kubecap"
SUMMARY_DAYS = 14
TREND_DAYS = 30


async def clusters(ctx: ApiContext) -> list[str]:
    stored = await ctx.store.clusters()
    configured = [c.name for c in ctx.settings.clusters]
    return sorted(set(stored) | set(configured))


async def summaries(
    ctx: ApiContext, cluster: str | None, strategy: str = DEFAULT_STRATEGY, days: int = SUMMARY_DAYS
) -> list[views.WorkloadSummary]:
    span = await ctx.store.usage_span(cluster=cluster)
    if span is None:
        return []
    profiles = await ctx.store.usage(cluster=cluster, since=span[1] - timedelta(days=days - 1), until=span[1])
    recs = await ctx.store.recommendations(cluster=cluster, strategy=strategy)
    return views.summarise(profiles, recs)


async def overview(ctx: ApiContext, cluster: str | None) -> dict[str, Any]:
    span = await ctx.store.usage_span(cluster=cluster)
    if span is None:
        return views.overview([], [], [])
    since = span[1] - timedelta(days=TREND_DAYS - 1)
    profiles = await ctx.store.usage(cluster=cluster, since=since, until=span[1])
    recs = await ctx.store.recommendations(cluster=cluster, strategy=DEFAULT_STRATEGY)
    recent = [p for p in profiles if p.day > span[1] - timedelta(days=SUMMARY_DAYS)]
    nodes = await ctx.store.node_usage(cluster=cluster, since=span[1] - timedelta(days=1), until=span[1])
    return views.overview(views.summarise(recent, recs), profiles, nodes)


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
