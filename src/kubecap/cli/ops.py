"""Commands that act on clusters: scale, restart, tasks, audit, notify.

Each command builds the store and the cluster adapter, hands them to the ops service and
prints one line per result. Exit codes are those of app.py; an operation run now that fails
exits 2 with the run's sentence (the run and its audit event are recorded all the same).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from kubecap import wiring
from kubecap.cli.common import ConfigOption, DatabaseOption, OneClusterOption, ReportFormat, err, run
from kubecap.cluster.kube import KubeCluster, KubeOptions
from kubecap.cluster.port import ClusterPort
from kubecap.config import ClusterSettings, KubernetesSettings, Settings, load_settings
from kubecap.domain.audit import AuditFilter, AuditResult
from kubecap.domain.notifications import Channel, EventKind, Notification
from kubecap.domain.resources import ContainerResources, ResourcesError
from kubecap.domain.schedule import parse_at
from kubecap.domain.tasks import Operation, OperationSpec, RunState, Task, TaskError, TaskRun, TaskState
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.errors import ConfigError
from kubecap.ops.notify import Notifier, check_channel
from kubecap.ops.runner import RunnerOptions, TaskRunner
from kubecap.ops.service import TaskService

T = TypeVar("T")
_KIND_ALIASES = {
    "deployment": WorkloadKind.DEPLOYMENT,
    "deployments": WorkloadKind.DEPLOYMENT,
    "deploy": WorkloadKind.DEPLOYMENT,
    "statefulset": WorkloadKind.STATEFULSET,
    "statefulsets": WorkloadKind.STATEFULSET,
    "sts": WorkloadKind.STATEFULSET,
    "daemonset": WorkloadKind.DAEMONSET,
    "daemonsets": WorkloadKind.DAEMONSET,
    "ds": WorkloadKind.DAEMONSET,
}

TargetArgument = Annotated[
    str,
    typer.Argument(
        help="The workload: deployment/NAME, statefulset/NAME (sts/), daemonset/NAME (ds/) or NAME."
    ),
]
NamespaceOption = Annotated[str, typer.Option("--namespace", "-n", help="The workload's namespace.")]
KubeconfigOption = Annotated[
    Path | None,
    typer.Option("--kubeconfig", help="Kubeconfig for a cluster without settings.", show_default=False),
]
ContextOption = Annotated[
    str | None, typer.Option("--context", help="Kubeconfig context.", show_default=False)
]
AtOption = Annotated[
    str | None, typer.Option("--at", help="Run once at 'YYYY-MM-DD HH:MM' (in --timezone) or an ISO time.")
]
CronOption = Annotated[
    str | None, typer.Option("--cron", help="Run on this cron expression, e.g. '0 22 * * *'.")
]
TimezoneOption = Annotated[
    str, typer.Option("--timezone", "--tz", help="IANA time zone of --at, --until and --cron.")
]
GraceOption = Annotated[
    int,
    typer.Option(
        "--grace", min=0, max=86_400, help="Seconds a run may start late; later runs are recorded missed."
    ),
]
ActorOption = Annotated[str | None, typer.Option("--actor", help="Who is acting (default: the OS user).")]


def parse_target(text: str, namespace: str, cluster: str) -> WorkloadRef:
    """``kind/name`` or ``name`` (a Deployment) as a WorkloadRef, or a ConfigError."""
    kind_text, _, name = text.rpartition("/")
    kind = _KIND_ALIASES.get(kind_text.lower()) if kind_text else WorkloadKind.DEPLOYMENT
    if kind is None or not name or "/" in kind_text:
        raise ConfigError(
            f"invalid workload {text!r}: write deployment/NAME, statefulset/NAME, daemonset/NAME or NAME, "
            "and the namespace with -n"
        )
    return WorkloadRef(cluster, namespace, kind, name)


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"


def _user_errors(call: Callable[[], T]) -> T:
    try:
        return call()
    except (TaskError, ResourcesError) as exc:
        raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class ClusterChoice:
    name: str
    kubernetes: KubernetesSettings | None


def choose_cluster(settings: Settings, name: str | None) -> ClusterChoice:
    configured: list[ClusterSettings] = list(settings.clusters)
    if name is not None:
        found = next((c for c in configured if c.name == name), None)
        return ClusterChoice(name, found.kubernetes if found else None)
    if len(configured) == 1:
        return ClusterChoice(configured[0].name, configured[0].kubernetes)
    if configured:
        names = ", ".join(c.name for c in configured)
        raise ConfigError(f"several clusters are configured ({names}): choose one with --cluster")
    return ClusterChoice("default", None)


def kube_options(
    name: str, kubernetes: KubernetesSettings | None, kubeconfig: Path | None, context: str | None
) -> KubeOptions:
    """Flags win over the cluster's settings; with neither, the default kubeconfig is used."""
    base = kubernetes or KubernetesSettings()
    return KubeOptions(
        cluster=name,
        kubeconfig=kubeconfig or base.kubeconfig,
        context=context or base.context,
        in_cluster=base.in_cluster and kubeconfig is None,
        qps=base.qps,
        burst=base.burst,
        timeout_s=base.timeout_seconds,
        retries=base.retries,
    )


def notifier(settings: Settings, extra: list[Channel]) -> Notifier:
    config = settings.notifications
    channels = [
        Channel(
            name=c.name,
            urls=tuple(u.get_secret_value() for u in c.urls),
            clusters=frozenset(c.clusters),
            events=frozenset(EventKind(e) for e in c.events),
        )
        for c in config.channels
    ]
    named = {c.name for c in channels}
    channels += [c for c in extra if c.name not in named]
    return Notifier(
        [check_channel(c) for c in channels],
        base_url=config.base_url,
        attempts=config.attempts,
        backoff_s=config.backoff_seconds,
    )


@asynccontextmanager
async def _context(
    settings: Settings, cluster: str | None, kubeconfig: Path | None, context: str | None
) -> AsyncIterator[tuple[Any, ClusterPort, Notifier]]:
    choice = choose_cluster(settings, cluster)
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(wiring.store(settings))
        adapter = KubeCluster.connect(kube_options(choice.name, choice.kubernetes, kubeconfig, context))
        stack.push_async_callback(adapter.close)
        yield store, adapter, notifier(settings, await store.notification_channels())


def _print_task(task: Task) -> None:
    next_run = task.next_run_at.isoformat() if task.next_run_at else "-"
    typer.echo(
        f"task {task.id}: {task.spec.describe()}, {task.schedule.describe()}; {task.state.value}; next run {next_run}"
    )


def _print_runs(runs: list[TaskRun]) -> bool:
    failed = False
    for item in runs:
        typer.echo(f"run {item.id} of task {item.task_id}: {item.state.value}: {item.message}")
        failed = failed or item.state in (RunState.FAILED, RunState.RETRY, RunState.MISSED)
    return failed


def _submit(
    spec_of: Callable[[str], OperationSpec],
    *,
    at: str | None,
    cron: str | None,
    timezone: str,
    grace: int,
    actor: str | None,
    cluster: str | None,
    kubeconfig: Path | None,
    context: str | None,
    config: Path | None,
    database_url: str | None,
    until: str | None = None,
) -> None:
    settings = load_settings(config, database_url=database_url)
    now = datetime.now(UTC)

    async def go() -> bool:
        async with _context(settings, cluster, kubeconfig, context) as (store, adapter, notify):
            spec = spec_of(adapter.name)
            when = _user_errors(lambda: parse_at(at, timezone, now)) if at else None
            if until:
                revert = _user_errors(lambda: parse_at(until, timezone, now))
                spec = OperationSpec(spec.operation, spec.target, spec.replicas, spec.resources, revert)
            control = wiring.ops_control_table(store)
            service = TaskService(store, control=control)
            try:
                task = await service.submit(
                    spec,
                    actor=_actor(actor),
                    at=when,
                    cron=cron,
                    timezone=timezone,
                    grace=timedelta(seconds=grace),
                    cluster=adapter,
                )
            except (TaskError, ResourcesError) as exc:
                raise ConfigError(str(exc)) from None
            if at or cron:
                _print_task(task)
                return False
            runner = TaskRunner(store, lambda _name: adapter, notifier=notify, control=control)
            return _print_runs(await runner.run_task(task.id))

    if run(go()):
        raise typer.Exit(2)


def scale_command(
    target: TargetArgument,
    replicas: Annotated[int, typer.Option("--replicas", "-r", help="Replica count.")],
    namespace: NamespaceOption = "default",
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Temporary: set the kubecap.io/temporary-replicas annotation (the webhook honours it) until "
            "this time, then go back to the control table's replicas (unmanaged: the replicas before).",
        ),
    ] = None,
    at: AtOption = None,
    cron: CronOption = None,
    timezone: TimezoneOption = "UTC",
    grace: GraceOption = 900,
    actor: ActorOption = None,
    cluster: OneClusterOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Scale a Deployment or StatefulSet now, at a time, or on a cron schedule.

    A managed workload (one in the control table) gets a new spec version with these replicas,
    then is scaled live; an unmanaged one is scaled live only. --until makes it temporary.
    """
    _submit(
        lambda name: OperationSpec(Operation.SCALE, parse_target(target, namespace, name), replicas=replicas),
        at=at, cron=cron, timezone=timezone, grace=grace, actor=actor, cluster=cluster,
        kubeconfig=kubeconfig, context=context, config=config, database_url=database_url, until=until,
    )  # fmt: skip


def restart_command(
    target: TargetArgument,
    namespace: NamespaceOption = "default",
    at: AtOption = None,
    cron: CronOption = None,
    timezone: TimezoneOption = "UTC",
    grace: GraceOption = 900,
    actor: ActorOption = None,
    cluster: OneClusterOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Rollout-restart a workload now, at a time, or on a cron schedule."""
    _submit(
        lambda name: OperationSpec(Operation.RESTART, parse_target(target, namespace, name)),
        at=at, cron=cron, timezone=timezone, grace=grace, actor=actor, cluster=cluster,
        kubeconfig=kubeconfig, context=context, config=config, database_url=database_url,
    )  # fmt: skip


def tasks_add_command(
    operation: Annotated[Operation, typer.Argument(help="scale, restart or apply.")],
    target: TargetArgument,
    namespace: NamespaceOption = "default",
    replicas: Annotated[int | None, typer.Option("--replicas", "-r", help="For scale.")] = None,
    container: Annotated[str | None, typer.Option(help="For apply: the container to set.")] = None,
    cpu_request: Annotated[str | None, typer.Option(help="For apply, e.g. 250m.")] = None,
    cpu_limit: Annotated[str | None, typer.Option(help="For apply.")] = None,
    memory_request: Annotated[str | None, typer.Option(help="For apply, e.g. 256Mi.")] = None,
    memory_limit: Annotated[str | None, typer.Option(help="For apply.")] = None,
    source: Annotated[
        str,
        typer.Option(
            help="For apply: where the values come from, e.g. recommendation:vpa (the control spec's source "
            "when the workload is managed)."
        ),
    ] = "",
    at: AtOption = None,
    cron: CronOption = None,
    timezone: TimezoneOption = "UTC",
    grace: GraceOption = 900,
    actor: ActorOption = None,
    cluster: OneClusterOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Add a task (runs now when neither --at nor --cron is given).

    On a managed workload (one in the control table) scale and apply change its control spec
    first (a new version), then the live workload; on an unmanaged one, the live workload only.
    """

    def spec(name: str) -> OperationSpec:
        resources: tuple[ContainerResources, ...] = ()
        if container is not None:
            requests = {k: v for k, v in (("cpu", cpu_request), ("memory", memory_request)) if v}
            limits = {k: v for k, v in (("cpu", cpu_limit), ("memory", memory_limit)) if v}
            resources = (ContainerResources(container, requests, limits),)
        elif operation is Operation.APPLY:
            raise ConfigError(
                "apply needs --container and at least one of --cpu-request, --memory-request, …"
            )
        return OperationSpec(
            operation,
            parse_target(target, namespace, name),
            replicas=replicas,
            resources=resources,
            source=source,
        )

    _submit(
        spec, at=at, cron=cron, timezone=timezone, grace=grace, actor=actor, cluster=cluster,
        kubeconfig=kubeconfig, context=context, config=config, database_url=database_url,
    )  # fmt: skip


def tasks_list_command(
    state: Annotated[TaskState | None, typer.Option(help="Only tasks in this state.")] = None,
    cluster: Annotated[str | None, typer.Option(help="Only this cluster.")] = None,
    output: Annotated[ReportFormat, typer.Option("--format", "-f")] = ReportFormat.table,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """List tasks with their state, next run and last result."""
    settings = load_settings(config, database_url=database_url)

    async def go() -> list[Task]:
        async with wiring.store(settings) as store:
            return await TaskService(store).tasks(state=state, cluster=cluster)

    rows = [
        {
            "id": t.id,
            "operation": t.spec.describe(),
            "schedule": t.schedule.describe(),
            "state": t.state.value,
            "next_run": t.next_run_at.isoformat() if t.next_run_at else "",
            "last_result": f"{t.last_run.state.value}: {t.last_run.message}" if t.last_run else "",
            "created_by": t.created_by,
        }
        for t in run(go())
    ]
    _write(rows, output)


def _change(action: str) -> Callable[..., None]:
    def command(
        task_id: Annotated[int, typer.Argument(help="The task id (see `kubecap tasks list`).")],
        actor: ActorOption = None,
        config: ConfigOption = None,
        database_url: DatabaseOption = None,
    ) -> None:
        settings = load_settings(config, database_url=database_url)

        async def go() -> Task:
            async with wiring.store(settings) as store:
                service = TaskService(store)
                method = {"cancel": service.cancel, "pause": service.pause, "resume": service.resume}[action]
                return await method(task_id, actor=_actor(actor))

        _print_task(run(go()))

    command.__doc__ = {
        "cancel": "Cancel a task: it never runs again.",
        "pause": "Pause a task: its fire times are skipped until it is resumed.",
        "resume": "Resume a paused task from its next fire time.",
    }[action]
    return command


tasks_cancel_command = _change("cancel")
tasks_pause_command = _change("pause")
tasks_resume_command = _change("resume")


def tasks_history_command(
    task_id: Annotated[int, typer.Argument(help="The task id.")],
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    output: Annotated[ReportFormat, typer.Option("--format", "-f")] = ReportFormat.table,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """The runs of a task, newest first."""
    settings = load_settings(config, database_url=database_url)

    async def go() -> tuple[Task, list[TaskRun]]:
        async with wiring.store(settings) as store:
            history = await TaskService(store).history(task_id, limit)
            return history.task, history.runs

    task, runs = run(go())
    _print_task(task)
    _write(
        [
            {
                "run": r.id,
                "scheduled_for": r.scheduled_for.isoformat(),
                "state": r.state.value,
                "attempt": r.attempt,
                "runner": r.runner,
                "finished_at": r.finished_at.isoformat() if r.finished_at else "",
                "message": r.message,
            }
            for r in runs
        ],
        output,
    )


def tasks_run_command(
    once: Annotated[bool, typer.Option(help="One pass over due tasks, then exit.")] = False,
    interval: Annotated[float, typer.Option(min=1, max=3600, help="Seconds between passes.")] = 15,
    cluster: OneClusterOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Run due tasks (a runner; several may run at once: each run happens exactly once)."""
    import asyncio
    import signal

    settings = load_settings(config, database_url=database_url)

    async def go() -> None:
        async with _context(settings, cluster, kubeconfig, context) as (store, adapter, notify):
            runner = TaskRunner(
                store,
                lambda _name: adapter,
                notifier=notify,
                control=wiring.ops_control_table(store),
                options=RunnerOptions(),
            )
            if once:
                _print_runs(await runner.run_once())
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            err.print(f"runner {runner.runner_id} started; Ctrl-C stops it")
            await runner.serve(stop, interval)

    run(go())


class AuditFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def audit_command(
    since: Annotated[
        str | None, typer.Option(help="From this ISO time or date (UTC unless an offset is given).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Before this ISO time or date.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this actor.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. scale, restart, notify.")] = None,
    target: Annotated[str | None, typer.Option(help="Only targets containing this text.")] = None,
    cluster: Annotated[str | None, typer.Option(help="Only this cluster.")] = None,
    result: Annotated[AuditResult | None, typer.Option(help="Only this result.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1_000_000, help="At most this many, the newest.")] = 1000,
    output: Annotated[
        AuditFormat, typer.Option("--format", "-f", help="table, json or csv (export).")
    ] = AuditFormat.table,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Show or export the audit trail (every change kubecap made, and notification deliveries)."""
    settings = load_settings(config, database_url=database_url)
    where = AuditFilter(
        since=_instant(since, "--since"),
        until=_instant(until, "--until"),
        actor=actor,
        action=action,
        cluster=cluster,
        target=target,
        result=result,
        limit=limit,
    )

    async def go() -> list[dict[str, Any]]:
        async with wiring.store(settings) as store:
            return [e.to_dict() for e in await store.audit_events(where)]

    rows = run(go())
    if output is AuditFormat.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    flat = [{**r, "before": json.dumps(r["before"]), "after": json.dumps(r["after"])} for r in rows]
    _write(flat, ReportFormat(output.value))


def _instant(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{option} {text!r} is not an ISO date or time: write e.g. 2026-11-30 or 2026-11-30T22:00"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def notify_test_command(
    channel: Annotated[str | None, typer.Option(help="Only this channel.")] = None,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Send a test message to every notification channel (or one) and report each delivery."""
    settings = load_settings(config, database_url=database_url)

    async def go() -> bool:
        async with wiring.store(settings) as store:
            sender = notifier(settings, await store.notification_channels())
            chosen = [c for c in sender.channels if channel is None or c.name == channel]
            if not chosen:
                known = ", ".join(c.name for c in sender.channels) or "none"
                wanted = f"named {channel!r}" if channel else "is configured"
                raise ConfigError(
                    f"no notification channel {wanted} (known: {known}): "
                    "add one under notifications.channels in the config"
                )
            only = Notifier(
                chosen,
                base_url=settings.notifications.base_url,
                attempts=settings.notifications.attempts,
                backoff_s=settings.notifications.backoff_seconds,
            )
            note = Notification(EventKind.TEST, "", "test message", "kubecap can reach this channel.")
            deliveries = await only.notify(note)
            for delivery in deliveries:
                if delivery.ok:
                    typer.echo(f"channel {delivery.channel}: delivered")
                else:
                    err.print(
                        f"channel {delivery.channel}: not delivered after {delivery.attempts} attempts: {delivery.reason}"
                    )
            return all(d.ok for d in deliveries)

    if not run(go()):
        raise typer.Exit(2)


def _write(rows: list[dict[str, Any]], output: ReportFormat) -> None:
    if output is ReportFormat.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    if output is ReportFormat.csv:
        if rows:
            writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return
    if not rows:
        err.print("nothing to show")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*rows[0].keys())
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    Console().print(table)
