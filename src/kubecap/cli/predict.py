"""``kubecap predict``: opt workloads in and out of predictive replicas, show their policies, run one round.

``set`` validates the whole policy before storing it (one sentence for a bad bound, cron or
time zone) and audits it; ``run --once`` forecasts every opted-in workload of the cluster,
sets replicas ahead of the forecast peak (or only records that it would, for policies in
preview) and prints one line per workload. Exit codes are app.py's.
"""

from __future__ import annotations

import json
import re
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
from kubecap.errors import ConfigError
from kubecap.predict import Mode, Policy, PolicyService, Signal, parse_cron_window
from kubecap.predict.controller import Round
from kubecap.predict.service import PolicyView

JsonOption = Annotated[bool, typer.Option("--json", help="One JSON document instead of lines.")]
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str, flag: str) -> int:
    """Seconds from '90s', '30m', '1h30m' or a bare number of seconds."""
    stripped = text.strip()
    if stripped.isdigit():
        return int(stripped)
    match = _DURATION.match(stripped)
    if not stripped or match is None:
        raise ConfigError(f"{flag} {text!r} is not a duration: write e.g. 30m, 1h or 1h30m")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def set_command(
    target: TargetArgument,
    per_replica: Annotated[
        float,
        typer.Option(
            "--target", help="Load one replica carries: CPU cores, or the PromQL expression's unit."
        ),
    ],
    namespace: NamespaceOption = "default",
    min_replicas: Annotated[int, typer.Option("--min", help="Fewest replicas.")] = 1,
    max_replicas: Annotated[int, typer.Option("--max", help="Most replicas.")] = 10,
    max_step: Annotated[
        int, typer.Option("--max-step", help="Most replicas added or removed per round.")
    ] = 5,
    lead: Annotated[str, typer.Option("--lead", help="How far ahead of the forecast load to scale.")] = "30m",
    mode: Annotated[
        Mode,
        typer.Option(
            "--mode", help="control-table (the webhook enforces) or hpa-min (raise the HPA's floor)."
        ),
    ] = Mode.CONTROL_TABLE,
    signal: Annotated[Signal, typer.Option("--signal", help="cpu (from cAdvisor) or promql.")] = Signal.CPU,
    promql: Annotated[str, typer.Option("--promql", help="The load expression, with --signal promql.")] = "",
    hpa: Annotated[
        str, typer.Option("--hpa", help="The HPA for hpa-min (default: the one targeting it).")
    ] = "",
    max_error: Annotated[
        float, typer.Option("--max-error", help="Backtest error above which it reacts instead (0.5 = 50%).")
    ] = 0.5,
    cron: Annotated[
        list[str] | None,
        typer.Option(
            "--cron",
            help="At least N replicas from START to END, as 'START..END=N' or 'START..END=N@TZ' (cron fields; repeat).",
        ),
    ] = None,
    preview: Annotated[bool, typer.Option("--preview/--act", help="Only record what it would do.")] = False,
    actor: ActorOption = None,
    cluster: OneClusterOption = None,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Opt a workload in to predictive replicas (or change its policy)."""
    settings = load_settings(config, database_url=database_url)
    ref = parse_target(target, namespace, choose_cluster(settings, cluster).name)
    policy = Policy(
        ref,
        target=per_replica,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        max_step=max_step,
        lead_seconds=parse_duration(lead, "--lead"),
        mode=mode,
        signal=signal,
        promql=promql,
        hpa=hpa,
        max_error=max_error,
        crons=tuple(parse_cron_window(c) for c in cron or []),
        preview=preview,
    ).validate()

    async def go() -> PolicyView | None:
        async with wiring.store(settings) as store:
            return await PolicyService(store).set(policy, actor=_actor(actor))

    before = run(go())
    typer.echo(f"{'changed' if before else 'opted in'}: {describe(policy)}")


def unset_command(
    target: TargetArgument,
    namespace: NamespaceOption = "default",
    actor: ActorOption = None,
    cluster: OneClusterOption = None,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Opt a workload out (its replicas and any HPA minimum stay as they are)."""
    settings = load_settings(config, database_url=database_url)
    ref = parse_target(target, namespace, choose_cluster(settings, cluster).name)

    async def go() -> None:
        async with wiring.store(settings) as store:
            await PolicyService(store).unset(ref, actor=_actor(actor))

    run(go())
    typer.echo(f"opted out: {ref}")


def describe(policy: Policy) -> str:
    load = "cpu" if policy.signal is Signal.CPU else f"promql {policy.promql!r}"
    crons = "".join(f", cron {c}" for c in policy.crons)
    return (
        f"{policy.ref}  {policy.mode.value}  {load} / {policy.target:g} per replica  "
        f"{policy.min_replicas}..{policy.max_replicas} step {policy.max_step}  lead {policy.lead_seconds // 60}m  "
        f"max error {policy.max_error:.0%}{crons}{'  PREVIEW' if policy.preview else ''}"
    )


def show_command(
    cluster: Annotated[
        str | None, typer.Option("--cluster", help="Only this cluster (default: all).")
    ] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """The opted-in workloads, their policies and their last decision."""
    settings = load_settings(config, database_url=database_url)

    async def go() -> list[PolicyView]:
        async with wiring.store(settings) as store:
            return await PolicyService(store).policies(cluster=cluster)

    views = run(go())
    if as_json:
        document = [{"workload": str(v.policy.ref), **v.policy.to_json(), "state": v.state} for v in views]
        typer.echo(json.dumps(document, indent=2))
        return
    for view in views:
        typer.echo(describe(view.policy))
        last = view.state.get("last")
        if last:
            typer.echo(
                f"  last round {view.state.get('at')}: {last['current']} -> {last['replicas']}: {last['reason']}"
            )
        if view.state.get("error"):
            typer.echo(f"  last round failed: {view.state['error']}")
    if not views:
        typer.echo("no workload has opted in: see `kubecap predict set --help`")


def _round_json(report: Round) -> dict[str, Any]:
    return {
        "at": report.at.isoformat(),
        "timings": {k: round(v, 4) for k, v in report.timings.items()},
        "workloads": [
            {
                "workload": str(o.ref),
                "applied": o.applied,
                "preview": o.preview,
                "error": o.error,
                "decision": None if o.decision is None else o.decision.to_json(),
            }
            for o in report.outcomes
        ],
    }


def run_command(
    once: Annotated[
        bool, typer.Option("--once", help="Run one round and exit (the loop runs in serve).")
    ] = False,
    as_json: JsonOption = False,
    cluster: OneClusterOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """One round: forecast every opted-in workload of the cluster and set replicas ahead of the peak."""
    if not once:
        raise ConfigError("only one round runs from the command line: pass --once (serve runs the loop)")
    settings = load_settings(config, database_url=database_url)
    choice = choose_cluster(settings, cluster)

    async def go() -> Round:
        async with (
            wiring.store(settings) as store,
            KubeCluster.connect(kube_options(choice.name, choice.kubernetes, kubeconfig, context)) as port,
        ):
            return await wiring.predict_round(settings, store, {choice.name: port}, only=choice.name)

    report = run(go())
    if as_json:
        typer.echo(json.dumps(_round_json(report), indent=2))
    else:
        for o in report.outcomes:
            if o.decision is None:
                typer.echo(f"{o.ref}: failed: {o.error}")
                continue
            d = o.decision
            verb = "would set" if o.preview else ("set" if o.applied else "kept")
            typer.echo(f"{o.ref}: {verb} {d.current} -> {d.replicas} ({d.basis.value}): {d.reason}")
        if not report.outcomes:
            typer.echo(f"no workload of cluster {choice.name!r} has opted in")
    if any(o.error for o in report.outcomes):
        raise typer.Exit(2)
