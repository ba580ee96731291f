"""The FastAPI application: routers, problem documents, health, readiness and Prometheus metrics.

``create_app`` takes a ready ApiContext (the store is opened by the caller, `kubecap serve`
or a test) and returns the app; nothing is created at import time.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from kubecap import __version__
from kubecap.api import (
    problems,
    routes_auth,
    routes_cost,
    routes_data,
    routes_nodes,
    routes_ops,
    routes_predict,
    routes_settings,
)
from kubecap.api.context import ApiContext
from kubecap.api.oidc import OidcService
from kubecap.api.security import check_rules, public
from kubecap.errors import KubecapError


class ApiMetrics:
    """The API's own registry (never the global one: several apps may live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "kubecap_api_requests_total",
            "API requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "kubecap_api_request_seconds", "API request latency", ["method", "route"], registry=self.registry
        )


def create_app(ctx: ApiContext) -> FastAPI:
    app = FastAPI(
        title="kubecap",
        version=__version__,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        description="Kubernetes capacity control: usage, recommendations, control, operations, audit.",
    )
    app.state.kubecap = ctx
    # OIDC's service keeps the provider's discovery document; None when OIDC is not configured.
    app.state.oidc = (
        OidcService(ctx.settings.oidc, ctx.store, ctx.auth, ctx.clock) if ctx.settings.oidc else None
    )
    metrics = ApiMetrics()
    app.state.metrics = metrics
    problems.install(app)

    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        # The route's template, never the raw path: ids would make unbounded label values.
        name = route.path if isinstance(route, APIRoute) else "other"
        metrics.requests.labels(request.method, name, str(response.status_code)).inc()
        metrics.latency.labels(request.method, name).observe(time.perf_counter() - started)
        return response

    @app.get("/healthz", tags=["health"])
    @public
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    @public
    async def readyz(request: Request) -> Response:
        """The database answers; ``loops`` reports the background loops (last success, failures,
        leadership). A failing loop does not make the process unready: it serves the API all the same."""
        try:
            await ctx.store.count_users()
        except KubecapError as exc:
            return problems.problem(503, "not-ready", "Unavailable", str(exc))
        background = getattr(request.app.state, "background", None)
        body = {"status": "ready", "loops": background.report() if background is not None else None}
        return JSONResponse(body)

    @app.get("/metrics", tags=["health"])
    @public
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    for router in (
        routes_auth.router,
        routes_cost.router,
        routes_predict.router,
        routes_data.router,
        routes_nodes.router,
        routes_ops.router,
        routes_settings.router,
    ):
        app.include_router(router)
    check_rules(app)
    return app


def route_rules(app: FastAPI) -> dict[tuple[str, str], str]:
    """(method, path) → the least role (or "public"), for the role test and the docs."""
    return check_rules(app)


__all__: list[Any] = ["create_app", "route_rules"]
