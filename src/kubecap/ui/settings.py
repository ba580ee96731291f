"""Settings: what is configured (secrets never shown), the Prometheus connection test, prices per
cluster and node pool, notification channels (URLs accepted once, then shown masked), and users.
Viewers read; operators test Prometheus; admins change prices, channels and users."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi.responses import RedirectResponse
from nicegui import ui

from kubecap.api.auth import Principal, Role
from kubecap.api.context import ApiContext
from kubecap.api.prometheus_check import check_prometheus
from kubecap.api.routes_auth import user_dict
from kubecap.api.routes_settings import service
from kubecap.api.settings_service import CHANNEL_EVENTS
from kubecap.errors import ConfigError
from kubecap.store import masked_url
from kubecap.ui.frame import frame
from kubecap.ui.session import LOGIN_PATH, attempt, page_start, permitted
from kubecap.ui.strings import t

PRICE_COLUMNS = ("scope", "name", "cpu_price", "memory_price", "source")
CHANNEL_COLUMNS = ("name", "urls", "clusters", "events", "source")


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{what} {text!r} is not a number: give US dollars per hour, e.g. 0.031") from None


def _columns(keys: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"name": k, "label": k.replace("_", " "), "field": k} for k in keys]


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
            if principal.role.allows(Role.OPERATOR):
                prometheus_section(ctx, principal)
            await prices_section(ctx, principal, clusters)
            await channels_section(ctx, principal, clusters)
            if principal.role.allows(Role.ADMIN):
                await users_section(ctx, principal)
        return None


def prometheus_section(ctx: ApiContext, principal: Principal) -> None:
    ui.label(t("prometheus")).classes("text-lg")
    results = ui.column().classes("gap-1")

    async def test() -> None:
        if not await permitted(ctx, principal, Role.OPERATOR):
            return
        checks = await asyncio.gather(*(check_prometheus(c, ctx.clock()) for c in ctx.settings.clusters))
        results.clear()
        with results:
            for check in checks:
                icon = "✔" if check.ok else "✘"
                ui.label(f"{icon} {check.cluster}: {check.message}").props('data-testid="prometheus-result"')

    ui.button(t("test_prometheus"), on_click=test).mark("prometheus-test")


async def prices_section(ctx: ApiContext, principal: Principal, clusters: list[str]) -> None:
    ui.label(t("prices")).classes("text-lg")
    table = (
        ui.table(columns=_columns(PRICE_COLUMNS), rows=await service(ctx).price_rows(), row_key="name")
        .classes("w-full")
        .props('data-testid="prices-table"')
    )
    if not principal.role.allows(Role.ADMIN):
        return
    with ui.row().classes("items-end gap-2"):
        scope = ui.select(["cluster", "pool"], value="cluster", label=t("scope")).mark("price-scope")
        name = (
            ui.input(t("name"), value=clusters[0] if clusters else "")
            .mark("price-name")
            .props('data-testid="price-name"')
        )
        cpu = ui.input(t("cpu_price")).mark("price-cpu").props('data-testid="price-cpu"')
        memory = ui.input(t("memory_price")).mark("price-memory").props('data-testid="price-memory"')

        async def save() -> None:
            if not await permitted(ctx, principal, Role.ADMIN):
                return

            async def go() -> Any:
                return await service(ctx).set_price(
                    principal.username,
                    scope.value,
                    name.value.strip(),
                    _number(cpu.value, "the CPU price"),
                    _number(memory.value, "the memory price"),
                )

            if await attempt(go) is not None:
                ui.notify(t("price_saved", scope=scope.value, name=name.value.strip()), type="positive")
                table.rows = await service(ctx).price_rows()
                table.update()

        ui.button(t("save_price"), on_click=save).mark("price-save").props('data-testid="price-save"')


async def channels_section(ctx: ApiContext, principal: Principal, clusters: list[str]) -> None:
    ui.label(t("channels")).classes("text-lg")

    async def rows() -> list[dict[str, Any]]:
        return [
            {
                **c.to_dict(),
                "urls": ", ".join(c.urls),
                "clusters": ", ".join(c.clusters),
                "events": ", ".join(c.events),
            }
            for c in await service(ctx).channels()
        ]

    table = (
        ui.table(columns=_columns(CHANNEL_COLUMNS), rows=await rows(), row_key="name")
        .classes("w-full")
        .props('data-testid="channels-table"')
    )
    if not principal.role.allows(Role.ADMIN):
        return

    async def refresh() -> None:
        table.rows = await rows()
        table.update()

    with ui.row().classes("items-end gap-2"):
        name = ui.input(t("name")).mark("channel-name").props('data-testid="channel-name"')
        # Never filled from the store (saved URLs stay server-side); emptied once a save succeeds.
        urls = (
            ui.textarea(t("channel_urls"))
            .classes("w-96")
            .props(f'hint="{t("channel_urls_hint")}" rows=2')
            .mark("channel-urls")
            .props('data-testid="channel-urls" autocomplete=off')
        )
        chosen_clusters = (
            ui.select(clusters, multiple=True, value=[], label=t("channel_clusters"))
            .classes("w-48")
            .mark("channel-clusters")
        )
        events = (
            ui.select([e.value for e in CHANNEL_EVENTS], multiple=True, value=[], label=t("channel_events"))
            .classes("w-64")
            .mark("channel-events")
        )

    async def save() -> None:
        if not await permitted(ctx, principal, Role.ADMIN):
            return
        given = [u for u in (urls.value or "").splitlines() if u.strip()]
        saved = await attempt(
            lambda: service(ctx).save_channel(
                principal.username,
                name.value,
                given or None,
                list(chosen_clusters.value or []),
                list(events.value or []),
            )
        )
        if saved is not None:
            urls.value = ""
            ui.notify(t("channel_saved", name=saved.name), type="positive")
            await refresh()

    async def delete() -> None:
        if not await permitted(ctx, principal, Role.ADMIN):
            return
        if await attempt(lambda: _deleted(ctx, principal, name.value.strip())):
            ui.notify(t("channel_deleted", name=name.value.strip()), type="positive")
            await refresh()

    async def send_test() -> None:
        if not await permitted(ctx, principal, Role.ADMIN):
            return
        delivery = await attempt(lambda: service(ctx).test_channel(principal.username, name.value.strip()))
        if delivery is None:
            return
        if delivery.ok:
            ui.notify(t("test_sent", name=delivery.channel), type="positive")
        else:
            ui.notify(
                t("test_failed", name=delivery.channel, reason=delivery.reason),
                type="negative",
                multi_line=True,
            )

    with ui.row().classes("gap-2"):
        ui.button(t("save_channel"), on_click=save).mark("channel-save").props('data-testid="channel-save"')
        ui.button(t("send_test"), on_click=send_test).props("outline").mark("channel-test")
        ui.button(t("delete_channel"), on_click=delete).props("outline color=negative").mark("channel-delete")


async def _deleted(ctx: ApiContext, principal: Principal, name: str) -> bool:
    await service(ctx).delete_channel(principal.username, name)
    return True


async def users_section(ctx: ApiContext, principal: Principal) -> None:
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
            if not await permitted(ctx, principal, Role.ADMIN):
                return
            made = await attempt(
                lambda: ctx.auth.create_user(principal.username, name.value, Role(role.value), None)
            )
            if made is not None:
                user, password = made
                ui.notify(
                    t("new_password", user=user.username, password=password), timeout=0, close_button=True
                )
                table.rows = [user_dict(u) for u in await ctx.auth.users()]
                table.update()

        ui.button(t("add_user"), on_click=add)
