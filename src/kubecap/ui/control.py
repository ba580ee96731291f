"""Control: the control table's specs and the namespace policies. Operators create, change and
unset specs (replicas and mode, one container's requests and limits at a time); admins set a
namespace's enforcement, unmanaged-workload rule and failure mode. The control service validates
and audits every change; its one-sentence errors are shown as they are."""

from __future__ import annotations

from typing import Any

from fastapi.responses import RedirectResponse
from nicegui import ui

from kubecap.api.auth import Principal, Role
from kubecap.api.context import ApiContext
from kubecap.api.queries import clusters as cluster_names
from kubecap.api.routes_ops import parse_ref
from kubecap.domain.control import ContainerSpec, Enforcement, Failure, ReplicasMode, Unmanaged
from kubecap.errors import ConfigError
from kubecap.ui.frame import frame, selected_cluster
from kubecap.ui.session import LOGIN_PATH, attempt, page_start, permitted
from kubecap.ui.strings import t

UNCHANGED = ""
REMOVE = "-"


def values_of(fields: dict[str, str]) -> dict[str, str | None]:
    """Blank keeps a value (left out), '-' removes it (None), anything else sets it."""
    return {k: (None if v.strip() == REMOVE else v.strip()) for k, v in fields.items() if v.strip()}


def replicas_of(text: str) -> int | None:
    if not text.strip():
        return None
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"replicas {text!r} is not a whole number: give e.g. 3") from None
    if value < 0:
        raise ConfigError(f"replicas {value} is negative: give 0 or more")
    return value


def _quantities(values: dict[str, Any] | None) -> str:
    return " ".join(f"{name} {value}" for name, value in sorted((values or {}).items()) if value is not None)


def _container_text(c: dict[str, Any]) -> str:
    """``web: requests cpu 250m memory 512Mi, limits memory 1Gi``: what the webhook sets, no dict syntax."""
    parts = [
        f"{label} {text}"
        for label, text in (
            ("requests", _quantities(c.get("requests"))),
            ("limits", _quantities(c.get("limits"))),
        )
        if text
    ]
    return f"{c['container']}: {', '.join(parts) or 'no values'}"


def spec_rows(specs: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "workload": str(s.ref),
            "replicas_mode": s.values()["replicas_mode"],
            "replicas": s.replicas,
            "containers": "; ".join(_container_text(c) for c in s.values()["containers"]),
            "source": s.source,
        }
        for s in specs
    ]


def register(ctx: ApiContext) -> None:
    @ui.page("/control")
    async def control_page() -> RedirectResponse | None:
        started = await page_start(ctx)
        if started is None:
            return RedirectResponse(LOGIN_PATH)
        principal, clusters = started
        with frame(t("control"), principal, clusters):
            ui.label(t("specs")).classes("text-lg")
            specs_table = (
                ui.table(
                    columns=[
                        {"name": k, "label": k.replace("_", " "), "field": k}
                        for k in ("workload", "replicas_mode", "replicas", "containers", "source")
                    ],
                    rows=spec_rows(await ctx.control.specs(cluster=selected_cluster())),
                    row_key="workload",
                    pagination=50,
                )
                .classes("w-full")
                .props('data-testid="specs-table"')
            )

            async def refresh_specs() -> None:
                specs_table.rows = spec_rows(await ctx.control.specs(cluster=selected_cluster()))
                specs_table.update()

            if principal.role.allows(Role.OPERATOR):
                spec_editor(ctx, principal, refresh_specs)
            ui.label(t("policies")).classes("text-lg")
            policies_table = (
                ui.table(
                    columns=[
                        {"name": k, "label": k, "field": k}
                        for k in ("cluster", "namespace", "enforcement", "unmanaged", "failure")
                    ],
                    rows=await policy_rows(ctx),
                    row_key="namespace",
                )
                .classes("w-full")
                .props('data-testid="policies-table"')
            )

            async def refresh_policies() -> None:
                policies_table.rows = await policy_rows(ctx)
                policies_table.update()

            if principal.role.allows(Role.ADMIN):
                policy_editor(ctx, principal, clusters, refresh_policies)
        return None


async def policy_rows(ctx: ApiContext) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    chosen = selected_cluster()
    for name in [chosen] if chosen else await cluster_names(ctx):
        rows += [
            {"cluster": p.cluster, "namespace": p.namespace, **p.values()}
            for p in await ctx.control.policies(name)
        ]
    return rows


def spec_editor(ctx: ApiContext, principal: Principal, refresh: Any) -> None:
    ui.label(t("edit_spec")).classes("text-md font-bold")
    ui.label(t("spec_hint")).classes("text-sm text-gray-500")
    with ui.row().classes("items-end gap-2"):
        target = (
            ui.input(t("workload_id")).classes("w-96").mark("spec-target").props('data-testid="spec-target"')
        )
        mode = ui.select(
            {UNCHANGED: t("unchanged"), **{m.value: m.value for m in ReplicasMode}},
            value=UNCHANGED,
            label=t("replicas_mode"),
        ).mark("spec-mode")
        replicas = ui.input(t("replicas")).mark("spec-replicas").props('data-testid="spec-replicas"')
    with ui.row().classes("items-end gap-2"):
        container = ui.input(t("container")).mark("spec-container").props('data-testid="spec-container"')
        fields = {
            ("requests", "cpu"): ui.input(t("cpu_request"))
            .mark("spec-cpu-request")
            .props('data-testid="spec-cpu-request"'),
            ("limits", "cpu"): ui.input(t("cpu_limit"))
            .mark("spec-cpu-limit")
            .props('data-testid="spec-cpu-limit"'),
            ("requests", "memory"): ui.input(t("memory_request"))
            .mark("spec-memory-request")
            .props('data-testid="spec-memory-request"'),
            ("limits", "memory"): ui.input(t("memory_limit"))
            .mark("spec-memory-limit")
            .props('data-testid="spec-memory-limit"'),
        }
        reason = ui.input(t("reason")).mark("spec-reason")

    async def save() -> None:
        if not await permitted(ctx, principal, Role.OPERATOR):
            return

        async def go() -> Any:
            ref = parse_ref(target.value.strip())
            spec = None
            if container.value.strip():
                parts = {
                    part: values_of({name: box.value for (p, name), box in fields.items() if p == part})
                    for part in ("requests", "limits")
                }
                spec = ContainerSpec(container.value.strip(), parts["requests"], parts["limits"]).validate()
            return await ctx.control.set(
                ref,
                actor=principal.username,
                reason=reason.value.strip(),
                replicas=replicas_of(replicas.value),
                mode=ReplicasMode(mode.value) if mode.value else None,
                container=spec,
            )

        change = await attempt(go)
        if change is not None:
            ui.notify(
                t("spec_saved", diff="; ".join(change.lines()) or change.describe()),
                type="positive",
                multi_line=True,
            )
            await refresh()

    async def unset(whole: bool) -> None:
        if not await permitted(ctx, principal, Role.OPERATOR):
            return

        async def go() -> Any:
            name = None if whole else container.value.strip() or None
            if not whole and name is None:
                raise ConfigError("give the container to remove from the spec")
            return await ctx.control.unset(
                parse_ref(target.value.strip()), actor=principal.username, container=name
            )

        change = await attempt(go)
        if change is not None:
            ui.notify(
                t("spec_removed", diff="; ".join(change.lines()) or change.describe()),
                type="positive",
                multi_line=True,
            )
            await refresh()

    with ui.row().classes("gap-2"):
        ui.button(t("save_spec"), on_click=save).mark("spec-save").props('data-testid="spec-save"')
        ui.button(t("unset_container"), on_click=lambda: unset(False)).props("outline").mark(
            "spec-unset-container"
        )
        ui.button(t("unset_spec"), on_click=lambda: unset(True)).props("outline color=negative").mark(
            "spec-unset"
        )


def policy_editor(ctx: ApiContext, principal: Principal, clusters: list[str], refresh: Any) -> None:
    with ui.row().classes("items-end gap-2"):
        cluster = ui.select(
            clusters, value=selected_cluster() or (clusters[0] if clusters else None), label=t("cluster")
        )
        namespace = ui.input("Namespace").mark("policy-namespace")
        enforcement = ui.select([e.value for e in Enforcement], value="warn", label=t("enforcement")).mark(
            "policy-enforcement"
        )
        unmanaged = ui.select(
            {UNCHANGED: t("unchanged"), **{u.value: u.value for u in Unmanaged}},
            value=UNCHANGED,
            label=t("unmanaged"),
        ).mark("policy-unmanaged")
        failure = ui.select(
            {UNCHANGED: t("unchanged"), **{f.value: f.value for f in Failure}},
            value=UNCHANGED,
            label=t("failure"),
        ).mark("policy-failure")

        async def save() -> None:
            if not await permitted(ctx, principal, Role.ADMIN) or not cluster.value:
                return
            saved = await attempt(
                lambda: ctx.control.set_policy(
                    cluster.value,
                    namespace.value.strip(),
                    actor=principal.username,
                    enforcement=Enforcement(enforcement.value),
                    unmanaged=Unmanaged(unmanaged.value) if unmanaged.value else None,
                    failure=Failure(failure.value) if failure.value else None,
                )
            )
            if saved is not None:
                ui.notify(f"{cluster.value}/{namespace.value}: {saved[1].values()}", type="positive")
                await refresh()

        ui.button(t("save_policy"), on_click=save).mark("policy-save")
