"""Overview: requested vs used vs allocatable at peak, top lists by waste and usage, the trend, cost."""

from __future__ import annotations

from typing import Any

from fastapi.responses import RedirectResponse
from nicegui import ui

from kubecap.api import queries
from kubecap.api.context import ApiContext
from kubecap.domain.recommendation import GIB
from kubecap.ui.frame import frame, selected_cluster
from kubecap.ui.session import LOGIN_PATH, page_start
from kubecap.ui.strings import t


def workload_link(row: dict[str, Any]) -> str:
    return f"/workloads/{row['id']}"


def register(ctx: ApiContext) -> None:
    @ui.page("/")
    async def overview_page() -> RedirectResponse | None:
        started = await page_start(ctx)
        if started is None:
            return RedirectResponse(LOGIN_PATH)
        principal, clusters = started
        data = await queries.overview(ctx, selected_cluster())
        with frame(t("overview"), principal, clusters):
            if not data["workloads"]:
                ui.label(t("no_data"))
                return None
            with ui.row().classes("gap-4"):
                for key, value in (
                    ("cost_month", data["cost_per_month_usd"]),
                    ("waste_month", data["waste_per_month_usd"]),
                    ("savings_month", data["savings_per_month_usd"]),
                ):
                    with ui.card():
                        ui.label(t(key))
                        ui.label(f"${value:,.2f}").classes("text-xl").props(f'data-testid="{key}"')
            names = [t("requested"), t("used"), t("allocatable")]
            cpu, mem = data["cpu"], data["memory"]
            ui.echart(
                {
                    "animation": False,
                    "tooltip": {},
                    "legend": {},
                    "xAxis": {"type": "category", "data": names},
                    "yAxis": [{"type": "value", "name": t("cpu")}, {"type": "value", "name": t("memory")}],
                    "series": [
                        {
                            "name": t("cpu"),
                            "type": "bar",
                            "data": [round(cpu[k], 2) for k in ("requested", "used", "allocatable")],
                        },
                        {
                            "name": t("memory"),
                            "type": "bar",
                            "yAxisIndex": 1,
                            "data": [round(mem[k] / GIB, 2) for k in ("requested", "used", "allocatable")],
                        },
                    ],
                }
            ).classes("w-full h-64").props('data-testid="peak-chart"')
            trend = data["trend"]
            ui.label(t("trend"))
            ui.echart(
                {
                    "animation": False,
                    "tooltip": {"trigger": "axis"},
                    "legend": {},
                    "xAxis": {"type": "category", "data": [r["day"] for r in trend]},
                    "yAxis": {"type": "value", "name": t("cpu")},
                    "series": [
                        {
                            "name": t("requested"),
                            "type": "line",
                            "data": [round(r["cpu_requested"], 2) for r in trend],
                        },
                        {"name": t("used"), "type": "line", "data": [round(r["cpu_used"], 2) for r in trend]},
                    ],
                }
            ).classes("w-full h-64")
            with ui.row().classes("w-full gap-4 no-wrap"):
                with ui.column().classes("w-1/3"):
                    ui.label(t("top_ns_waste")).classes("text-lg")
                    ui.table(
                        columns=[
                            {"name": "namespace", "label": "Namespace", "field": "namespace"},
                            {"name": "waste_usd", "label": "$/month", "field": "waste_usd"},
                        ],
                        rows=data["top_namespaces_by_waste"],
                    ).classes("w-full")
                for key in ("top_wl_waste", "top_wl_usage"):
                    rows = data[
                        "top_workloads_by_waste" if key == "top_wl_waste" else "top_workloads_by_usage"
                    ]
                    with ui.column().classes("w-1/3"):
                        ui.label(t(key)).classes("text-lg")
                        for row in rows:
                            ui.link(
                                f"{row['namespace']}/{row['name']} · ${row['waste_usd']:,.2f}",
                                workload_link(row),
                            )
        return None
