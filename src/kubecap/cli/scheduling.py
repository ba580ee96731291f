"""Commands of load-aware scheduling: the extender, node load at a glance, the auto-taint controller.

``kubecap extender`` serves kube-scheduler's extender protocol and refreshes node load in
the background; ``kubecap nodes load`` reads node load once and shows every figure with
its time, which nodes have no data and which series match no node (the first thing to
look at when a node "has no data"); ``kubecap nodes taints`` runs the auto-taint controller
(``--once`` for one round, ``--dry-run`` to change nothing). Each is a small composition
root over wiring; SIGTERM and Ctrl-C stop the loops cleanly (the leader lease is given up).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from kubecap import wiring
from kubecap.cli.common import ConfigOption, DatabaseOption, err, run
from kubecap.cli.ops import choose_cluster, kube_options, notifier
from kubecap.config import Settings, load_settings
from kubecap.errors import ConfigError

ClusterOption = Annotated[str | None, typer.Option("--cluster", help="The cluster (default: the only one).")]
HostOption = Annotated[
    str | None, typer.Option("--host", help="Listen address (default: scheduling.extender.host).")
]
PortOption = Annotated[
    int | None, typer.Option("--port", help="Listen port (default: scheduling.extender.port).")
]


def _now() -> datetime:
    return datetime.now(UTC)


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)


def _holder() -> str:
    # In a pod the host name is the pod's name: what `kubectl get lease` should show.
    return f"{socket.gethostname()}-{os.getpid()}"


def _settings(config: Path | None, **overrides: Any) -> Settings:
    return load_settings(config, **overrides)


def extender_command(
    cluster: ClusterOption = None,
    host: HostOption = None,
    port: PortOption = None,
    config: ConfigOption = None,
) -> None:
    """Serve the kube-scheduler extender (filter, prioritize, /metrics, /nodes) until stopped."""
    from prometheus_client import CollectorRegistry

    from kubecap.scheduling.metrics import NodeLoadMetrics
    from kubecap.scheduling.server import serving

    settings = _settings(config)
    chosen = wiring.prometheus_cluster(settings, cluster)
    scheduling = settings.scheduling
    listen_host = host or scheduling.extender.host
    listen_port = scheduling.extender.port if port is None else port

    async def go() -> None:
        registry = CollectorRegistry()
        holder: dict[str, Any] = {}
        load_metrics = NodeLoadMetrics(registry, lambda: holder["cache"].snapshot)
        async with wiring.node_load_cache(chosen, scheduling, on_step=load_metrics.step) as cache:
            holder["cache"] = cache
            extender = wiring.extender(
                lambda: cache.snapshot, scheduling, clock=_now, learn=cache.learn, registry=registry
            )
            stop = asyncio.Event()
            _stop_on_signals(stop)
            async with serving(extender.app, listen_host, listen_port) as server:
                err.print(f"kubecap extender for cluster {chosen.name!r} listening on {server.url}")
                refresh = asyncio.create_task(cache.run(stop))
                await stop.wait()
                # A refresh may be waiting on Prometheus: nothing it holds needs finishing.
                refresh.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refresh

    run(go())


def _figure(value: Any) -> str:
    if value is None:
        return "-"
    mark = "" if value["fresh"] else " (stale)"
    return f"{value['value']:.2f}{mark}"


def node_load_command(
    cluster: ClusterOption = None,
    output: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    config: ConfigOption = None,
) -> None:
    """Read node load once: every figure with its time, nodes without data, series without a node."""
    from kubecap.scheduling.extender import snapshot_document

    if output not in ("table", "json"):
        raise ConfigError(f"--format {output!r} is not known: use table or json")
    settings = _settings(config)
    chosen = wiring.prometheus_cluster(settings, cluster)

    async def go() -> dict[str, Any]:
        async with wiring.node_load_cache(chosen, settings.scheduling) as cache:
            snapshot = await cache.refresh(force=True)
            return snapshot_document(snapshot, _now())

    document = run(go())
    if output == "json":
        typer.echo(json.dumps(document, indent=2, sort_keys=True))
    else:
        columns = (
            "cpu_avg_5m",
            "cpu_max_1h",
            "cpu_max_1d",
            "memory_avg_5m",
            "memory_max_1h",
            "memory_max_1d",
        )
        typer.echo(f"{'node':40} " + " ".join(f"{c:>16}" for c in columns) + f" {'cores':>6} {'binds':>5}")
        for name, entry in document["nodes"].items():
            cores = entry["cpu_cores"]
            typer.echo(
                f"{name:40} "
                + " ".join(f"{_figure(entry[c]):>16}" for c in columns)
                + f" {cores if cores is not None else '-':>6} {len(entry['recent_bindings']):>5}"
            )
        if document["without_data"]:
            typer.echo(f"nodes without data: {', '.join(document['without_data'])}")
        if document["unmatched_series"]:
            typer.echo(
                "series that match no node (check instance / node labels and kube_node_info): "
                + ", ".join(document["unmatched_series"])
            )
    if document["problems"]:
        for problem in document["problems"]:
            err.print(f"[red]problem:[/red] {problem}", highlight=False)
        raise typer.Exit(2)


def taints_command(
    cluster: ClusterOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Decide and report; change no node.")] = False,
    once: Annotated[bool, typer.Option("--once", help="Run one round and print what it did.")] = False,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve /metrics on this port (0: any free one).")
    ] = None,
    kubeconfig: Annotated[Path | None, typer.Option("--kubeconfig", help="Kubeconfig file.")] = None,
    context: Annotated[str | None, typer.Option("--context", help="Kubeconfig context.")] = None,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Run the auto-taint controller (leader-only, audited, notified) until stopped."""
    from prometheus_client import CollectorRegistry

    from kubecap.cluster.kube import KubeCluster
    from kubecap.scheduling.extender import create_metrics_app
    from kubecap.scheduling.metrics import NodeLoadMetrics
    from kubecap.scheduling.server import serving

    settings = _settings(config, database_url=database_url)
    chosen = wiring.prometheus_cluster(settings, cluster)
    scheduling = settings.scheduling
    if dry_run:
        scheduling = scheduling.model_copy(
            update={"taints": scheduling.taints.model_copy(update={"dry_run": True})}
        )
    choice = choose_cluster(settings, chosen.name)

    async def go() -> int:
        registry = CollectorRegistry()
        holder: dict[str, Any] = {}
        load_metrics = NodeLoadMetrics(registry, lambda: holder["cache"].snapshot)
        async with (
            wiring.store(settings) as store,
            wiring.node_load_cache(chosen, scheduling, on_step=load_metrics.step) as cache,
        ):
            holder["cache"] = cache
            port = KubeCluster.connect(kube_options(choice.name, choice.kubernetes, kubeconfig, context))
            try:
                controller = wiring.taint_controller(
                    port,
                    lambda: cache.snapshot,
                    scheduling,
                    registry=registry,
                    holder=_holder(),
                    clock=_now,
                    audit=store,
                    notifier=notifier(settings, await store.notification_channels()),
                )
                if once:
                    await cache.refresh(force=True)
                    report = await controller.run_once()
                    await controller.close()
                    return _print_round(report, scheduling.taints.dry_run)
                stop = asyncio.Event()
                _stop_on_signals(stop)
                refresh = asyncio.create_task(cache.run(stop))
                try:
                    if metrics_port is not None:
                        metrics_app = create_metrics_app(registry)
                        async with serving(metrics_app, scheduling.extender.host, metrics_port) as server:
                            err.print(f"metrics on {server.url}/metrics")
                            await controller.run(stop)  # ends its round, then gives the lease up
                    else:
                        await controller.run(stop)
                finally:
                    refresh.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await refresh
            finally:
                await port.close()
        return 0

    code = run(go())
    if code:
        raise typer.Exit(code)


def _print_round(report: Any, dry_run: bool) -> int:
    if not report.leader:
        typer.echo("not the leader: another replica holds the lease; nothing done")
        return 0 if not report.failures else 2
    plan = report.plan
    prefix = "would " if dry_run else ""
    for change, result, message in report.applied:
        typer.echo(f"{prefix}{change.action.value} {change.node}: {message} ({result.value})")
    if plan is not None:
        for node, reason in plan.deferred:
            typer.echo(f"deferred {node}: {reason}")
        if not plan.changes and not plan.deferred:
            typer.echo("no change")
    for step, message in report.failures.items():
        err.print(f"[red]step {step} failed:[/red] {message}", highlight=False)
    return 2 if report.failures or any(r.value == "failed" for _, r, _ in report.applied) else 0
