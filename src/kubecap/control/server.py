"""The admission webhook server: thin around the pure decision.

``Webhook.review`` is the whole request path: decode the body, look the workload up in the
in-memory snapshot, call ``admission.decide`` (or take the answer kept for the same inputs,
``admission.memo_key``), encode the answer, count it, queue its audit event. Malformed input
is a 400 naming the problem, a body over the limit a 413; anything that goes wrong inside
kubecap admits the object unchanged with a warning (fail-open), unless the namespace's
policy is fail-closed. ``create_app`` puts it behind four routes
(``/mutate``, ``/healthz``, ``/readyz``, ``/metrics``; the apiserver's ``?timeout=10s`` is
ignored because routing is on the path), and ``WebhookServer`` runs that over TLS with
uvicorn, alongside the snapshot refresher, the audit writer and the certificate reloader.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from kubecap.control.admission import Decision, Outcome, decide, memo_key
from kubecap.control.metrics import WebhookMetrics
from kubecap.control.recorder import ACTOR, Recorder, Registration
from kubecap.control.review import (
    Operation,
    Review,
    ReviewError,
    decode,
    encode_patch,
    encode_response,
    error_body,
)
from kubecap.control.snapshot import SnapshotHolder
from kubecap.control.tls import ReloadingContext
from kubecap.domain.audit import AuditEvent, AuditResult
from kubecap.domain.control import ControlSpec, Failure, ReplicasMode
from kubecap.domain.workload import WorkloadKind, WorkloadRef

log = logging.getLogger("kubecap.webhook")
MAX_BODY_BYTES = 3 * 2**20
ANSWER_MEMO_SIZE = 4096
JSON = "application/json"

AnnotationsLookup = Callable[[WorkloadRef], Awaitable[dict[str, str]]]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class StalePolicy(StrEnum):
    """What a stale snapshot does: keep enforcing it (with a warning), or admit everything unchanged."""

    ENFORCE = "enforce"
    ALLOW = "allow"


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    cluster: str
    max_body_bytes: int = MAX_BODY_BYTES
    on_stale: StalePolicy = StalePolicy.ENFORCE
    lookup_timeout_s: float = 1.0


class Webhook:
    """Decode, look up, decide, encode, count, audit: one review, as bytes in and bytes out."""

    def __init__(
        self,
        holder: SnapshotHolder,
        recorder: Recorder | None,
        metrics: WebhookMetrics,
        options: WebhookOptions,
        *,
        clock: Clock = utc_now,
        annotations: AnnotationsLookup | None = None,
    ) -> None:
        self.holder = holder
        self.recorder = recorder
        self.metrics = metrics
        self.options = options
        self._clock = clock
        self._annotations = annotations
        self._answers: OrderedDict[tuple[Any, ...], Answer] = OrderedDict()
        metrics.watch_snapshot(holder.age, holder.version, holder.stale)

    async def review(self, body: bytes) -> tuple[int, bytes]:
        """The HTTP status and body answering one request body."""
        started = time.perf_counter()
        try:
            review = decode(body)
        except ReviewError as exc:
            self.metrics.bad_requests.labels("400").inc()
            return 400, error_body(str(exc))
        now = self._clock()
        answer = await self._answer(review, now)
        decision = answer.decision
        try:
            payload = encode_response(
                review.uid,
                allowed=decision.allowed,
                patch=answer.patch,
                warnings=decision.warnings,
                message=decision.message,
            )
        except Exception:  # an unencodable decision is a bug: never a 500 to the apiserver
            log.exception("encoding the answer to %s failed", review.uid)
            self.metrics.internal_errors.inc()
            answer = Answer(
                Decision(Outcome.ERROR, warnings=("kubecap's webhook failed internally (fail-open)",))
            )
            payload = encode_response(review.uid, allowed=True, warnings=answer.decision.warnings)
        self._record(review, answer, now)
        self.metrics.reviews.count(answer.decision.outcome, time.perf_counter() - started)
        return 200, payload

    async def _answer(self, review: Review, now: datetime) -> Answer:
        snapshot = self.holder.current
        if snapshot is None:
            return Answer(
                Decision(
                    Outcome.STALE,
                    warnings=("kubecap has not loaded its control table yet: admitted unchanged",),
                )
            )
        policy = snapshot.policy(review.namespace)
        stale = self.holder.stale()
        if stale and self.options.on_stale is StalePolicy.ALLOW:
            return Answer(
                Decision(
                    Outcome.STALE,
                    warnings=(
                        "kubecap's control table could not be refreshed for too long: admitted unchanged",
                    ),
                )
            )
        try:
            spec = snapshot.spec(review.namespace, review.kind, review.name)
            key = None if spec is None else memo_key(review, spec, policy)
            answer = self._answers.get(key) if key is not None else None
            if answer is None or answer.spec is not spec:
                parent = await self._parent_annotations(review, spec)
                answer = Answer.of(decide(review, spec, policy, now, parent_annotations=parent), spec)
                if key is not None:
                    if len(self._answers) >= ANSWER_MEMO_SIZE:
                        self._answers.popitem(last=False)  # the oldest: no pause emptying it all
                    self._answers[key] = answer
        except Exception as exc:  # fail-open (or closed, if the namespace says so)
            self.metrics.internal_errors.inc()
            log.exception("admission decision for %s (%s) failed", review.target, review.uid)
            if policy.failure is Failure.CLOSED:
                return Answer(
                    Decision(
                        Outcome.ERROR,
                        allowed=False,
                        message=(
                            f"kubecap's webhook failed to decide on {review.target} ({type(exc).__name__}) and "
                            f"namespace {review.namespace} is fail-closed: retry, or set its policy to --failure open"
                        ),
                    )
                )
            return Answer(
                Decision(
                    Outcome.ERROR,
                    warnings=(
                        f"kubecap's webhook failed internally ({type(exc).__name__}): admitted unchanged",
                    ),
                )
            )
        if stale:
            age = self.holder.age() or 0.0
            warning = f"kubecap's control table is {age:.0f} s old (the store is unreachable): it was applied as last read"
            answer = replace(answer, decision=answer.decision.with_warning(warning))
        return answer

    async def _parent_annotations(self, review: Review, spec: ControlSpec | None) -> dict[str, str] | None:
        """A Scale carries no annotations: read the workload's, for its temporary override."""
        if (
            not review.scale
            or spec is None
            or spec.replicas_mode is ReplicasMode.HPA
            or self._annotations is None
        ):
            return None
        ref = WorkloadRef(self.options.cluster, review.namespace, review.kind, review.name)
        return await asyncio.wait_for(self._annotations(ref), self.options.lookup_timeout_s)

    def _record(self, review: Review, answer: Answer, now: datetime) -> None:
        if self.recorder is None or answer.decision.outcome not in _AUDITED:
            return
        # O(1) here: the event is built in the recorder's background batch. Only the review's
        # header is kept, not its objects: a queue of 10,000 stays small if the store stalls.
        self.recorder.submit(
            ReviewAudit(
                self.options.cluster,
                review.namespace,
                review.kind,
                review.name,
                review.uid,
                review.user,
                review.dry_run,
                review.operation,
                review.scale,
                answer,
                now,
            )
        )


@dataclass(frozen=True, slots=True)
class Answer:
    """A decision as answered and audited: its patch encoded, its audit's before and after built, once.

    Answers of managed workloads are kept (``Webhook._answers``, keyed by ``memo_key``): a
    workload's reviews ask the same again and again (every rollout step, every reinvocation,
    every controller update), and then cost a lookup. ``spec`` is the spec decided for: held,
    its id (in the key) cannot be reused while the answer is kept, and a new snapshot's specs
    are new objects, so a changed table never meets an old answer. Shared, never mutated.
    """

    decision: Decision
    patch: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    spec: ControlSpec | None = None

    @classmethod
    def of(cls, decision: Decision, spec: ControlSpec | None) -> Answer:
        changes = decision.changes
        after = decision.register.values() if decision.register is not None else None
        return cls(
            # Without its operations and changes, once encoded: a kept answer holds a few objects
            # (the collector walks every one), not the patch's dozens.
            replace(decision, patch=(), changes=()),
            encode_patch(decision.patch) if decision.patch else "",
            {c.field: c.before for c in changes} or None,
            after or ({c.field: c.after for c in changes} or None),
            spec,
        )


@dataclass(slots=True)
class ReviewAudit:
    """A review's header and decision, as queued; ``build`` makes the audit event (or the registration)."""

    cluster: str
    namespace: str
    kind: WorkloadKind
    name: str
    uid: str
    user: str
    dry_run: bool
    operation: Operation
    scale: bool
    answer: Answer
    at: datetime

    def build(self) -> AuditEvent | Registration:
        answer = self.answer
        decision = answer.decision
        action, result = _AUDITED[decision.outcome]
        who = self.user or "unknown user"
        dry = " (dry run)" if self.dry_run else ""
        ref = WorkloadRef(self.cluster, self.namespace, self.kind, self.name)
        event = AuditEvent(
            at=self.at,
            actor=ACTOR,
            action=action,
            cluster=self.cluster,
            target=str(ref),
            result=result,
            before=answer.before,
            after=answer.after,
            request_id=self.uid[:128],
            message=f"{self.operation.value}{'/scale' if self.scale else ''} by {who}{dry}: "
            + (decision.message or "; ".join(decision.warnings)),
        )
        if decision.register is not None:
            return Registration(decision.register, event)
        return event


_AUDITED = {
    Outcome.MUTATED: ("webhook.mutate", AuditResult.OK),
    Outcome.REJECTED: ("webhook.reject", AuditResult.REJECTED),
    Outcome.ERROR: ("webhook.error", AuditResult.FAILED),
    Outcome.REGISTERED: ("control.register", AuditResult.OK),
}


Background = Callable[[], Coroutine[Any, Any, None]]


class WebhookApp:
    """POST /mutate straight on ASGI (the hot path: no request or response objects); everything
    else (health, readiness, metrics, the lifespan, 404 and 405) through Starlette."""

    def __init__(self, webhook: Webhook, rest: Starlette) -> None:
        self.webhook = webhook
        self.rest = rest
        self._limit = webhook.options.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/mutate" and scope["method"] == "POST":
            await self._mutate(scope, receive, send)
        else:
            await self.rest(scope, receive, send)

    async def _mutate(self, scope: Scope, receive: Receive, send: Send) -> None:
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self._limit:
                return await self._too_large(send)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._limit:
                return await self._too_large(send)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        status, payload = await self.webhook.review(b"".join(chunks))
        await _answer(send, status, payload)
        return None

    async def _too_large(self, send: Send) -> None:
        self.webhook.metrics.bad_requests.labels("413").inc()
        await _answer(send, 413, error_body(f"the body is larger than {self._limit} bytes"))


async def _answer(send: Send, status: int, payload: bytes) -> None:
    headers = [(b"content-type", JSON.encode()), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def create_app(webhook: Webhook, *, background: Sequence[Background] = ()) -> WebhookApp:
    """The ASGI app; ``background`` coroutines run for the app's lifetime (refresher, writer, reloader)."""

    async def mutate(request: Request) -> Response:  # POST never gets here: WebhookApp answers it
        return PlainTextResponse("send reviews with POST", 405)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        if webhook.holder.current is None:
            why = webhook.holder.last_error or "not loaded yet"
            return PlainTextResponse(f"no control snapshot: {why}", 503)
        return PlainTextResponse(f"ready: control table revision {webhook.holder.current.version}")

    async def metrics(request: Request) -> Response:
        payload, content_type = webhook.metrics.render()
        return Response(payload, headers={"Content-Type": content_type})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await webhook.holder.refresh()
        # Everything loaded so far (modules, settings, the snapshot) lives as long as the process:
        # keep it out of the collector's full passes, which otherwise stall reviews for milliseconds.
        gc.freeze()
        tasks = [asyncio.create_task(run()) for run in background]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if webhook.recorder is not None:
                await webhook.recorder.drain()
                if webhook.recorder.alerts is not None:
                    await webhook.recorder.alerts.close()

    rest = Starlette(
        routes=[
            Route("/mutate", mutate, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    return WebhookApp(webhook, rest)


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket (port 0: a free one, see ``getsockname()``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class WebhookServer:
    """An ASGI app served over TLS by uvicorn on a socket of our own (so tests can use port 0)."""

    def __init__(self, app: Any, tls: ReloadingContext, sock: socket.socket) -> None:
        self.sock = sock
        config = uvicorn.Config(
            app,
            ssl_context_factory=lambda config, default: tls.context,
            http="httptools",
            lifespan="on",
            log_config=None,
            access_log=False,
            # The apiserver keeps connections open between reviews; keep them longer than it idles.
            timeout_keep_alive=90,
            backlog=2048,
        )
        self.server = uvicorn.Server(config)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    async def serve(self) -> None:
        await self.server.serve(sockets=[self.sock])

    @asynccontextmanager
    async def running(self) -> AsyncIterator[WebhookServer]:
        """Serve in a task until the block ends (for tests, benchmarks and in-process use)."""
        task = asyncio.create_task(self.serve())
        try:
            while not self.server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("the webhook server stopped while starting")
                await asyncio.sleep(0.01)
            yield self
        finally:
            self.server.should_exit = True
            await task
