"""The frame every page shares: the navigation, the cluster selector, the user and logout."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from nicegui import app, ui

from kubecap.api.auth import Principal
from kubecap.ui.strings import t

PAGES = (
    ("overview", "/"),
    ("workloads", "/workloads"),
    ("control", "/control"),
    ("operations", "/operations"),
    ("nodes", "/nodes"),
    ("cost", "/cost"),
    ("audit", "/audit"),
    ("settings", "/settings"),
)
CLUSTER_KEY = "cluster"


def selected_cluster() -> str | None:
    chosen = app.storage.user.get(CLUSTER_KEY)
    return chosen if isinstance(chosen, str) and chosen else None


@contextmanager
def frame(title: str, principal: Principal, clusters: list[str]) -> Iterator[None]:
    with ui.header().classes("items-center justify-between bg-slate-800"):
        with ui.row().classes("items-center gap-4"):
            ui.label(t("app")).classes("text-lg font-bold")
            for key, path in PAGES:
                ui.link(t(key), path).classes("text-white").props(f'data-testid="nav-{key}"')
        with ui.row().classes("items-center gap-2"):
            if len(clusters) > 1:
                options = {"": t("all_clusters"), **{c: c for c in clusters}}

                def choose(event: object) -> None:
                    value = getattr(event, "value", "")
                    app.storage.user[CLUSTER_KEY] = value or ""
                    ui.navigate.reload()

                ui.select(
                    options, value=selected_cluster() or "", label=t("cluster"), on_change=choose
                ).props("dense dark")
            ui.label(f"{principal.username} ({principal.role.value})")
            ui.link(t("logout"), "/logout").classes("text-white").props('data-testid="logout"')
    with ui.column().classes("w-full p-4 gap-4"):
        ui.label(title).classes("text-2xl").props('data-testid="page-title"')
        yield
