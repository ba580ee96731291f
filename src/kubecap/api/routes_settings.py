"""Settings: what is configured (secrets left out), the Prometheus connection test, prices per
cluster and node pool, and notification channels (URLs accepted, never returned)."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from kubecap.api.context import ApiContext, context
from kubecap.api.prometheus_check import check_prometheus
from kubecap.api.security import Admin, Operator, Viewer
from kubecap.api.settings_service import SettingsService
from kubecap.errors import NotFoundError
from kubecap.store import masked_url

router = APIRouter(prefix="/api", tags=["settings"])


def service(ctx: ApiContext) -> SettingsService:
    return SettingsService(ctx.store, ctx.settings, ctx.clock)


@router.get("/settings")
async def settings(principal: Viewer, request: Request) -> dict[str, Any]:
    """The settings in force, secrets left out (a token or password shows only whether it is set)."""
    ctx = context(request)
    clusters = []
    for c in ctx.settings.clusters:
        prom = c.prometheus
        clusters.append(
            {
                "name": c.name,
                "timezone": c.timezone,
                "peak_windows": list(c.peak_windows),
                "simulated": c.simulated,
                "kubernetes": c.kubernetes is not None,
                "prometheus": None
                if prom is None
                else {
                    "url": prom.url,
                    "auth": "bearer" if prom.token() else "basic" if prom.username else "none",
                    "headers": sorted(prom.headers),
                },
            }
        )
    channels = [c.to_dict() for c in await service(ctx).channels()]
    return {
        "database": masked_url(ctx.settings.database_url),
        "clusters": clusters,
        "notification_channels": channels,
        "prices": await service(ctx).price_rows(),
        "api": ctx.settings.api.model_dump(),
        "oidc": ctx.settings.oidc.public() if ctx.settings.oidc else None,
    }


@router.post("/settings/prometheus/test")
async def test_prometheus(
    principal: Operator, request: Request, cluster: str | None = None
) -> list[dict[str, Any]]:
    """Per configured cluster (or the one named): is its Prometheus reachable, which series are there."""
    ctx = context(request)
    chosen = [c for c in ctx.settings.clusters if cluster is None or c.name == cluster]
    if cluster is not None and not chosen:
        raise NotFoundError(f"cluster {cluster!r} is not configured: see GET /api/settings")
    now = ctx.clock()
    checks = await asyncio.gather(*(check_prometheus(c, now) for c in chosen))
    return [c.to_dict() for c in checks]


class PriceBody(BaseModel):
    cpu_price: float = Field(description="US dollars per core-hour")
    memory_price: float = Field(description="US dollars per GiB-hour")


@router.get("/settings/prices")
async def list_prices(principal: Viewer, request: Request) -> list[dict[str, Any]]:
    """The default price, and overrides per cluster and node pool (saved ones win over the file's)."""
    return await service(context(request)).price_rows()


@router.put("/settings/prices/{scope}/{name}")
async def set_price(
    scope: Literal["cluster", "pool"], name: str, body: PriceBody, principal: Admin, request: Request
) -> dict[str, Any]:
    """Set the price of a cluster or a node pool (audited)."""
    saved = await service(context(request)).set_price(
        principal.username, scope, name, body.cpu_price, body.memory_price
    )
    return {
        "scope": saved.scope,
        "name": saved.name,
        "cpu_price": saved.cpu_price,
        "memory_price": saved.memory_price,
    }


@router.delete("/settings/prices/{scope}/{name}", status_code=204)
async def remove_price(
    scope: Literal["cluster", "pool"], name: str, principal: Admin, request: Request
) -> None:
    await service(context(request)).remove_price(principal.username, scope, name)


class ChannelBody(BaseModel):
    urls: list[str] | None = Field(
        None, description="apprise URLs (secrets: never returned); omit to keep the saved ones"
    )
    clusters: list[str] = Field(default_factory=list, description="empty: every cluster")
    events: list[str] = Field(default_factory=list, description="event kinds; empty: every kind")


@router.get("/settings/channels")
async def list_channels(principal: Viewer, request: Request) -> list[dict[str, Any]]:
    """Notification channels with their URLs masked (the scheme only)."""
    return [c.to_dict() for c in await service(context(request)).channels()]


@router.put("/settings/channels/{name}")
async def save_channel(name: str, body: ChannelBody, principal: Admin, request: Request) -> dict[str, Any]:
    """Create or change a channel (validated by apprise, audited without its URLs)."""
    view = await service(context(request)).save_channel(
        principal.username, name, body.urls, body.clusters, body.events
    )
    return view.to_dict()


@router.delete("/settings/channels/{name}", status_code=204)
async def delete_channel(name: str, principal: Admin, request: Request) -> None:
    await service(context(request)).delete_channel(principal.username, name)


@router.post("/settings/channels/{name}/test")
async def test_channel(name: str, principal: Admin, request: Request) -> dict[str, Any]:
    """Send a test message through one channel (one attempt); the answer says whether it arrived."""
    delivery = await service(context(request)).test_channel(principal.username, name)
    return {"channel": delivery.channel, "ok": delivery.ok, "reason": delivery.reason}
