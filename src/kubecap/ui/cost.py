"""Cost: per workload, namespace or cluster, idle nodes, next month and the savings of recommendations.

The same report as ``GET /api/cost`` and ``kubecap cost`` (kubecap.cost.service, at the prices
in force); ``?by=namespace&days=14`` choose the roll-up and the history. A user's error (no
history yet, a bad roll-up or price setting) is shown as its one sentence.
"""

from __future__ import annotations

from fastapi.responses import RedirectResponse
from nicegui import ui

from kubecap.api import queries
from kubecap.api.context import ApiContext
from kubecap.api.routes_cost import report
from kubecap.cost import Level
from kubecap.cost.service import idle_by_node, savings
from kubecap.errors import KubecapError
from kubecap.ui.frame import frame, selected_cluster
from kubecap.ui.session import LOGIN_PATH, page_start
from kubecap.ui.strings import t

_LEVELS = {level.value: level for level in Level}


def _money(value: float) -> str:
    return f"${value:,.2f}"


def register(ctx: ApiContext) -> None:
    @ui.page("/cost")
    async def cost_page(by: str = "workload", days: int = 7) -> RedirectResponse | None:
        started = await page_start(ctx)
        if started is None:
            return RedirectResponse(LOGIN_PATH)
        principal, clusters = started
        cluster = selected_cluster()
        with frame(t("cost"), principal, clusters):
            level = _LEVELS.get(by)
            try:
                if level is None:
                    raise KubecapError(t("cost_bad_level", by=by))
                if not 1 <= days <= 400:
                    raise KubecapError(t("cost_bad_days", days=days))
                r = await report(ctx, by=level, days=days, cluster=cluster)
                in_force = await queries.prices_in_force(ctx)
                recs = await ctx.store.recommendations(cluster=cluster, strategy=queries.DEFAULT_STRATEGY)
                saved = savings(recs, in_force)
            except KubecapError as exc:
                ui.label(str(exc)).classes("text-negative").mark("cost-error")
                return None
            with ui.row().classes("gap-2"):
                for value in _LEVELS:
                    ui.link(t(f"cost_by_{value}"), f"/cost?by={value}&days={days}").mark(f"cost-by-{value}")
            with ui.row().classes("gap-8"):
                total = sum(line.usd for line in r.lines)
                monthly = sum(line.monthly_usd for line in r.lines)
                seen = max((line.days for line in r.lines), default=0)  # a younger history covers fewer days
                for key, value in (
                    ("cost_period", t("cost_period_value", usd=_money(total), days=seen)),
                    ("cost_month", _money(monthly)),
                    ("cost_idle", _money(r.idle_monthly_usd)),
                    (
                        "cost_next_month",
                        "-" if r.outlook is None else f"{_money(r.outlook.monthly_usd)} ({r.outlook.method})",
                    ),
                    ("savings_month", _money(sum(s.monthly_usd for s in saved))),
                ):
                    with ui.card().mark(f"card-{key}"):
                        ui.label(t(key)).classes("text-sm")
                        ui.label(value).classes("text-xl")
            if r.outlook is not None and r.outlook.reason:
                ui.label(r.outlook.reason).classes("text-sm text-grey-7")
            ui.table(
                columns=[
                    {"name": "key", "label": t(f"cost_by_{level.value}"), "field": "key", "sortable": True},
                    {"name": "days", "label": t("days"), "field": "days"},
                    {"name": "cpu", "label": "CPU $", "field": "cpu", "sortable": True},
                    {"name": "memory", "label": "Memory $", "field": "memory", "sortable": True},
                    {"name": "usd", "label": "Total $", "field": "usd", "sortable": True},
                    {"name": "monthly", "label": "$ / month", "field": "monthly", "sortable": True},
                ],
                rows=[
                    {
                        "key": line.key,
                        "days": line.days,
                        "cpu": round(line.cpu_usd, 2),
                        "memory": round(line.memory_usd, 2),
                        "usd": round(line.usd, 2),
                        "monthly": round(line.monthly_usd, 2),
                    }
                    for line in r.lines
                ],
                row_key="key",
                pagination=50,
            ).classes("w-full").mark("cost-table")
            ui.label(t("cost_idle_nodes")).classes("text-lg")
            ui.table(
                columns=[
                    {"name": "node", "label": "Node", "field": "node", "sortable": True},
                    {"name": "pool", "label": "Pool", "field": "pool"},
                    {"name": "cores", "label": "Idle cores", "field": "cores", "sortable": True},
                    {"name": "gib", "label": "Idle GiB", "field": "gib", "sortable": True},
                    {"name": "monthly", "label": "$ / month", "field": "monthly", "sortable": True},
                ],
                rows=[
                    {
                        "node": f"{n.cluster}/{n.node}",
                        "pool": n.pool or "",
                        "cores": round(n.idle_cores, 2),
                        "gib": round(n.idle_gib, 2),
                        "monthly": round(n.monthly_usd, 2),
                    }
                    for n in idle_by_node(r.idle)
                ],
                row_key="node",
                pagination=20,
            ).classes("w-full").mark("idle-table")
            ui.label(t("cost_savings", strategy=queries.DEFAULT_STRATEGY)).classes("text-lg")
            ui.table(
                columns=[
                    {"name": "workload", "label": "Workload", "field": "workload", "sortable": True},
                    {"name": "container", "label": "Container", "field": "container"},
                    {"name": "monthly", "label": "$ / month", "field": "monthly", "sortable": True},
                ],
                rows=[
                    {
                        "id": f"{s.workload}/{s.container}",
                        "workload": s.workload,
                        "container": s.container,
                        "monthly": round(s.monthly_usd, 2),
                    }
                    for s in saved
                ],
                row_key="id",
                pagination=20,
            ).classes("w-full").mark("savings-table")
        return None
