"""Settings: what is configured (secrets never shown), and users for admins."""

from __future__ import annotations

from fastapi.responses import RedirectResponse
from nicegui import ui

from kubecap.api.auth import Role
from kubecap.api.context import ApiContext
from kubecap.api.routes_auth import user_dict
from kubecap.store import masked_url
from kubecap.ui.frame import frame
from kubecap.ui.session import LOGIN_PATH, attempt, page_start
from kubecap.ui.strings import t


def register(ctx: ApiContext) -> None:
    @ui.page("/settings")
    async def settings_page() -> RedirectResponse | None:
        started = await page_start(ctx)
        if started is None:
            return RedirectResponse(LOGIN_PATH)
        principal, clusters = started
        with frame(t("settings"), principal, clusters):
            ui.label(t("secrets_hidden"))
            ui.label(f"database: {masked_url(ctx.settings.database_url)}")
            for c in ctx.settings.clusters:
                source = c.prometheus.url if c.prometheus else f"simulated ({c.simulated})"
                ui.label(f"{c.name}: {source} · {c.timezone} · peak windows {', '.join(c.peak_windows)}")
            if not principal.role.allows(Role.ADMIN):
                return None
            ui.label(t("users")).classes("text-lg")
            table = ui.table(
                columns=[{"name": k, "label": k, "field": k} for k in ("id", "username", "role", "disabled")],
                rows=[user_dict(u) for u in await ctx.auth.users()],
                row_key="id",
            ).classes("w-full")
            with ui.row().classes("items-end"):
                name = ui.input(t("username"))
                role = ui.select([r.value for r in Role], value="viewer", label=t("role"))

                async def add() -> None:
                    made = await attempt(
                        lambda: ctx.auth.create_user(principal.username, name.value, Role(role.value), None)
                    )
                    if made is not None:
                        user, password = made
                        ui.notify(
                            t("new_password", user=user.username, password=password),
                            timeout=0,
                            close_button=True,
                        )
                        table.rows = [user_dict(u) for u in await ctx.auth.users()]
                        table.update()

                ui.button(t("add_user"), on_click=add)
        return None
