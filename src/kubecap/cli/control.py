"""``kubecap control``: fill, change and read the control table and its namespace policies.

Every change prints its diff (``field: before -> after``), is validated before anything is
stored (one sentence for a bad quantity, a request above its limit, negative replicas) and
is audited. ``--dry-run`` prints the diff and stores nothing. Exit codes are app.py's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Any

import typer

from kubecap import wiring
from kubecap.cli.common import ConfigOption, DatabaseOption, OneClusterOption, run
from kubecap.cli.ops import (
    ActorOption,
    ContextOption,
    KubeconfigOption,
    NamespaceOption,
    TargetArgument,
    _actor,
    choose_cluster,
    kube_options,
    parse_target,
)
from kubecap.cluster.kube import KubeCluster
from kubecap.config import load_settings
from kubecap.control.service import ControlService, SpecChange, for_namespace, summary
from kubecap.domain.control import (
    ContainerSpec,
    ControlError,
    ControlSpec,
    Enforcement,
    Failure,
    ReplicasMode,
    Unmanaged,
)
from kubecap.errors import ConfigError

DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Print the diff, store nothing.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the history and the audit trail).")]


class Output(StrEnum):
    table = "table"
    json = "json"


class InitSource(StrEnum):
    collection = "collection"
    cluster = "cluster"


def _cluster(settings: Any, name: str | None) -> str:
    return choose_cluster(settings, name).name


def _user_errors(error: ControlError) -> ConfigError:
    return ConfigError(str(error))


def print_changes(changes: Sequence[SpecChange], *, dry_run: bool) -> None:
    for change in changes:
        typer.echo(change.describe())
        for line in change.lines():
            typer.echo(f"  {line}")
    counts = summary(changes)
    verb = "would be" if dry_run else "were"
    typer.echo(
        f"{counts['new']} new, {counts['changed']} changed, {counts['removed']} removed specs {verb} stored"
        + (" (dry run: nothing stored)" if dry_run else "")
    )


def _spec_json(spec: ControlSpec) -> dict[str, Any]:
    return {"workload": str(spec.ref), **spec.values()}


def _spec_line(spec: ControlSpec) -> str:
    replicas = spec.replicas_mode.value + ("" if spec.replicas is None else f" {spec.replicas}")
    parts = []
    for container in spec.containers:
        values = [
            f"{part}.{name}={'unset' if value is None else value}"
            for part, mapping in (("requests", container.requests), ("limits", container.limits))
            for name, value in sorted(mapping.items())
        ]
        parts.append(f"{container.container}[{' '.join(values)}]")
    return f"{spec.ref}  replicas {replicas}  {' '.join(parts)}  ({spec.source})"


def init_command(
    source: Annotated[
        InitSource, typer.Option("--from", help="The latest collected day, or the live cluster.")
    ] = InitSource.collection,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Only this namespace.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace specs that exist (default: keep them).")] = False,
    dry_run: DryRunOption = False,
    reason: ReasonOption = "initialised the control table",
    actor: ActorOption = None,
    cluster: OneClusterOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Fill the control table with what workloads run with now (replicas, requests, limits).

    From the latest collected day (highest replicas of the day, requests and limits seen), or
    from the live cluster (HPA targets get replicas mode hpa). Existing specs are kept unless
    --overwrite. DaemonSets are skipped: the webhook manages Deployments and StatefulSets.
    """
    settings = load_settings(config, database_url=database_url)
    choice = choose_cluster(settings, cluster)

    async def go() -> list[SpecChange]:
        async with wiring.store(settings) as store:
            service = ControlService(store)
            if source is InitSource.cluster:
                adapter = KubeCluster.connect(
                    kube_options(choice.name, choice.kubernetes, kubeconfig, context)
                )
                try:
                    changes = await service.init_from_cluster(
                        adapter, namespace=namespace, overwrite=overwrite
                    )
                finally:
                    await adapter.close()
            else:
                changes = await service.init_from_collection(
                    choice.name, namespace=namespace, overwrite=overwrite
                )
            return await service.apply(
                changes, action="control.init", actor=_actor(actor), reason=reason, dry_run=dry_run
            )

    try:
        print_changes(run(go()), dry_run=dry_run)
    except ControlError as exc:
        raise _user_errors(exc) from None


def approve_command(
    strategy: Annotated[
        str | None, typer.Option("--strategy", "-s", help="Approve this strategy's recommendations.")
    ] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Only this namespace.")] = None,
    workload: Annotated[
        list[str] | None,
        typer.Option("--workload", "-w", help="Only this workload (deployment/NAME; repeat). Needs -n."),
    ] = None,
    replicas: Annotated[bool, typer.Option(help="Also approve the advised replicas.")] = True,
    dry_run: DryRunOption = False,
    reason: ReasonOption = "approved recommendations",
    actor: ActorOption = None,
    cluster: OneClusterOption = None,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Turn stored recommendations into control specs, printing the diff first.

    Each listed container gets the recommended requests and limits (a limit the strategy
    leaves unset is removed); replicas become mode recommended (or hpa where an HPA scales
    the workload). Recommendations without enough data are skipped and listed.
    """
    settings = load_settings(config, database_url=database_url)
    name = _cluster(settings, cluster)
    if workload and namespace is None:
        raise ConfigError("--workload needs the namespace: add -n NAMESPACE")
    wanted = {parse_target(w, namespace or "", name) for w in workload or []}

    async def go() -> tuple[list[SpecChange], list[str]]:
        async with wiring.store(settings) as store:
            recs = await store.recommendations(cluster=name, strategy=strategy, namespace=namespace)
            if wanted:
                recs = [r for r in recs if r.ref.workload in wanted]
            if not recs:
                where = f" of strategy {strategy!r}" if strategy else ""
                raise ConfigError(
                    f"no stored recommendation{where} matches in cluster {name!r}: run `kubecap recommend` first"
                )
            service = ControlService(store)
            changes, skipped = await service.approve(recs, replicas=replicas)
            applied = await service.apply(
                changes, action="control.approve", actor=_actor(actor), reason=reason, dry_run=dry_run
            )
            return applied, skipped

    try:
        applied, skipped = run(go())
    except ControlError as exc:
        raise _user_errors(exc) from None
    print_changes(applied, dry_run=dry_run)
    for line in skipped:
        typer.echo(f"skipped: {line}", err=True)


def set_command(
    target: TargetArgument,
    namespace: NamespaceOption = "default",
    replicas: Annotated[int | None, typer.Option("--replicas", "-r", help="Replicas to enforce.")] = None,
    replicas_mode: Annotated[
        ReplicasMode | None, typer.Option("--replicas-mode", help="fixed (default with --replicas) or hpa.")
    ] = None,
    container: Annotated[str | None, typer.Option("--container", help="The container to set.")] = None,
    cpu_request: Annotated[str | None, typer.Option(help="e.g. 250m")] = None,
    cpu_limit: Annotated[str | None, typer.Option(help="e.g. 1")] = None,
    memory_request: Annotated[str | None, typer.Option(help="e.g. 256Mi")] = None,
    memory_limit: Annotated[str | None, typer.Option(help="e.g. 512Mi")] = None,
    remove: Annotated[
        list[str] | None,
        typer.Option("--remove", help="Remove this value from the container, e.g. limits.cpu (repeat)."),
    ] = None,
    leave: Annotated[
        list[str] | None,
        typer.Option("--leave", help="Stop managing this value, e.g. requests.memory (repeat)."),
    ] = None,
    dry_run: DryRunOption = False,
    reason: ReasonOption = "",
    actor: ActorOption = None,
    cluster: OneClusterOption = None,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Create or change a workload's control spec: its replicas, and one container's values.

    Values given are merged into the spec; --remove makes the webhook delete a value (no
    CPU limit, say); --leave stops managing it. Containers not in the spec are left alone.
    """
    settings = load_settings(config, database_url=database_url)
    ref = parse_target(target, namespace, _cluster(settings, cluster))
    given = {
        ("requests", "cpu"): cpu_request,
        ("limits", "cpu"): cpu_limit,
        ("requests", "memory"): memory_request,
        ("limits", "memory"): memory_limit,
    }
    changes_container = any(v is not None for v in given.values()) or remove or leave
    if changes_container and container is None:
        raise ConfigError("resource values need the container they belong to: add --container NAME")
    spec_container = None
    if container is not None:
        values: dict[str, dict[str, str | None]] = {"requests": {}, "limits": {}}
        for (part, name), value in given.items():
            if value is not None:
                values[part][name] = value
        for item in remove or []:
            part, name = _value_name(item, "--remove")
            values[part][name] = None
        spec_container = ContainerSpec(container, values["requests"], values["limits"])

    async def go() -> SpecChange:
        async with wiring.store(settings) as store:
            service = ControlService(store)
            return await service.set(
                ref,
                actor=_actor(actor),
                reason=reason,
                replicas=replicas,
                mode=replicas_mode,
                container=spec_container,
                leave=[_value_name(item, "--leave") for item in leave or []],
                dry_run=dry_run,
            )

    try:
        change = run(go())
    except ControlError as exc:
        raise _user_errors(exc) from None
    print_changes([change] if change.changed else [], dry_run=dry_run)


def _value_name(text: str, flag: str) -> tuple[str, str]:
    part, _, name = text.partition(".")
    if part not in ("requests", "limits") or not name:
        raise ConfigError(f"{flag} {text!r} must name requests.RESOURCE or limits.RESOURCE, e.g. limits.cpu")
    return part, name


def unset_command(
    target: TargetArgument,
    namespace: NamespaceOption = "default",
    container: Annotated[
        str | None, typer.Option("--container", help="Only drop this container from the spec.")
    ] = None,
    reason: ReasonOption = "",
    actor: ActorOption = None,
    cluster: OneClusterOption = None,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Remove a workload's control spec (it becomes unmanaged), or one container from it."""
    settings = load_settings(config, database_url=database_url)
    ref = parse_target(target, namespace, _cluster(settings, cluster))

    async def go() -> SpecChange:
        async with wiring.store(settings) as store:
            return await ControlService(store).unset(
                ref, actor=_actor(actor), reason=reason, container=container
            )

    change = run(go())
    typer.echo(change.describe())
    for line in change.lines():
        typer.echo(f"  {line}")


def show_command(
    target: Annotated[
        str | None, typer.Argument(help="One workload (deployment/NAME); default: all.")
    ] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Only this namespace.")] = None,
    output: Annotated[Output, typer.Option("--format", "-f")] = Output.table,
    cluster: OneClusterOption = None,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Show control specs (and the namespace policies)."""
    settings = load_settings(config, database_url=database_url)
    name = _cluster(settings, cluster)

    async def go() -> tuple[list[ControlSpec], list[Any]]:
        async with wiring.store(settings) as store:
            service = ControlService(store)
            if target is not None:
                specs = [await service.spec(parse_target(target, namespace or "default", name))]
            else:
                specs = await service.specs(cluster=name, namespace=namespace)
            return specs, await service.policies(name)

    specs, policies = run(go())
    if output is Output.json:
        document = {
            "specs": [_spec_json(s) for s in specs],
            "policies": [{"namespace": p.namespace, **p.values()} for p in policies],
        }
        typer.echo(json.dumps(document, indent=2))
        return
    for spec in specs:
        typer.echo(_spec_line(spec))
    if not specs:
        typer.echo(
            f"no control specs in cluster {name!r}: see `kubecap control init` and `kubecap control set`"
        )
    for policy in policies:
        typer.echo(
            f"policy {policy.namespace}: enforcement {policy.enforcement.value}, "
            f"unmanaged {policy.unmanaged.value}, failure {policy.failure.value}"
        )


def history_command(
    target: TargetArgument,
    namespace: NamespaceOption = "default",
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    output: Annotated[Output, typer.Option("--format", "-f")] = Output.table,
    cluster: OneClusterOption = None,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Every version of a workload's control spec: who, when, why, and what."""
    settings = load_settings(config, database_url=database_url)
    ref = parse_target(target, namespace, _cluster(settings, cluster))

    async def go() -> list[Any]:
        async with wiring.store(settings) as store:
            return await ControlService(store).history(ref, limit)

    versions = run(go())
    if output is Output.json:
        typer.echo(
            json.dumps(
                [
                    {
                        "version": v.version,
                        "changed_at": v.changed_at.isoformat(),
                        "changed_by": v.changed_by,
                        "reason": v.reason,
                        "spec": v.spec.values() if v.spec else None,
                    }
                    for v in versions
                ],
                indent=2,
            )
        )
        return
    previous: ControlSpec | None = None
    for version in versions:
        why = f" ({version.reason})" if version.reason else ""
        typer.echo(
            f"version {version.version}, {version.changed_at.isoformat()} by {version.changed_by}{why}"
        )
        lines = SpecChange(ref, previous, version.spec).lines() if version.spec else ["removed"]
        for line in lines:
            typer.echo(f"  {line}")
        previous = version.spec


def policy_command(
    namespace: Annotated[
        str | None,
        typer.Argument(help="The namespace, or '*' for the cluster's default; none: list policies."),
    ] = None,
    enforcement: Annotated[Enforcement | None, typer.Option(help="off, warn or enforce.")] = None,
    unmanaged: Annotated[
        Unmanaged | None, typer.Option(help="Workloads without a spec: allow, reject or register.")
    ] = None,
    failure: Annotated[
        Failure | None, typer.Option(help="An internal webhook error: open (admit) or closed (reject).")
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Remove the namespace's policy.")] = False,
    actor: ActorOption = None,
    cluster: OneClusterOption = None,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Show namespace policies, or set one (enforcement, unmanaged workloads, failure mode)."""
    settings = load_settings(config, database_url=database_url)
    name = _cluster(settings, cluster)

    async def go() -> list[str]:
        async with wiring.store(settings) as store:
            service = ControlService(store)
            if namespace is None:
                return [
                    f"{p.namespace}: enforcement {p.enforcement.value}, unmanaged {p.unmanaged.value}, "
                    f"failure {p.failure.value}"
                    for p in await service.policies(name)
                ] or [f"no policies in cluster {name!r}: every namespace is enforce, allow, open"]
            where = for_namespace(namespace)
            if remove:
                removed = await service.remove_policy(name, where, actor=_actor(actor))
                return [f"policy of {where} {'removed' if removed else 'did not exist'}"]
            if enforcement is None and unmanaged is None and failure is None:
                raise ConfigError(
                    "give --enforcement, --unmanaged or --failure to set a policy (or --remove)"
                )
            before, after = await service.set_policy(
                name,
                where,
                actor=_actor(actor),
                enforcement=enforcement,
                unmanaged=unmanaged,
                failure=failure,
            )
            old = before.values() if before else {}
            return [
                f"policy {where}: "
                + ", ".join(
                    f"{k} {old.get(k, '-')} -> {v}" if old.get(k) != v else f"{k} {v}"
                    for k, v in after.values().items()
                )
            ]

    try:
        for line in run(go()):
            typer.echo(line)
    except ControlError as exc:
        raise _user_errors(exc) from None
