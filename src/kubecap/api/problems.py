"""The one place errors become HTTP answers: RFC 9457 problem documents (application/problem+json).

A user's error (a KubecapError, a TaskError, a validation failure) becomes a 4xx with the
one-sentence message as ``detail``; anything else is a bug and becomes a bare 500 whose
body says so without leaking internals.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kubecap.cluster.port import ClusterConflict, ClusterForbidden, ClusterUnreachable
from kubecap.domain.control import ControlError
from kubecap.domain.resources import ResourcesError
from kubecap.domain.tasks import TaskError
from kubecap.errors import ConfigError, KubecapError, MetricsError, NotFoundError, StoreError

PROBLEM = "application/problem+json"
log = logging.getLogger(__name__)


class AuthError(KubecapError):
    """Not logged in, a wrong password, an expired session or token (401)."""


class Forbidden(KubecapError):
    """The caller's role does not allow this (403)."""


class CsrfError(KubecapError):
    """A state-changing browser request without the session's CSRF token (403)."""


class TooManyAttempts(KubecapError):
    """Too many failed logins (429)."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# Most specific first: the first matching class decides the status.
_STATUS: tuple[tuple[type[BaseException], int, str], ...] = (
    (AuthError, 401, "unauthorized"),
    (Forbidden, 403, "forbidden"),
    (CsrfError, 403, "csrf"),
    (TooManyAttempts, 429, "too-many-attempts"),
    (NotFoundError, 404, "not-found"),
    (ClusterConflict, 409, "conflict"),
    (ClusterForbidden, 502, "cluster-forbidden"),
    (ClusterUnreachable, 503, "cluster-unreachable"),
    (MetricsError, 502, "metrics"),
    (StoreError, 503, "store"),
    (ConfigError, 422, "invalid"),
    (TaskError, 422, "invalid"),
    (ResourcesError, 422, "invalid"),
    (ControlError, 422, "invalid"),
    (KubecapError, 400, "bad-request"),
)


def status_of(exc: BaseException) -> tuple[int, str]:
    for kind, status, slug in _STATUS:
        if isinstance(exc, kind):
            return status, slug
    return 500, "internal"


def problem(
    status: int, slug: str, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"type": f"https://kubecap.io/problems/{slug}", "title": title, "status": status, "detail": detail}
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal error",
    502: "Upstream error",
    503: "Unavailable",
}


def title(status: int) -> str:
    return _TITLES.get(status, "Error")


async def _user_error(request: Request, exc: Exception) -> JSONResponse:
    status, slug = status_of(exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else None
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    problems = exc.problems if isinstance(exc, ConfigError) and len(exc.problems) > 1 else None
    extra: dict[str, Any] = {"problems": problems} if problems else {}
    return problem(status, slug, title(status), str(exc), headers=headers, **extra)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else title(exc.status_code)
    return problem(
        exc.status_code,
        "http",
        title(exc.status_code),
        detail,
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    sentences = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        sentences.append(f"{where}: {error.get('msg', 'invalid')}")
    detail = "; ".join(sentences) + ": correct these fields and send the request again"
    return problem(422, "invalid", title(422), detail, problems=sentences)


async def _bug(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(
        500, "internal", title(500), "an unexpected error occurred (a bug in kubecap: see the server log)"
    )


def install(app: FastAPI) -> None:
    """Register the handlers: user errors, HTTP errors, validation errors, and bugs."""
    for kind in (KubecapError, TaskError, ResourcesError, ControlError):
        app.add_exception_handler(kind, _user_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _bug)
