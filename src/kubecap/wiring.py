"""The composition root: builds adapters (store, metrics sources) from validated settings.

Commands get their adapters from here and hand them to capabilities, which only know the
ports. Nothing is created at import time.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubecap import store as store_module
from kubecap.config import ClusterSettings, PrometheusSettings, Settings
from kubecap.errors import ConfigError, KubecapError
from kubecap.metrics.prometheus import PrometheusClient, PrometheusOptions
from kubecap.metrics.prometheus_source import PrometheusUsageSource
from kubecap.metrics.simulated import Scenario, SimulatedSource, demo_scenario, load_scenario
from kubecap.ports import NotificationSink, UsageSource

if TYPE_CHECKING:  # the webhook's modules load a server stack: imported where used
    from fastapi import FastAPI

    from kubecap.api.context import ApiContext
    from kubecap.control.install import InstallOptions
    from kubecap.control.server import (
        AnnotationsLookup,
        Webhook,
        WebhookServer,
    )

DEMO_SCENARIO = "demo"


def scenario(name: str) -> Scenario:
    """The bundled demo scenario, or a scenario YAML file."""
    return demo_scenario() if name == DEMO_SCENARIO else load_scenario(Path(name))


def demo_cluster() -> dict[str, Any]:
    """Settings of the bundled simulated cluster (its name, zone and windows come from the scenario)."""
    scenario = demo_scenario()
    return {
        "name": scenario.cluster,
        "simulated": DEMO_SCENARIO,
        "timezone": scenario.timezone,
        "peak_windows": list(scenario.peak_windows),
    }


@asynccontextmanager
async def store(settings: Settings) -> AsyncIterator[store_module.Store]:
    opened = await store_module.Store.open(settings.database_url)
    try:
        yield opened
    finally:
        await opened.close()


def upgrade_database(url: str) -> str:
    return store_module.upgrade_database(url)


def masked_url(url: str) -> str:
    return store_module.masked_url(url)


def prometheus_options(settings: PrometheusSettings) -> PrometheusOptions:
    return PrometheusOptions(
        url=settings.url,
        bearer_token=settings.token(),
        username=settings.username,
        password=settings.password.get_secret_value() if settings.password else None,
        headers=dict(settings.headers),
        params=dict(settings.params),
        ca_file=str(settings.ca_file) if settings.ca_file else None,
        insecure_skip_verify=settings.insecure_skip_verify,
        timeout_s=settings.timeout_seconds,
        retries=settings.retries,
        backoff_s=settings.backoff_seconds,
        concurrency=settings.concurrency,
    )


@asynccontextmanager
async def usage_source(cluster: ClusterSettings) -> AsyncIterator[UsageSource]:
    """The cluster's usage source: its Prometheus, or its simulated scenario."""
    if cluster.prometheus is None:
        yield SimulatedSource(
            scenario(cluster.simulated or DEMO_SCENARIO),
            step=cluster.step_seconds,
            day_step=cluster.day_step_seconds,
        )
        return
    async with PrometheusClient(prometheus_options(cluster.prometheus)) as client:
        yield PrometheusUsageSource(
            client,
            cluster=cluster.name,
            cluster_label=cluster.cluster_label,
            step_s=cluster.step_seconds,
            day_step_s=cluster.day_step_seconds,
            series_budget=cluster.series_budget,
        )


def check_files(settings: Settings) -> list[str]:
    """Problems with files the settings name (CA bundles, token files, scenarios)."""
    problems = []
    for cluster in settings.clusters:
        prom = cluster.prometheus
        if prom is not None:
            for label, path in (("ca_file", prom.ca_file), ("bearer_token_file", prom.bearer_token_file)):
                if path is not None and not path.is_file():
                    problems.append(
                        f"clusters.{cluster.name}.prometheus.{label}: {path} is not a readable file"
                    )
        elif cluster.simulated is not None:
            try:
                scenario(cluster.simulated)
            except KubecapError as exc:
                problems.append(f"clusters.{cluster.name}.simulated: {exc}")
    return problems


async def check_connections(settings: Settings) -> list[str]:
    """Problems reaching each Prometheus and the database."""
    problems = []
    for cluster in settings.clusters:
        if cluster.prometheus is None:
            continue
        try:
            async with PrometheusClient(prometheus_options(cluster.prometheus)) as client:
                await client.instant("vector(1)", datetime.now(UTC))
        except KubecapError as exc:
            problems.append(f"clusters.{cluster.name}.prometheus: {exc}")
    try:
        async with store(settings):
            pass
    except KubecapError as exc:
        problems.append(f"database_url: {exc}")
    return problems


# --- the control table and its webhook (issue 4) ------------------------------------------


def webhook_cluster(settings: Settings, name: str | None = None) -> str:
    """The cluster whose control table the webhook enforces: the flag, the setting, the only configured one."""
    chosen = name or settings.webhook.cluster
    if chosen is not None:
        return chosen
    if len(settings.clusters) == 1:
        return settings.clusters[0].name
    if settings.clusters:
        names = ", ".join(c.name for c in settings.clusters)
        raise ConfigError(
            f"several clusters are configured ({names}): choose one with --cluster or webhook.cluster"
        )
    return "default"


def install_options(settings: Settings, **overrides: Any) -> InstallOptions:
    """Install options from the webhook settings, with CLI flags (non-None) laid over them."""
    from kubecap.control.install import InstallOptions

    hook = settings.webhook
    values: dict[str, Any] = {
        "name": hook.configuration_name,
        "namespace": hook.namespace,
        "service": hook.service,
        "port": hook.service_port,
        "url": hook.url,
        "tls_name": hook.tls_secret_name,
        "ca_name": hook.ca_secret_name,
        "failure_policy": hook.failure_policy,
        "timeout_seconds": hook.timeout_seconds,
        "opt_out_label": hook.opt_out_label,
        "cert_manager": hook.cert_manager,
        "cert_days": hook.cert_days,
        "ca_days": hook.ca_days,
        "renew_before_days": hook.renew_before_days,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return InstallOptions(**values).validate()


def webhook_server(
    settings: Settings,
    store: store_module.Store,
    cluster: str,
    *,
    annotations: AnnotationsLookup | None = None,
    sock: socket.socket | None = None,
    notifier: NotificationSink | None = None,
) -> tuple[WebhookServer, Webhook]:
    """The webhook over ``store``'s control table of ``cluster``, ready to serve over TLS.

    With a ``notifier`` (the apprise Notifier), rejections and registrations are notified,
    coalesced per workload (webhook.notify_every_seconds).
    """
    from kubecap.control.alerts import WebhookAlerts
    from kubecap.control.metrics import WebhookMetrics
    from kubecap.control.recorder import Recorder
    from kubecap.control.server import (
        StalePolicy,
        Webhook,
        WebhookOptions,
        WebhookServer,
        create_app,
        listening_socket,
    )
    from kubecap.control.snapshot import SnapshotHolder
    from kubecap.control.tls import ReloadingContext

    hook = settings.webhook
    if hook.cert_file is None or hook.key_file is None:
        raise ConfigError(
            "the webhook needs a certificate: set webhook.cert_file and webhook.key_file "
            "(KUBECAP_WEBHOOK__CERT_FILE, KUBECAP_WEBHOOK__KEY_FILE) or pass --cert-file and --key-file"
        )
    tls = ReloadingContext(hook.cert_file, hook.key_file)
    metrics = WebhookMetrics()
    holder = SnapshotHolder(store, cluster, stale_after_s=hook.stale_after_seconds)
    alerts = WebhookAlerts(notifier, store, every_s=hook.notify_every_seconds) if notifier else None
    recorder = Recorder(
        store, capacity=hook.audit_queue, on_drop=lambda n: metrics.audit_dropped.inc(n), alerts=alerts
    )
    webhook = Webhook(
        holder,
        recorder,
        metrics,
        WebhookOptions(
            cluster=cluster, max_body_bytes=hook.max_body_bytes, on_stale=StalePolicy(hook.on_stale)
        ),
        annotations=annotations if hook.read_parent_annotations else None,
    )
    app = create_app(
        webhook,
        background=[
            lambda: holder.run(hook.refresh_seconds),
            recorder.run,
            lambda: tls.run(hook.cert_reload_seconds),
            *([alerts.run] if alerts is not None else []),
        ],
    )
    return WebhookServer(app, tls, sock or listening_socket(hook.host, hook.port)), webhook


# --- the API and the UI (issue 6) ------------------------------------------------------------


def api_context(settings: Settings, store: store_module.Store) -> ApiContext:
    """The services the API's routers and the UI's pages share, over one open store."""
    from kubecap.api.context import ApiContext

    return ApiContext.build(settings, store, ops_control=ops_control_table(store))


def api_app(ctx: ApiContext, *, ui: bool = True) -> FastAPI:
    """The FastAPI app over ``ctx``, with the NiceGUI pages mounted on it when ``ui``."""
    from kubecap.api.app import create_app

    app = create_app(ctx)
    if ui:
        from kubecap.ui.app import mount

        mount(app, ctx)
    return app


# --- load-aware scheduling (issue 7) ---------------------------------------------------------

if TYPE_CHECKING:  # the extender loads a server stack: imported where used
    from collections.abc import Callable

    from kubecap.cluster.port import ClusterPort
    from kubecap.config import SchedulingSettings
    from kubecap.scheduling.extender import Extender
    from kubecap.scheduling.nodeload import NodeLoadCache, StepListener
    from kubecap.scheduling.taints import AuditLog, TaintController

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kubecap.predict.controller import Round as PredictRound
    from kubecap.predict.ports import LoadSource


def prometheus_cluster(settings: Settings, name: str | None) -> ClusterSettings:
    """The cluster whose node load is read: the named one, or the only one; it needs a Prometheus."""
    clusters = settings.cluster(name)
    if len(clusters) != 1:
        names = ", ".join(c.name for c in clusters) or "none configured"
        raise ConfigError(
            f"node load is read for one cluster at a time (configured: {names}): choose one with --cluster, "
            "or set prometheus_url for a cluster named 'default'"
        )
    cluster = clusters[0]
    if cluster.prometheus is None:
        raise ConfigError(
            f"cluster {cluster.name!r} has no Prometheus: node load comes from node-exporter series, so set "
            f"clusters[{cluster.name}].prometheus.url"
        )
    return cluster


@asynccontextmanager
async def node_load_cache(
    cluster: ClusterSettings,
    scheduling: SchedulingSettings,
    *,
    on_step: StepListener | None = None,
    clock: Callable[[], datetime] | None = None,
) -> AsyncIterator[NodeLoadCache]:
    """The node-load cache of ``cluster`` over its Prometheus (not yet refreshed)."""
    from kubecap.scheduling.nodeload import NodeLoadCache, NodeLoadReader, utc_now
    from kubecap.scheduling.policy import LoadPolicy

    if cluster.prometheus is None:
        raise ConfigError(f"cluster {cluster.name!r} has no Prometheus: set its prometheus.url")
    policy = LoadPolicy.from_settings(scheduling.extender, scheduling.node_load)
    window = max(
        scheduling.node_load.recent_binding_seconds,
        *(r.window_seconds for r in scheduling.extender.hot_value),
    )
    async with PrometheusClient(prometheus_options(cluster.prometheus)) as client:
        reader = NodeLoadReader(
            client,
            scheduling.node_load,
            cluster_label=cluster.cluster_label,
            estimator=policy.estimator,
            recent_window_s=window,
        )
        yield NodeLoadCache(reader, scheduling.node_load, clock=clock or utc_now, on_step=on_step)


def extender(
    snapshot_of: Callable[[], Any],
    scheduling: SchedulingSettings,
    *,
    clock: Callable[[], datetime],
    learn: Callable[[list[Any]], None] | None = None,
    registry: Any = None,
) -> Extender:
    """The extender app over a snapshot source (usually ``cache.snapshot``); metrics go to ``registry``."""
    from kubecap.scheduling.extender import build_extender
    from kubecap.scheduling.policy import LoadPolicy

    policy = LoadPolicy.from_settings(scheduling.extender, scheduling.node_load)
    return build_extender(snapshot_of, policy, clock=clock, learn=learn, registry=registry)


def taint_controller(
    cluster: ClusterPort,
    snapshot_of: Callable[[], Any],
    scheduling: SchedulingSettings,
    *,
    registry: Any,
    holder: str,
    clock: Callable[[], datetime],
    audit: AuditLog | None,
    notifier: NotificationSink | None,
) -> TaintController:
    """The auto-taint controller for ``cluster`` (metrics into ``registry``)."""
    from datetime import timedelta

    from kubecap.scheduling.metrics import TaintMetrics
    from kubecap.scheduling.taints import TaintController

    hot = tuple((timedelta(seconds=r.window_seconds), r.count) for r in scheduling.extender.hot_value)
    return TaintController(
        cluster,
        snapshot_of,
        scheduling.taints,
        metrics=TaintMetrics(registry),
        holder=holder,
        clock=clock,
        audit=audit,
        notifier=notifier,
        hot_rules=hot,
    )


# --- operations (issue 5) -----------------------------------------------------------------

if TYPE_CHECKING:
    from kubecap.control.ports import ControlStore
    from kubecap.domain.control import ControlSpec
    from kubecap.domain.resources import ContainerResources
    from kubecap.domain.workload import WorkloadRef


class OpsControlTable:
    """ops' ``ControlTable`` port over the control service: ops never imports control, so the
    composition root joins them. Changes go through the service, so they are versioned and
    audited like any other change of the table (and unchanged values store nothing)."""

    def __init__(self, store: ControlStore) -> None:
        from kubecap.control.service import ControlService

        self._service = ControlService(store)

    async def spec(self, ref: WorkloadRef) -> ControlSpec | None:
        from kubecap.errors import NotFoundError

        try:
            return await self._service.spec(ref)
        except NotFoundError:
            return None

    async def set_replicas(self, ref: WorkloadRef, replicas: int, *, actor: str, reason: str) -> None:
        from kubecap.domain.control import ReplicasMode

        await self._service.set(ref, actor=actor, reason=reason, replicas=replicas, mode=ReplicasMode.FIXED)

    async def set_resources(
        self,
        ref: WorkloadRef,
        resources: tuple[ContainerResources, ...],
        *,
        actor: str,
        reason: str,
        source: str,
    ) -> None:
        from dataclasses import replace

        from kubecap.control.service import SpecChange
        from kubecap.domain.control import ContainerSpec
        from kubecap.domain.resources import RESOURCE_NAMES

        before = await self._service.spec(ref)
        containers = list(before.containers)
        for wanted in resources:
            # Apply replaces a container's requests and limits: what it leaves out is removed.
            new = ContainerSpec(
                wanted.container,
                {**dict.fromkeys(RESOURCE_NAMES), **wanted.requests},
                {**dict.fromkeys(RESOURCE_NAMES), **wanted.limits},
            )
            index = next((i for i, c in enumerate(containers) if c.container == wanted.container), None)
            if index is None:
                containers.append(new)
            else:
                containers[index] = new
        after = replace(before, containers=tuple(containers), source=source).validate()
        await self._service.apply(
            [SpecChange(ref, before, after)], action="control.set", actor=actor, reason=reason
        )


def ops_control_table(store: store_module.Store) -> OpsControlTable:
    """The control table as the task runner and the ops service use it."""
    return OpsControlTable(store)


class PredictControlTable:
    """predict's ``ReplicasTable`` port over the control service (predict never imports control):
    its changes are versioned and audited like any other change of the table."""

    def __init__(self, store: ControlStore) -> None:
        from kubecap.control.service import ControlService

        self._service = ControlService(store)

    async def replicas(self, ref: WorkloadRef) -> int | None:
        from kubecap.domain.control import ReplicasMode
        from kubecap.errors import NotFoundError

        try:
            spec = await self._service.spec(ref)
        except NotFoundError:
            return None
        if spec.replicas_mode is ReplicasMode.HPA:
            raise ConfigError(
                f"{ref} is in the control table with replicas mode hpa, so its HPA owns the replicas: "
                "use `kubecap predict set ... --mode hpa-min`"
            )
        return spec.replicas

    async def set(
        self, ref: WorkloadRef, *, actor: str, reason: str = "", replicas: int | None = None
    ) -> None:
        from kubecap.domain.control import ReplicasMode

        await self._service.set(ref, actor=actor, reason=reason, replicas=replicas, mode=ReplicasMode.FIXED)


async def predict_round(
    settings: Settings,
    store: store_module.Store,
    clusters: Mapping[str, ClusterPort],
    *,
    only: str | None = None,
    clock: Callable[[], datetime] | None = None,
    loads: Mapping[str, LoadSource] | None = None,
) -> PredictRound:
    """One round of predictive replicas over ``clusters`` (serve's loop: ``await wiring.predict_round(...)``).

    Each cluster's load is read from its own Prometheus, or from ``loads`` (the demo's
    simulation, ``demo_load``); a policy on a cluster with neither fails alone (audited) and
    the others run. ``only``: the policies of that cluster alone.
    """
    from contextlib import AsyncExitStack

    from kubecap.predict.controller import PredictController
    from kubecap.predict.ports import LoadByCluster
    from kubecap.predict.prometheus import PrometheusLoad

    async with AsyncExitStack() as stack:
        sources: dict[str, LoadSource] = dict(loads or {})
        for cluster in settings.clusters:
            if cluster.prometheus is not None and cluster.name in clusters:
                client = await stack.enter_async_context(
                    PrometheusClient(prometheus_options(cluster.prometheus))
                )
                sources[cluster.name] = PrometheusLoad(client, dict(cluster.cluster_label))
        controller = PredictController(
            store,
            clusters,
            LoadByCluster(sources),
            PredictControlTable(store),
            clock=clock or (lambda: datetime.now(UTC)),
        )
        return await controller.run_round(cluster=only)


def demo_load(settings: Settings) -> dict[str, LoadSource]:
    """Predictive replicas' load of each simulated cluster, read from its simulation (`kubecap demo`).

    The same scenario and generator as its collected usage (``usage_source``), as the cores of
    each workload's pods; a ``promql`` policy there fails alone: there is no Prometheus.
    """
    from kubecap.testing.load import SimulatedLoad

    return {
        cluster.name: SimulatedLoad(scenario(cluster.simulated))
        for cluster in settings.clusters
        if cluster.simulated is not None
    }
