"""The scheduler extender over HTTP: thin Starlette routes around the pure policy.

``ExtenderService`` does, per request: parse (``protocol``), assess (``policy.assess``, once
per snapshot and second), decide (``filter_nodes`` / ``score_nodes``), count (metrics),
encode. It never raises into the server: a request it cannot read gets the filter
result's ``Error`` (kube-scheduler logs it; with ``ignorable: true`` it schedules without
us), and a failure of our own fails open — every node passes, every score is neutral.

Routes: ``POST /filter`` and ``POST /prioritize`` (kube-scheduler appends the verb to
``urlPrefix``), ``GET /nodes`` (the node-load snapshot, for people), ``GET /metrics``,
``GET /healthz``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kubecap.domain.node_identity import NodeIdentity
from kubecap.scheduling.decide import Decider
from kubecap.scheduling.load import Freshness, LoadSnapshot, Resource, Span, freshness
from kubecap.scheduling.metrics import CONTENT_TYPE, ExtenderMetrics, exposition
from kubecap.scheduling.policy import LoadPolicy, LoadView
from kubecap.scheduling.protocol import (
    ExtenderArgs,
    ProtocolError,
    encode,
    encode_priorities,
    error_result,
    filter_result,
    parse_args,
    pass_all_result,
)

_log = logging.getLogger(__name__)
_WARN_EVERY_S = 60.0
VIEW_SECONDS = 5

Clock = Callable[[], datetime]
Learner = Callable[[list[NodeIdentity]], None]


class ExtenderService:
    """Filter and prioritize on the latest node-load snapshot; answers are JSON-ready values."""

    def __init__(
        self,
        snapshot: Callable[[], LoadSnapshot],
        policy: LoadPolicy,
        metrics: ExtenderMetrics,
        *,
        clock: Clock,
        learn: Learner | None = None,
    ) -> None:
        self._snapshot = snapshot
        self._policy = policy
        self._metrics = metrics
        self._clock = clock
        self._learn = learn
        self._decider = Decider(policy)
        self._warned_at = 0.0

    def view(self) -> LoadView:
        """The assessment of the current snapshot, made again when it changes or every VIEW_SECONDS.

        Assessing 1,000 nodes takes a few milliseconds: done per request it would be most of
        the latency; every few seconds it is invisible, and figures age in minutes.
        """
        now = self._clock()
        tick = now - timedelta(seconds=now.timestamp() % VIEW_SECONDS)
        return self._decider.refresh(self._snapshot(), tick)

    def _warn(self, message: str, **extra: Any) -> None:
        # kube-scheduler calls us for every pod: say a recurring problem once a minute, not every time.
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_S:
            self._warned_at = now
            _log.warning(message, extra=extra)

    def _parse(self, body: bytes) -> ExtenderArgs:
        args = parse_args(body)
        if args.addresses and self._learn is not None:
            self._learn([NodeIdentity(name, addresses) for name, addresses in args.addresses.items()])
        return args

    def filter(self, body: bytes) -> bytes:
        """The ExtenderFilterResult as JSON (always HTTP 200: kube-scheduler reads Error only from one)."""
        started = time.perf_counter()
        try:
            args = self._parse(body)
        except ProtocolError as exc:
            self._metrics.requests.labels("filter", "error").inc()
            _log.info("extender request refused", extra={"verb": "filter", "error": str(exc)})
            return encode(error_result(str(exc)))
        try:
            self.view()
            outcome = self._decider.filter(args.pod, args.node_names)
        except Exception:
            _log.exception("filter failed; passing every node", extra={"pod": args.pod.key})
            self._metrics.requests.labels("filter", "fail_open").inc()
            return encode(pass_all_result(args))
        nodes = self._metrics.nodes
        if outcome.skipped:
            self._metrics.requests.labels("filter", "skipped").inc()
        elif outcome.all_passed_because_all_hot:
            self._metrics.requests.labels("filter", "all_hot_passed").inc()
            self._warn("every candidate node is above the load marks; passing them all", pod=args.pod.key)
        else:
            lacking = len(outcome.without_data) + len(outcome.stale)
            outcome_label = "fail_open" if args.node_names and lacking == len(args.node_names) else "ok"
            self._metrics.requests.labels("filter", outcome_label).inc()
            filtered = len(outcome.failed)
            nodes.labels("filter", "passed").inc(len(outcome.passed) - lacking)
            if filtered:
                nodes.labels("filter", "filtered").inc(filtered)
            if outcome.without_data:
                nodes.labels("filter", "no_data").inc(len(outcome.without_data))
            if outcome.stale:
                nodes.labels("filter", "stale").inc(len(outcome.stale))
            if lacking:
                self._warn(
                    "nodes without fresh load data pass the filter",
                    no_data=list(outcome.without_data[:20]),
                    stale=list(outcome.stale[:20]),
                )
        result = encode(filter_result(args, outcome))
        self._metrics.latency.labels("filter").observe(time.perf_counter() - started)
        _log.debug(
            "filter",
            extra={"pod": args.pod.key, "candidates": len(args.node_names), "filtered": len(outcome.failed)},
        )
        return result

    def prioritize(self, body: bytes) -> tuple[int, bytes]:
        """(HTTP status, JSON): 200 with a HostPriorityList, or 400 with an Error for a bad request."""
        started = time.perf_counter()
        try:
            args = self._parse(body)
        except ProtocolError as exc:
            self._metrics.requests.labels("prioritize", "error").inc()
            _log.info("extender request refused", extra={"verb": "prioritize", "error": str(exc)})
            return 400, encode(error_result(str(exc)))
        try:
            self.view()
            outcome = self._decider.prioritize(args.pod, args.node_names)
        except Exception:
            _log.exception("prioritize failed; neutral scores", extra={"pod": args.pod.key})
            self._metrics.requests.labels("prioritize", "fail_open").inc()
            return 200, encode_priorities([(n, self._policy.missing_score) for n in args.node_names])
        lacking = len(outcome.without_data) + len(outcome.stale)
        if outcome.skipped:
            self._metrics.requests.labels("prioritize", "skipped").inc()
        else:
            label = "fail_open" if args.node_names and lacking == len(args.node_names) else "ok"
            self._metrics.requests.labels("prioritize", label).inc()
            nodes = self._metrics.nodes
            nodes.labels("prioritize", "scored").inc(len(outcome.scores) - lacking)
            if outcome.without_data:
                nodes.labels("prioritize", "no_data").inc(len(outcome.without_data))
            if outcome.stale:
                nodes.labels("prioritize", "stale").inc(len(outcome.stale))
        answer = encode_priorities(outcome.scores)
        self._metrics.latency.labels("prioritize").observe(time.perf_counter() - started)
        return 200, answer


def snapshot_document(snapshot: LoadSnapshot, now: datetime) -> dict[str, Any]:
    """The snapshot as JSON for people: every figure with its time (UTC) and whether it is fresh."""
    nodes: dict[str, Any] = {}
    for name in sorted(snapshot.nodes):
        load = snapshot.nodes[name]
        entry: dict[str, Any] = {"cpu_cores": load.cpu_cores, "memory_bytes": load.memory_bytes}
        for resource in (Resource.CPU, Resource.MEMORY):
            figures = load.resource(resource)
            for span in (Span.AVG_5M, Span.MAX_1H, Span.MAX_1D):
                figure = figures.figure(span)
                entry[f"{resource.value}_{span.value}"] = (
                    None
                    if figure is None
                    else {
                        "value": round(figure.value, 6),
                        "at": figure.at.isoformat(),
                        "fresh": freshness(figure, span, now, snapshot.ages) is Freshness.FRESH,
                    }
                )
        recent = snapshot.recent.get(name, ())
        entry["recent_bindings"] = [{**asdict(b), "at": b.at.isoformat()} for b in recent]
        nodes[name] = entry
    return {
        "taken_at": snapshot.taken_at.isoformat(),
        "nodes": nodes,
        "without_data": list(snapshot.without_data),
        "unmatched_series": list(snapshot.unmatched),
        "problems": list(snapshot.problems),
    }


def create_app(
    service: ExtenderService,
    registry: CollectorRegistry,
    snapshot: Callable[[], LoadSnapshot],
    clock: Clock,
) -> Starlette:
    async def filter_route(request: Request) -> Response:
        return Response(service.filter(await request.body()), media_type="application/json")

    async def prioritize_route(request: Request) -> Response:
        status, body = service.prioritize(await request.body())
        return Response(body, status_code=status, media_type="application/json")

    async def nodes_route(request: Request) -> Response:
        return JSONResponse(snapshot_document(snapshot(), clock()))

    async def metrics_route(request: Request) -> Response:
        return Response(exposition(registry), media_type=CONTENT_TYPE)

    async def health_route(request: Request) -> Response:
        return Response("ok\n", media_type="text/plain")

    return Starlette(
        routes=[
            Route("/filter", filter_route, methods=["POST"]),
            Route("/prioritize", prioritize_route, methods=["POST"]),
            Route("/nodes", nodes_route, methods=["GET"]),
            Route("/metrics", metrics_route, methods=["GET"]),
            Route("/healthz", health_route, methods=["GET"]),
        ]
    )


@dataclass(frozen=True)
class Extender:
    """The extender's parts: the ASGI app, its metrics registry and the decision service."""

    app: Starlette
    registry: CollectorRegistry
    service: ExtenderService


def build_extender(
    snapshot: Callable[[], LoadSnapshot],
    policy: LoadPolicy,
    *,
    clock: Clock,
    learn: Learner | None = None,
    registry: CollectorRegistry | None = None,
) -> Extender:
    """An extender over ``snapshot`` (usually ``NodeLoadCache.snapshot``) with its own registry."""
    registry = registry or CollectorRegistry()
    service = ExtenderService(snapshot, policy, ExtenderMetrics(registry), clock=clock, learn=learn)
    return Extender(create_app(service, registry, snapshot, clock), registry, service)


def create_metrics_app(registry: CollectorRegistry) -> Starlette:
    """Only ``/metrics`` and ``/healthz``: for the taint controller when it runs on its own."""

    async def metrics_route(request: Request) -> Response:
        return Response(exposition(registry), media_type=CONTENT_TYPE)

    async def health_route(request: Request) -> Response:
        return Response("ok\n", media_type="text/plain")

    return Starlette(
        routes=[
            Route("/metrics", metrics_route, methods=["GET"]),
            Route("/healthz", health_route, methods=["GET"]),
        ]
    )
