"""The login and logout pages: the same login (rate limit, audit, session) as POST /api/auth/login,
and the OIDC button when single sign-on is configured."""

from __future__ import annotations

from urllib.parse import unquote

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from kubecap.api.auth import CSRF_COOKIE, SESSION_COOKIE
from kubecap.api.context import ApiContext
from kubecap.api.routes_auth import LOGIN_ERROR_COOKIE
from kubecap.ui.session import LOGIN_PATH, attempt, hand_off, principal_of
from kubecap.ui.strings import t


def register(ctx: ApiContext) -> None:
    @ui.page(LOGIN_PATH)
    async def login_page(request: Request, next: str = "/") -> None:
        error = unquote(request.cookies.get(LOGIN_ERROR_COOKIE, ""))
        address = request.client.host if request.client else "unknown"

        async def submit() -> None:
            session = await attempt(lambda: ctx.auth.login(username.value, password.value, address))
            if session is not None:
                hand_off(session.secret, next)

        with ui.card().classes("absolute-center w-80"):
            ui.label(t("app")).classes("text-2xl")
            if error:
                # The OIDC callback's one sentence, from its short-lived cookie (shown as text only).
                ui.label(error).classes("text-negative").props('data-testid="login-error"').mark(
                    "login-error"
                )
            username = (
                ui.input(t("username"))
                .props('data-testid="username" autofocus')
                .mark("username")
                .classes("w-full")
            )
            password = (
                ui.input(t("password"), password=True)
                .props('data-testid="password"')
                .mark("password")
                .classes("w-full")
                .on("keydown.enter", submit)
            )
            ui.button(t("login"), on_click=submit).props('data-testid="login"').mark("login")
            if ctx.settings.oidc is not None:
                ui.link(ctx.settings.oidc.label, "/api/auth/oidc/login").props('data-testid="oidc-login"')

    @ui.page("/logout")
    async def logout_page(request: Request) -> RedirectResponse:
        principal = await principal_of(ctx, request)
        if principal is not None:
            await ctx.auth.logout(principal)
        response = RedirectResponse(LOGIN_PATH)
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(CSRF_COOKIE, path="/")
        return response
