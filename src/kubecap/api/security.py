"""Authorisation on every route: a ``Require(role)`` dependency that authenticates and checks the role.

A caller is authenticated by an API token (``Authorization: Bearer kcp_...``) or by the
session cookie; cookie-authenticated requests that change state must echo the session's
CSRF token in the ``X-CSRF-Token`` header (double submit: the token is also readable in a
cookie the page's script sends back). ``check_rules`` refuses to start an app with a route
that names no rule, so a new route cannot be left open by mistake.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from kubecap.api.auth import CSRF_HEADER, SESSION_COOKIE, Principal, Role
from kubecap.api.context import context
from kubecap.api.problems import AuthError, CsrfError, Forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC = "public"


class Require:
    """The least role a route needs; the dependency returns the authenticated caller."""

    def __init__(self, role: Role) -> None:
        self.role = role

    def __repr__(self) -> str:
        return f"Require({self.role.value})"

    async def __call__(self, request: Request) -> Principal:
        principal = await authenticate(request)
        if not principal.role.allows(self.role):
            raise Forbidden(
                f"user {principal.username!r} is {principal.role.value}; this needs {self.role.value} or more:"
                " ask an admin for the role"
            )
        request.state.principal = principal
        return principal


async def authenticate(request: Request) -> Principal:
    ctx = context(request)
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return await ctx.auth.from_token(header[7:].strip())
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise AuthError(
            "not logged in: log in with POST /api/auth/login or send an API token as 'Authorization: Bearer ...'"
        )
    principal = await ctx.auth.from_session(cookie)
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not principal.csrf or not secrets.compare_digest(sent, principal.csrf):
            raise CsrfError(
                f"the {CSRF_HEADER} header is missing or wrong: send the session's CSRF token"
                " (from the login answer or the kubecap_csrf cookie)"
            )
    return principal


VIEWER = Require(Role.VIEWER)
OPERATOR = Require(Role.OPERATOR)
ADMIN = Require(Role.ADMIN)
Viewer = Annotated[Principal, Depends(VIEWER)]
Operator = Annotated[Principal, Depends(OPERATOR)]
Admin = Annotated[Principal, Depends(ADMIN)]


def public(route: Any) -> Any:
    """Mark an endpoint as reachable without logging in (health, metrics, login)."""
    route.__kubecap_public__ = True
    return route


def rule_of(route: APIRoute) -> str | None:
    """The role a route needs (``"public"`` for open ones), None when it has no rule."""
    if getattr(route.endpoint, "__kubecap_public__", False):
        return PUBLIC
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Require):
            return dep.call.role.value
        stack.extend(dep.dependencies)
    return None


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute, included routers' too (FastAPI keeps an included router as one route that wraps it)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from api_routes(inner.routes)


def check_rules(app: FastAPI) -> dict[tuple[str, str], str]:
    """Every API route's rule, keyed by (method, path); a route without one stops the app from starting."""
    rules: dict[tuple[str, str], str] = {}
    missing = []
    for route in api_routes(app.routes):
        rule = rule_of(route)
        for method in sorted(route.methods or ()):
            if rule is None:
                missing.append(f"{method} {route.path}")
            else:
                rules[(method, route.path)] = rule
    if missing:
        raise RuntimeError(f"routes without an authorisation rule: {', '.join(missing)}")
    return rules
