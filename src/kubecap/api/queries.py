"""Reads the API and the UI share: summaries, the overview, one workload's detail (store → views)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.encoders import jsonable_encoder

from kubecap.api import cache, views
from kubecap.api.cache import Summaries
from kubecap.api.context import ApiContext
from kubecap.api.settings_service import SettingsService
from kubecap.cost import Level
from kubecap.cost.prices import Prices
from kubecap.cost.service import build_report
from kubecap.domain.recommendation import Recommendation
from kubecap.domain.usage import UsageProfile
from kubecap.domain.window import DAY
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.errors import ConfigError, NotFoundError

DEFAULT_STRATEGY = cache.DEFAULT_STRATEGY
SUMMARY_DAYS = cache.SUMMARY_DAYS
TREND_DAYS = cache.TREND_DAYS


async def clusters(ctx: ApiContext) -> list[str]:
    stored = await ctx.store.clusters()
    configured = [c.name for c in ctx.settings.clusters]
    return sorted(set(stored) | set(configured))


async def prices_in_force(ctx: ApiContext) -> Prices:
    """The settings file's prices with the overrides saved in Settings on top."""
    return await SettingsService(ctx.store, ctx.settings, ctx.clock).prices()


async def cached(ctx: ApiContext, cluster: str | None) -> Summaries:
    """The summaries of ``cluster`` (or of all), cached until the store's state or the prices move."""
    return await ctx.summaries.get(ctx.store, cluster, await prices_in_force(ctx))


async def summaries(ctx: ApiContext, cluster: str | None) -> list[views.WorkloadSummary]:
    """Every workload's summary over the last SUMMARY_DAYS."""
    return (await cached(ctx, cluster)).workloads


async def summary_rows(ctx: ApiContext, cluster: str | None) -> list[dict[str, Any]]:
    """The summaries as the API's dicts (cached with them; callers must not change them)."""
    return (await cached(ctx, cluster)).rows


async def overview(ctx: ApiContext, cluster: str | None) -> dict[str, Any]:
    """The overview (views.overview) of ``cluster`` or of every cluster, cached with the summaries."""
    return (await cached(ctx, cluster)).overview


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
    prices = await prices_in_force(ctx)
    summary = views.summarise(mine, default)[0]
    views.priced([summary], prices)
    return {
        "workload": summary.to_dict(),
        "cost": _cost(mine, prices),
        "series": views.series(mine, ref),
        "recommendations": [recommendation_dict(r) for r in recs],
    }


def _cost(profiles: list[UsageProfile], prices: Prices) -> dict[str, Any] | None:
    """What the workload costs (OpenCost: max(request, usage) × price) over its whole days, per month."""
    whole_days = [p for p in profiles if p.window == DAY]
    if not whole_days:
        return None
    (line,) = build_report(whole_days, [], prices, Level.WORKLOAD).lines
    return {
        "days": line.days,
        "cpu_usd": round(line.cpu_usd, 2),
        "memory_usd": round(line.memory_usd, 2),
        "monthly_usd": round(line.monthly_usd, 2),
    }


def recommendation_dict(rec: Recommendation) -> dict[str, Any]:
    body: dict[str, Any] = jsonable_encoder(rec)
    body["workload_id"] = views.workload_id(rec.ref.workload)
    body["container"] = rec.ref.container
    body["changed"] = rec.changed
    return body
