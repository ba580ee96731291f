"""Workloads: a filterable, sortable table of current vs recommended; a detail page per workload
with daily peak-window and whole-day usage against requests and limits, and the recommendations."""

from __future__ import annotations

from typing import Any

from fastapi.responses import RedirectResponse
from nicegui import ui
from nicegui.events import GenericEventArguments

from kubecap.api import queries
from kubecap.api.auth import Role
from kubecap.api.context import ApiContext
from kubecap.api.listing import MAX_LIMIT, page
from kubecap.domain.recommendation import GIB
from kubecap.domain.window import DAY
from kubecap.domain.workload import WorkloadRef
from kubecap.ui.frame import frame, selected_cluster
from kubecap.ui.session import LOGIN_PATH, allowed, attempt, page_start
from kubecap.ui.strings import t

COLUMNS = [
    {"name": "namespace", "label": "Namespace", "field": "namespace", "sortable": True},
    {"name": "kind", "label": "Kind", "field": "kind", "sortable": True},
    {"name": "name", "label": "Name", "field": "name", "sortable": True},
    {"name": "replicas", "label": "Replicas", "field": "replicas", "sortable": True},
    {"name": "cpu_request", "label": "CPU request", "field": "cpu_request", "sortable": True},
    {"name": "recommended_cpu", "label": "CPU recommended", "field": "recommended_cpu", "sortable": True},
    {"name": "cpu_peak", "label": "CPU peak", "field": "cpu_peak", "sortable": True},
    {"name": "mem_request", "label": "Mem request (GiB)", "field": "mem_request", "sortable": True},
    {
        "name": "recommended_mem",
        "label": "Mem recommended (GiB)",
        "field": "recommended_mem",
        "sortable": True,
    },
    {"name": "savings_usd", "label": "Savings $/month", "field": "savings_usd", "sortable": True},
    {"name": "risk_cpu", "label": "Risk (CPU above)", "field": "risk_cpu", "sortable": True},
]
SORTABLE = {c["name"] for c in COLUMNS}


def _row(summary: dict[str, Any]) -> dict[str, Any]:
    row = dict(summary)
    for key in ("cpu_request", "recommended_cpu", "cpu_peak"):
        row[key] = None if row[key] is None else round(row[key], 3)
    for key in ("mem_request", "recommended_mem"):
        row[key] = None if row[key] is None else round(row[key] / GIB, 3)
    row["risk_cpu"] = None if row["risk_cpu"] is None else round(row["risk_cpu"], 3)
    return row


ROWS_PER_PAGE = 50
FIRST_PAGE: dict[str, Any] = {
    "page": 1,
    "rowsPerPage": ROWS_PER_PAGE,
    "sortBy": "savings_usd",
    "descending": True,
}
# Quasar's request event carries a function (getCellValue) that cannot travel: send the rest.
REQUEST_JS = "(props) => emit({pagination: props.pagination, filter: props.filter})"


async def _page(
    ctx: ApiContext, cluster: str | None, pagination: dict[str, Any], search: str | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One page of the cached summaries, as Quasar's server-side pagination expects it."""
    size = max(1, min(int(pagination.get("rowsPerPage") or ROWS_PER_PAGE), MAX_LIMIT))
    number = max(1, int(pagination.get("page") or 1))
    key = pagination.get("sortBy")
    sort = None if key not in SORTABLE else ("-" if pagination.get("descending") else "") + str(key)
    rows = await queries.summary_rows(ctx, cluster)
    listing = page(rows, offset=(number - 1) * size, limit=size, sort=sort, search=search or None)
    if not listing["items"] and number > 1:  # the search shrank the list below this page
        number = 1
        listing = page(rows, offset=0, limit=size, sort=sort, search=search or None)
    answer = {**pagination, "page": number, "rowsPerPage": size, "rowsNumber": listing["total"]}
    return [_row(r) for r in listing["items"]], answer


def _chart(series: list[dict[str, Any]], container: str, window_is_day: bool, figure: str) -> dict[str, Any]:
    rows = [r for r in series if r["container"] == container and (r["window"] == DAY) == window_is_day]
    scale = 1.0 if figure == "cpu" else GIB
    days = [r["day"] for r in rows]

    def line(name: str, key: str) -> dict[str, Any]:
        return {
            "name": name,
            "type": "line",
            "data": [None if r[key] is None else round(r[key] / scale, 4) for r in rows],
        }

    return {
        "animation": False,
        "tooltip": {"trigger": "axis"},
        "legend": {},
        "xAxis": {"type": "category", "data": days},
        "yAxis": {"type": "value", "name": t("cpu") if figure == "cpu" else t("memory")},
        "series": [
            line("P95", f"{figure}_p95"),
            line("max", f"{figure}_max"),
            line("request", f"{figure}_request"),
            line("limit", f"{figure}_limit"),
        ],
    }


def register(ctx: ApiContext) -> None:
    @ui.page("/workloads")
    async def workloads_page() -> RedirectResponse | None:
        started = await page_start(ctx)
        if started is None:
            return RedirectResponse(LOGIN_PATH)
        principal, clusters = started
        cluster = selected_cluster()
        first = await _page(ctx, cluster, dict(FIRST_PAGE), None)
        with frame(t("workloads"), principal, clusters):
            search = ui.input(t("search")).props('data-testid="search" clearable debounce=300')
            # Server-side paging: the browser holds one page; sorting, searching and paging ask
            # the server, which pages the cached summaries (5,000 rows never reach the browser).
            table = ui.table(columns=COLUMNS, rows=first[0], row_key="id", pagination=first[1])
            table.classes("w-full").props('data-testid="workloads-table"')
            search.bind_value_to(table, "filter")

            async def request(event: GenericEventArguments) -> None:
                args = event.args if isinstance(event.args, dict) else {}
                wanted = args.get("pagination") or table.pagination
                rows, pagination = await _page(ctx, cluster, wanted, args.get("filter"))
                table.rows = rows
                table.pagination = pagination

            table.on("request", request, js_handler=REQUEST_JS)
            table.add_slot(
                "body-cell-name",
                '<q-td :props="props"><a :href="\'/workloads/\' + props.row.id" class="text-blue-700">'
                "{{ props.value }}</a></q-td>",
            )
        return None

    @ui.page("/workloads/{cluster}/{namespace}/{kind}/{name}")
    async def workload_page(cluster: str, namespace: str, kind: str, name: str) -> RedirectResponse | None:
        started = await page_start(ctx)
        if started is None:
            return RedirectResponse(LOGIN_PATH)
        principal, clusters = started
        with frame(f"{namespace}/{name}", principal, clusters):
            ref_kind = await attempt(_async(lambda: queries.parse_kind(kind)))
            if ref_kind is None:
                return None
            ref = WorkloadRef(cluster, namespace, ref_kind, name)
            detail = await attempt(lambda: queries.workload(ctx, ref))
            if detail is None:
                ui.label(t("not_found")).props('data-testid="not-found"')
                return None
            w = detail["workload"]
            ui.label(
                f"{w['kind']} · {t('replicas')} {w['replicas']} · CPU request {w['cpu_request']:.3f} · "
                f"peak {w['cpu_peak']:.3f} · memory request {w['mem_request'] / GIB:.2f} GiB"
            )
            if (cost := detail["cost"]) is not None:
                ui.label(
                    t("workload_cost").format(
                        monthly=cost["monthly_usd"], days=cost["days"], waste=w["waste_usd"]
                    )
                ).props('data-testid="workload-cost"')
            for container in w["containers"]:
                ui.label(container).classes("text-lg font-bold")
                for is_day, title in ((False, "peak_usage"), (True, "day_usage")):
                    if not any((r["window"] == DAY) == is_day for r in detail["series"]):
                        continue
                    ui.label(t(title))
                    with ui.row().classes("w-full no-wrap"):
                        for figure in ("cpu", "mem"):
                            ui.echart(_chart(detail["series"], container, is_day, figure)).classes(
                                "w-1/2 h-56"
                            )
            ui.label(t("recommendations")).classes("text-lg")
            for rec in detail["recommendations"]:
                with ui.card().classes("w-full"):
                    target = rec["target"]
                    ui.label(
                        f"{rec['strategy']} · {rec['container']}: CPU {target['cpu_request']} · "
                        f"memory {(target['mem_request'] or 0) / GIB:.2f} GiB · savings ${rec['savings']['usd'] or 0:,.2f}/month"
                    ).classes("font-bold")
                    ui.label(rec["explanation"]).classes("text-sm whitespace-pre-wrap")

            result = ui.column().props('data-testid="approve-result"')

            async def approve() -> None:
                if not allowed(principal, Role.OPERATOR):
                    return
                recs = [
                    r
                    for r in await ctx.store.recommendations(
                        cluster=cluster, strategy=queries.DEFAULT_STRATEGY, namespace=namespace
                    )
                    if r.ref.workload == ref
                ]
                planned = await attempt(lambda: ctx.control.approve(recs))
                if planned is None:
                    return
                changes, skipped = planned
                applied = await attempt(
                    lambda: ctx.control.apply(
                        changes,
                        action="control.approve",
                        actor=principal.username,
                        reason="approved in the UI",
                    )
                )
                result.clear()
                with result:
                    if not applied:
                        ui.label(t("nothing_changed") + ("; " + "; ".join(skipped) if skipped else ""))
                    for change in applied or []:
                        ui.label(f"{t('approved')}: {change.describe()}").props('data-testid="approved"')
                        for line in change.lines():
                            ui.label(line).classes("font-mono text-sm")

            ui.button(t("approve"), on_click=approve).props('data-testid="approve"')
        return None


def _async(fn: Any) -> Any:
    async def call() -> Any:
        return fn()

    return call
