"""The login and logout pages: the same login (rate limit, audit) as POST /api/auth/login."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from kubecap.api.context import ApiContext
from kubecap.ui.session import attempt, forget, remember
from kubecap.ui.strings import t


def register(ctx: ApiContext) -> None:
    @ui.page("/login")
    async def login_page(request: Request) -> None:
        address = request.client.host if request.client else "unknown"

        async def submit() -> None:
            session = await attempt(lambda: ctx.auth.login(username.value, password.value, address))
            if session is not None:
                remember(session.secret)
                ui.navigate.to("/")

        with ui.card().classes("absolute-center w-80"):
            ui.label(t("app")).classes("text-2xl")
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

    @ui.page("/logout")
    async def logout_page() -> RedirectResponse:
        secret = forget()
        if isinstance(secret, str):
            try:
                principal = await ctx.auth.from_session(secret)
                await ctx.auth.logout(principal)
            except Exception:  # noqa: S110 - an already-ended session needs no logout
                pass
        return RedirectResponse("/login")
