"""Who is using the UI: one session with the API, checked by one middleware.

The browser holds the API's session cookie (``kubecap_session``, HttpOnly) whichever way it
logged in: ``POST /api/auth/login``, the OIDC callback, or the login page. The login page's
check runs over NiceGUI's websocket, which cannot set cookies, so it hands the new session to
``/auth/session`` through the browser's server-side NiceGUI storage (never the URL), and that
route sets the cookie. ``AuthMiddleware`` resolves the cookie for every page request and
sends the browser to /login when there is none or it has ended (logout from the API or the
UI ends the same session). Page events travel over the websocket of a page rendered for that
session, so the API's CSRF header has no UI twin.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from nicegui import app, ui
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from kubecap.api.auth import CSRF_COOKIE, SESSION_COOKIE, Principal, Role
from kubecap.api.context import ApiContext
from kubecap.api.problems import AuthError
from kubecap.domain.control import ControlError
from kubecap.domain.resources import ResourcesError
from kubecap.domain.tasks import TaskError
from kubecap.errors import KubecapError
from kubecap.ui.strings import t

LOGIN_PATH = "/login"
HANDOFF_PATH = "/auth/session"
HANDOFF_KEY = "kubecap_new_session"
CONTEXT_KEY = "kubecap"
# Paths served without a UI login: the API (it authenticates itself), NiceGUI's assets and socket,
# health and metrics, and the pages that log in and out.
OPEN_PREFIXES = (
    "/api/",
    "/_nicegui",
    "/healthz",
    "/readyz",
    "/metrics",
    "/favicon",
    LOGIN_PATH,
    "/logout",
    HANDOFF_PATH,
)
T = TypeVar("T")


def ui_context() -> ApiContext:
    ctx: ApiContext = getattr(app.state, CONTEXT_KEY)
    return ctx


async def principal_of(ctx: ApiContext, request: Request) -> Principal | None:
    """The caller of a page request, from the API's session cookie; None when not logged in."""
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return None
    try:
        return await ctx.auth.from_session(secret)
    except AuthError:
        return None


def safe_next(path: str | None) -> str:
    """Only paths of this site (no scheme, no '//host'), so the login cannot redirect elsewhere."""
    return path if path and path.startswith("/") and not path.startswith("//") else "/"


class AuthMiddleware(BaseHTTPMiddleware):
    """Every page needs a live session; the rest of the site is left to its own checks."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = request.url.path
        if path.startswith(OPEN_PREFIXES):
            return await call_next(request)
        principal = await principal_of(ui_context(), request)
        if principal is None:
            target = path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{LOGIN_PATH}?next={quote(target)}", status_code=303)
        request.state.principal = principal
        return await call_next(request)


def install(ctx: ApiContext) -> None:
    """The middleware and the hand-off route on NiceGUI's app (call once per registration)."""
    setattr(app.state, CONTEXT_KEY, ctx)
    app.add_middleware(AuthMiddleware)

    @app.get(HANDOFF_PATH, include_in_schema=False)
    async def handoff(request: Request, next: str = "/") -> Response:
        secret = app.storage.user.pop(HANDOFF_KEY, None)
        if not isinstance(secret, str):
            return RedirectResponse(LOGIN_PATH, status_code=303)
        try:
            principal = await ctx.auth.from_session(secret)
        except AuthError:
            return RedirectResponse(LOGIN_PATH, status_code=303)
        response = RedirectResponse(safe_next(next), status_code=303)
        mode = ctx.settings.api.secure_cookies
        secure = mode == "always" or (mode == "auto" and request.url.scheme == "https")
        flags = {"secure": secure, "path": "/", "samesite": "strict"}
        max_age = int(ctx.settings.api.session_hours * 3600)
        response.set_cookie(SESSION_COOKIE, secret, httponly=True, max_age=max_age, **flags)  # type: ignore[arg-type]
        response.set_cookie(CSRF_COOKIE, principal.csrf or "", httponly=False, max_age=max_age, **flags)  # type: ignore[arg-type]
        return response


def hand_off(secret: str, next_path: str) -> None:
    """After a login on the page: keep the session server-side for /auth/session, which sets the cookie."""
    app.storage.user[HANDOFF_KEY] = secret
    ui.navigate.to(f"{HANDOFF_PATH}?next={quote(safe_next(next_path))}")


async def permitted(ctx: ApiContext, principal: Principal, role: Role) -> bool:
    """Before an action of an open page: the session must still be live (a logout elsewhere, a
    disabled user or a new password end it) and the user's current role must allow ``role``."""
    fresh = await principal_of(ctx, ui.context.client.request)
    if fresh is None or fresh.user_id != principal.user_id:
        ui.notify(t("session_ended"), type="warning")
        ui.navigate.to(LOGIN_PATH)
        return False
    return allowed(fresh, role)


def allowed(principal: Principal, role: Role) -> bool:
    if principal.role.allows(role):
        return True
    ui.notify(t("forbidden", role=principal.role.value), type="negative")
    return False


async def attempt(action: Callable[[], Awaitable[T]]) -> T | None:
    """Run a service call; a user's error becomes one sentence in a notification, never a traceback."""
    try:
        return await action()
    except (KubecapError, TaskError, ResourcesError, ControlError) as exc:
        ui.notify(str(exc), type="negative", multi_line=True)
        return None


async def page_start(ctx: ApiContext) -> tuple[Principal, list[str]] | None:
    """The logged-in user (resolved by the middleware) and the cluster names; None sends to /login."""
    request = ui.context.client.request
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        principal = await principal_of(ctx, request)
    if principal is None:
        return None
    from kubecap.api.queries import clusters

    return principal, await clusters(ctx)


__all__ = [
    "LOGIN_PATH",
    "Role",
    "allowed",
    "attempt",
    "hand_off",
    "install",
    "page_start",
    "permitted",
    "principal_of",
]
