"""Who is using the UI: the session secret lives in NiceGUI's per-browser server-side storage.

The login page starts the same session the API's login starts (kubecap.api.auth); every page
resolves it again, so an expired or ended session sends the browser back to the login page.
Events travel over NiceGUI's websocket, not forms, so the API's CSRF header has no UI twin:
the socket is bound to the page the server rendered for this session.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from nicegui import app, ui

from kubecap.api.auth import Principal, Role
from kubecap.api.context import ApiContext
from kubecap.api.problems import AuthError
from kubecap.domain.control import ControlError
from kubecap.domain.resources import ResourcesError
from kubecap.domain.tasks import TaskError
from kubecap.errors import KubecapError
from kubecap.ui.strings import t

SESSION_KEY = "kubecap_session"
T = TypeVar("T")


async def current(ctx: ApiContext) -> Principal | None:
    secret = app.storage.user.get(SESSION_KEY)
    if not secret:
        return None
    try:
        return await ctx.auth.from_session(secret)
    except AuthError:
        app.storage.user.pop(SESSION_KEY, None)
        return None


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


def remember(secret: str) -> None:
    app.storage.user[SESSION_KEY] = secret


def forget() -> Any:
    return app.storage.user.pop(SESSION_KEY, None)


async def page_start(ctx: ApiContext) -> tuple[Principal, list[str]] | None:
    """The logged-in user and the cluster names, or None when the page must send the browser to /login."""
    principal = await current(ctx)
    if principal is None:
        return None
    from kubecap.api.queries import clusters

    return principal, await clusters(ctx)


LOGIN_PATH = "/login"
__all__ = ["LOGIN_PATH", "Role", "allowed", "attempt", "current", "forget", "page_start", "remember"]
