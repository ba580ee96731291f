"""Control: the control table's specs and the namespace policies (approve recommendations
from a workload's page); admins set a namespace's enforcement mode. Editing specs is in the API only."""

from __future__ import annotations

from fastapi.responses import RedirectResponse
from nicegui import ui

from kubecap.api.auth import Role
from kubecap.api.context import ApiContext
from kubecap.api.queries import clusters as cluster_names
from kubecap.domain.control import Enforcement
from kubecap.ui.frame import frame, selected_cluster
from kubecap.ui.session import LOGIN_PATH, allowed, attempt, page_start
from kubecap.ui.strings import t


def register(ctx: ApiContext) -> None:
    @ui.page("/control")
    async def control_page() -> RedirectResponse | None:
        started = await page_start(ctx)
        if started is None:
            return RedirectResponse(LOGIN_PATH)
        principal, clusters = started
        specs = await ctx.control.specs(cluster=selected_cluster())
        with frame(t("control"), principal, clusters):
            ui.label(t("specs")).classes("text-lg")
            rows = [
                {
                    "workload": str(s.ref),
                    "replicas_mode": s.values()["replicas_mode"],
                    "replicas": s.replicas,
                    "containers": ", ".join(
                        f"{c['container']}: {c.get('requests')} / {c.get('limits')}"
                        for c in s.values()["containers"]
                    ),
                    "source": s.source,
                }
                for s in specs
            ]
            ui.table(
                columns=[
                    {"name": k, "label": k.replace("_", " "), "field": k}
                    for k in ("workload", "replicas_mode", "replicas", "containers", "source")
                ],
                rows=rows,
                row_key="workload",
                pagination=50,
            ).classes("w-full").props('data-testid="specs-table"')
            ui.label(t("policies")).classes("text-lg")
            policies = []
            for name in [selected_cluster()] if selected_cluster() else await cluster_names(ctx):
                if name is not None:
                    policies += [
                        {"cluster": p.cluster, "namespace": p.namespace, **p.values()}
                        for p in await ctx.control.policies(name)
                    ]
            ui.table(
                columns=[
                    {"name": k, "label": k, "field": k}
                    for k in ("cluster", "namespace", "enforcement", "unmanaged", "failure")
                ],
                rows=policies,
                row_key="namespace",
            ).classes("w-full").props('data-testid="policies-table"')
            if not principal.role.allows(Role.ADMIN):
                return None
            with ui.row().classes("items-end gap-2"):
                cluster = ui.select(
                    clusters,
                    value=selected_cluster() or (clusters[0] if clusters else None),
                    label=t("cluster"),
                )
                namespace = ui.input("Namespace").mark("policy-namespace")
                enforcement = ui.select(
                    [e.value for e in Enforcement], value="warn", label="Enforcement"
                ).mark("policy-enforcement")

                async def save() -> None:
                    if not allowed(principal, Role.ADMIN) or not cluster.value:
                        return
                    saved = await attempt(
                        lambda: ctx.control.set_policy(
                            cluster.value,
                            namespace.value.strip(),
                            actor=principal.username,
                            enforcement=Enforcement(enforcement.value),
                        )
                    )
                    if saved is not None:
                        ui.notify(f"{cluster.value}/{namespace.value}: {saved[1].values()}", type="positive")

                ui.button(t("save_policy"), on_click=save).mark("policy-save")
        return None
