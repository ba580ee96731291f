"""Audit: who changed what, filtered by actor, action and target; exported as CSV by the API."""

from __future__ import annotations

from typing import Any

from fastapi.responses import RedirectResponse
from nicegui import ui

from kubecap.api.context import ApiContext
from kubecap.domain.audit import AuditFilter
from kubecap.ui.frame import frame, selected_cluster
from kubecap.ui.session import LOGIN_PATH, page_start
from kubecap.ui.strings import t

COLUMNS: list[dict[str, Any]] = [
    {"name": "at", "label": "When", "field": "at", "sortable": True},
    {"name": "actor", "label": "Actor", "field": "actor", "sortable": True},
    {"name": "action", "label": "Action", "field": "action", "sortable": True},
    {"name": "target", "label": "Target", "field": "target"},
    {"name": "result", "label": "Result", "field": "result", "sortable": True},
    {"name": "message", "label": "Message", "field": "message"},
]


def register(ctx: ApiContext) -> None:
    @ui.page("/audit")
    async def audit_page() -> RedirectResponse | None:
        started = await page_start(ctx)
        if started is None:
            return RedirectResponse(LOGIN_PATH)
        principal, clusters = started
        with frame(t("audit"), principal, clusters):
            with ui.row().classes("items-end gap-2"):
                actor = ui.input(t("filter_actor"))
                action = ui.input(t("filter_action")).props('data-testid="audit-action"')
                target = ui.input(t("filter_target"))
                refresh_button = ui.button(t("refresh")).props('data-testid="audit-refresh"')
                ui.link(t("export_csv"), "/api/audit/export?format=csv")
            table = ui.table(columns=COLUMNS, rows=[], row_key="id", pagination=50).classes("w-full")
            table.props('data-testid="audit-table"')

            async def refresh() -> None:
                where = AuditFilter(
                    actor=actor.value or None,
                    action=action.value or None,
                    target=target.value or None,
                    cluster=selected_cluster(),
                    limit=500,
                )
                table.rows = [e.to_dict() for e in await ctx.store.audit_events(where)]
                table.update()

            refresh_button.on_click(refresh)
            await refresh()
        return None
