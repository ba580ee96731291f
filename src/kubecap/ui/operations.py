"""Operations: scale or restart now (run at once through the ops runner when this process has the
cluster's API, its result shown), at a time or on cron; the task list, cancel and history."""

from __future__ import annotations

from typing import Any

from fastapi.responses import RedirectResponse
from nicegui import ui

from kubecap.api.auth import Role
from kubecap.api.context import ApiContext
from kubecap.api.routes_ops import parse_ref, run_now, task_dict
from kubecap.domain.schedule import parse_at
from kubecap.domain.tasks import Operation, OperationSpec
from kubecap.ui.frame import frame, selected_cluster
from kubecap.ui.session import LOGIN_PATH, attempt, page_start, permitted
from kubecap.ui.strings import t

COLUMNS: list[dict[str, Any]] = [
    {"name": "id", "label": "#", "field": "id", "sortable": True},
    {"name": "description", "label": "Operation", "field": "description"},
    {"name": "schedule_text", "label": "Schedule", "field": "schedule_text"},
    {"name": "state", "label": "State", "field": "state", "sortable": True},
    {"name": "next_run_at", "label": "Next run", "field": "next_run_at", "sortable": True},
    {"name": "created_by", "label": "By", "field": "created_by"},
]


def register(ctx: ApiContext) -> None:
    @ui.page("/operations")
    async def operations_page() -> RedirectResponse | None:
        started = await page_start(ctx)
        if started is None:
            return RedirectResponse(LOGIN_PATH)
        principal, clusters = started
        with frame(t("operations"), principal, clusters):
            ui.label(t("schedule_task")).classes("text-lg")
            with ui.row().classes("items-end gap-2"):
                operation = ui.select(
                    [o.value for o in Operation if o is not Operation.APPLY],
                    value="scale",
                    label=t("operation"),
                )
                target = (
                    ui.input(t("workload_id"))
                    .classes("w-96")
                    .props('data-testid="task-target"')
                    .mark("task-target")
                )
                replicas = ui.number(t("replicas"), value=1, min=0, precision=0).props(
                    'data-testid="task-replicas"'
                )
                at = ui.input(t("at")).props('data-testid="task-at"')
                cron = ui.input(t("cron")).props('data-testid="task-cron"').mark("task-cron")
                zone = ui.input(t("timezone"), value="UTC")
                submit = ui.button(t("submit")).props('data-testid="task-submit"').mark("task-submit")
            table = ui.table(columns=COLUMNS, rows=[], row_key="id", pagination=25).classes("w-full")
            table.props('data-testid="tasks-table"')

            async def refresh() -> None:
                tasks = await ctx.tasks.tasks(cluster=selected_cluster())
                table.rows = [task_dict(x) for x in sorted(tasks, key=lambda x: -x.id)]
                table.update()

            async def add() -> None:
                if not await permitted(ctx, principal, Role.OPERATOR):
                    return

                async def go() -> dict[str, Any]:
                    now = ctx.clock()
                    when = parse_at(at.value, zone.value, now) if at.value else None
                    count = int(replicas.value) if replicas.value is not None else None
                    spec = OperationSpec(
                        Operation(operation.value), parse_ref(target.value.strip()), replicas=count
                    )
                    task = await ctx.tasks.submit(
                        spec, actor=principal.username, at=when, cron=cron.value or None, timezone=zone.value
                    )
                    if when is None and not cron.value:
                        # Now means now: run it through the ops runner and show its result.
                        return await run_now(ctx, task)
                    return task_dict(task)

                task = await attempt(go)
                if task is not None:
                    if "ran" in task:
                        ok = all(r["state"] == "succeeded" for r in task["runs"]) and task["runs"]
                        ui.notify(
                            t("ran", id=task["id"], result=task["ran"]),
                            type="positive" if ok else "warning",
                            multi_line=True,
                        )
                    else:
                        ui.notify(t("task_added"), type="positive")
                    await refresh()

            submit.on_click(add)
            cancel_id = ui.number("#", precision=0).props('data-testid="cancel-id"')

            async def cancel() -> None:
                if not await permitted(ctx, principal, Role.OPERATOR) or cancel_id.value is None:
                    return
                if await attempt(lambda: ctx.tasks.cancel(int(cancel_id.value), actor=principal.username)):
                    await refresh()

            ui.button(t("cancel"), on_click=cancel).props('data-testid="task-cancel"')
            await refresh()
        return None
