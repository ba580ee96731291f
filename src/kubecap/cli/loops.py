"""Builds serve's background loops from the settings (a composition root, like wiring.py).

Cluster adapters come from each cluster's ``kubernetes`` settings (or are handed in by
`kubecap demo`: its in-memory cluster); the leader lease is a Kubernetes Lease on the first
cluster with an API, else a row in the database. Predictive replicas read each cluster's load
from its Prometheus; when the adapters are handed in (the demo's in-memory copy of its simulated
cluster), a simulated cluster's load comes from its simulation (wiring.demo_load).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from kubecap import wiring
from kubecap.background import plan
from kubecap.background.leader import DbLease, KubeLease, Leadership, LeaseBackend, default_holder
from kubecap.background.loop import LoopMetrics
from kubecap.background.service import Background
from kubecap.background.steps import Collection
from kubecap.cluster.port import ClusterPort
from kubecap.config import Settings
from kubecap.errors import ConfigError, KubecapError
from kubecap.ops.notify import Notifier
from kubecap.ops.runner import TaskRunner
from kubecap.store import Store

if TYPE_CHECKING:  # the scheduling services are built by wiring, imported there when used
    from kubecap.scheduling.load import LoadSnapshot
    from kubecap.scheduling.nodeload import NodeLoadCache
    from kubecap.scheduling.taints import TaintController

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _notifier(settings: Settings, channels: list[Any]) -> Notifier | None:
    from kubecap.cli.ops import notifier

    try:
        return notifier(settings, channels)
    except KubecapError as exc:
        log.warning("notifications are off for the background loops", extra={"error": str(exc)})
        return None


def _adapters(settings: Settings, stack: AsyncExitStack) -> dict[str, ClusterPort]:
    from kubecap.cli.ops import kube_options
    from kubecap.cluster.kube import KubeCluster

    adapters: dict[str, ClusterPort] = {}
    for cluster in settings.clusters:
        if cluster.kubernetes is None:
            continue
        adapter = KubeCluster.connect(kube_options(cluster.name, cluster.kubernetes, None, None))
        stack.push_async_callback(adapter.close)
        adapters[cluster.name] = adapter
    return adapters


def _snapshot_of(cache: NodeLoadCache) -> Callable[[], LoadSnapshot]:
    return lambda: cache.snapshot


@asynccontextmanager
async def background(
    settings: Settings,
    store: Store,
    registry: CollectorRegistry,
    *,
    refresh: Callable[[], Awaitable[Any]] | None = None,
    clusters: Mapping[str, ClusterPort] | None = None,
    attach: Callable[[Mapping[str, ClusterPort], Mapping[str, Any], TaskRunner], None] | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> AsyncIterator[Background]:
    """The loops, started; stopped (and the lease released) on exit.

    ``attach`` receives the cluster adapters, each cluster's node-load source and the task
    runner, so that the API's live views (api/live.py) share them with the loops."""
    from kubecap.cli.live import live_config
    from kubecap.cli.usage import failure_notifier

    config = settings.background
    async with AsyncExitStack() as stack:
        adapters = dict(clusters) if clusters is not None else _adapters(settings, stack)
        # Only handed-in adapters act on a simulated cluster: a real API never follows a simulated load.
        simulated_loads = wiring.demo_load(settings) if clusters is not None else {}

        def resolve(name: str) -> ClusterPort:
            if name in adapters:
                return adapters[name]
            raise ConfigError(
                f"cluster {name!r} has no Kubernetes API configured for kubecap serve: set clusters[{name}].kubernetes"
            )

        notify = _notifier(settings, await store.notification_channels())
        # One name for this process: the lease's holder, the task runs' runner, the taint actor.
        holder = default_holder()
        runner = TaskRunner(
            store,
            resolve,
            notifier=notify,
            control=wiring.ops_control_table(store),
            clock=clock,
            runner_id=holder,
        )

        async def hpas() -> Any:
            return (
                (await live_config(settings, list(settings.clusters), None)).hpas
                if settings.clusters
                else None
            )

        collection = Collection(
            store,
            list(settings.clusters),
            config.collection.days,
            config.collection.strategy,
            wiring.usage_source,
            clock,
            hpas=hpas,
            refresh_hook=refresh,
            on_failure=failure_notifier(settings, store),
        )
        node_loads = {}
        if config.node_load.enabled or config.taints.enabled:
            for cluster in settings.clusters:
                if cluster.prometheus is not None:
                    node_loads[cluster.name] = await stack.enter_async_context(
                        wiring.node_load_cache(cluster, settings.scheduling, clock=clock)
                    )
        metrics = LoopMetrics(registry)
        backend: LeaseBackend
        if adapters:
            first = next(iter(adapters.values()))
            backend = KubeLease(first, config.leader.namespace, config.leader.name)
        else:
            backend = DbLease(store, config.leader.name, clock)
        leadership = Leadership(
            backend,
            lease_s=config.leader.lease_seconds,
            renew_s=config.leader.renew_seconds,
            clock=clock,
            holder=holder,
            metrics=metrics,
        )
        taints: dict[str, TaintController] = {}
        if config.taints.enabled:
            for name, adapter in adapters.items():
                if name not in node_loads:
                    continue
                taints[name] = wiring.taint_controller(
                    adapter,
                    _snapshot_of(node_loads[name]),
                    settings.scheduling,
                    # One set of taint series per registry: the first controller's are served on /metrics.
                    registry=CollectorRegistry() if taints else registry,
                    holder=holder,
                    clock=clock,
                    audit=store,
                    notifier=notify,
                )
                stack.push_async_callback(taints[name].close)
        parts = plan.Parts(
            collection=collection,
            run_tasks=runner.run_once,
            taints=taints,
            node_loads={name: node_loads[name] for name in node_loads if config.node_load.enabled},
            refresh_summaries=refresh,
            predict_round=(
                lambda: wiring.predict_round(settings, store, adapters, clock=clock, loads=simulated_loads)
            )
            if adapters
            else None,
        )
        if attach is not None:
            attach(adapters, {name: cache.refresh for name, cache in node_loads.items()}, runner)
        service = Background(plan.loops(config, parts), metrics=metrics, clock=clock, leadership=leadership)
        await service.start()
        try:
            yield service
        finally:
            await service.stop()
