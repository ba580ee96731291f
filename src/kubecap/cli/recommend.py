"""``kubecap recommend`` (requests, limits, replicas per container) and ``kubecap idle-nodes``.

The strategy and engine settings are pydantic models (kubecap.recommend.settings and each
strategy module); their fields become the command's flags here, generated once, so a
setting is declared in one place only. A flag shared by several strategies (``--days``)
shows each one's default; a flag of another strategy than the chosen one is refused.

Exit codes: 0 recommendations printed (some may say "not enough data"); 2 bad input or an
unreachable store or Prometheus (one sentence on stderr); 3 no workload matches the
filters; 1 a bug.
"""

from __future__ import annotations

import inspect
import sys
import tempfile
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import typer
from pydantic.fields import FieldInfo
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from kubecap import wiring
from kubecap.cli.common import ClusterOption, ConfigOption, DatabaseOption, err, run
from kubecap.cli.live import LiveConfig, live_config, parse_selector
from kubecap.cli.usage import collect_clusters, print_collection
from kubecap.config import Settings as KubecapSettings
from kubecap.config import load_settings
from kubecap.domain.hpa import HpaInfo
from kubecap.domain.labels import LabelSelector
from kubecap.domain.quantity import format_cpu
from kubecap.domain.recommendation import Recommendation, Status
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.errors import ConfigError
from kubecap.recommend.formatters import FORMATTERS, NODE_FORMATTERS, Options
from kubecap.recommend.idle_nodes import IdleNode, IdleNodeSettings
from kubecap.recommend.service import Job, Selection, idle_nodes_from_store, recommend_from_store
from kubecap.recommend.settings import EngineSettings, Settings, parse_settings
from kubecap.recommend.steps import format_memory
from kubecap.recommend.strategies.registry import Registry, default_registry

STRATEGY_PANEL = "Strategy settings (default: the chosen strategy's own)"
NODE_PANEL = "Thresholds and prices"
ENGINE_PANEL = "Guardrails, replicas and prices"


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"
    csv = "csv"
    html = "html"
    patch = "patch"


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


@dataclass(frozen=True)
class GeneratedFlag:
    """One flag generated from a settings field, and which models declare that field."""

    field: str
    owners: tuple[str, ...]
    parameter: inspect.Parameter


def _option_type(info: FieldInfo) -> Any:
    """The Python type a flag parses into; pydantic validates the value afterwards."""
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    annotation = info.annotation
    if "quantity" in extra or get_origin(annotation) is Literal:
        return str
    args: list[Any] = (
        [a for a in get_args(annotation) if a is not type(None)]
        if isinstance(annotation, types.UnionType)
        else []
    )
    base = args[0] if len(args) == 1 else annotation
    if base in (int, float, bool, str):
        return base
    raise TypeError(f"no flag type for settings field of type {annotation!r}")


def _describe(info: FieldInfo) -> str:
    text = info.description or ""
    if get_origin(info.annotation) is Literal:
        text += f" ({' or '.join(str(a) for a in get_args(info.annotation))})"
    return text


def _default_text(value: Any, info: FieldInfo) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if value is None:
        return "none"
    if extra.get("quantity") == "cpu":
        return format_cpu(float(value))
    if extra.get("quantity") == "memory":
        return format_memory(float(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def generated_flags(registry: Registry) -> list[GeneratedFlag]:
    """Flags for every field of every strategy's settings, then of the engine's settings."""
    by_field: dict[str, list[tuple[str, FieldInfo, Any]]] = {}
    for strategy in registry:
        model = strategy.settings_model
        defaults = model()
        for name, info in model.model_fields.items():
            by_field.setdefault(name, []).append((strategy.name, info, getattr(defaults, name)))
    flags = []
    for name, owners in sorted(by_field.items()):
        kinds = {_option_type(info) for _, info, _ in owners}
        if len(kinds) != 1:
            raise TypeError(f"strategies declare setting {name!r} with different types {kinds}")
        kind = kinds.pop()
        first = owners[0][1]
        defaults = ", ".join(f"{owner} {_default_text(value, info)}" for owner, info, value in owners)
        help_text = f"{_describe(first)} (defaults: {defaults})"
        option = typer.Option(_flag(name), help=help_text, show_default=False, rich_help_panel=STRATEGY_PANEL)
        annotation = Annotated[kind | None, option]  # type: ignore[valid-type]
        parameter = inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
        )
        flags.append(GeneratedFlag(name, tuple(owner for owner, _, _ in owners), parameter))
    for flag in model_flags(EngineSettings, "engine", ENGINE_PANEL):
        if flag.field in by_field:
            raise TypeError(f"setting {flag.field!r} belongs to both the engine and a strategy")
        flags.append(flag)
    return flags


def model_flags(model: type[Settings], owner: str, panel: str) -> list[GeneratedFlag]:
    """One flag per field of ``model``: a bool is a plain flag (False unless given), the rest None unless given."""
    defaults = model()
    flags = []
    for name, info in model.model_fields.items():
        kind = _option_type(info)
        help_text = f"{_describe(info)} (default: {_default_text(getattr(defaults, name), info)})"
        option = typer.Option(_flag(name), help=help_text, show_default=False, rich_help_panel=panel)
        parameter = inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=False if kind is bool else None,
            annotation=Annotated[bool, option] if kind is bool else Annotated[kind | None, option],
        )
        flags.append(GeneratedFlag(name, (owner,), parameter))
    return flags


def _shown(value: Any) -> Any:
    return f"{value:g}" if isinstance(value, float) else value


def settings_from_flags(
    registry: Registry, flags: Sequence[GeneratedFlag], strategy_name: str, values: dict[str, Any]
) -> tuple[Job, EngineSettings]:
    """The chosen strategy with its settings, and the engine's, from the generated flags given."""
    strategy = registry.get(strategy_name)
    strategy_values: dict[str, Any] = {}
    engine_values: dict[str, Any] = {}
    for flag in flags:
        value = values.get(flag.field)
        if value is None or (flag.owners == ("engine",) and value is False):
            continue
        if flag.owners == ("engine",):
            engine_values[flag.field] = value
        elif strategy.name in flag.owners:
            strategy_values[flag.field] = value
        else:
            owners = ", ".join(flag.owners)
            raise ConfigError(
                f"{_flag(flag.field)} is a setting of strategy {owners}, not of {strategy.name}: "
                f"drop it, or pass --strategy {flag.owners[0]}"
            )
    shown = {k: _shown(v) for k, v in strategy_values.items()}
    settings = parse_settings(strategy.settings_model, strategy_values, name_of=_flag, shown=shown)
    engine = parse_settings(
        EngineSettings, engine_values, name_of=_flag, shown={k: _shown(v) for k, v in engine_values.items()}
    )
    return Job(strategy, settings), engine


@contextmanager
def _progress() -> Iterator[Callable[[str], None]]:
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("recommending", total=None)
        yield lambda step: bar.update(task, description=step)


def _parse_day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--until {text!r} is not a date: write it as YYYY-MM-DD") from None


async def _from_store(
    settings: KubecapSettings,
    job: Job,
    engine: EngineSettings,
    selection: Selection,
    *,
    until: date | None,
    window: str | None,
    save: bool,
    hpas: Mapping[WorkloadRef, HpaInfo] | None = None,
) -> list[Recommendation]:
    with _progress() as progress:
        async with wiring.store(settings) as store:
            return await recommend_from_store(
                store,
                [job],
                engine,
                selection,
                computed_at=datetime.now(UTC),
                last_day=until,
                peak_window=window,
                save=save,
                hpas=hpas,
                progress=progress,
            )


def _narrowed(
    selection: Selection, selector: LabelSelector | None, text: str | None, live: LiveConfig
) -> Selection:
    """The selection restricted to the workloads whose live labels match ``selector``."""
    if selector is None:
        return selection
    chosen = frozenset(ref for ref, labels in live.labels.items() if selector.matches(labels))
    return replace(selection, workloads=chosen, selector=text)


def recommend_all(settings: KubecapSettings, strategy: str = "kubecap") -> list[Recommendation]:
    """Recommendations for everything in the store with a strategy's defaults (HPAs read live), saved."""
    job = Job(default_registry().get(strategy), default_registry().get(strategy).settings_model())
    known = run(live_config(settings, list(settings.clusters), None)).hpas if settings.clusters else None
    return run(
        _from_store(
            settings, job, EngineSettings(), Selection(), until=None, window=None, save=True, hpas=known
        )
    )


def print_recommendations(recs: Sequence[Recommendation], output: str = "table") -> None:
    FORMATTERS[output](recs, sys.stdout, Options(explain=False, patch_replicas=False))
    err.print(_summary(recs, True), highlight=False)


def _summary(recs: Sequence[Recommendation], saved: bool) -> str:
    changed = sum(1 for r in recs if r.changed)
    short = sum(1 for r in recs if r.status is Status.NOT_ENOUGH_DATA)
    text = f"{len(recs)} containers: {changed} to change, {short} without enough data"
    return text + ("; stored in the database" if saved else "")


def recommend(
    strategy: Annotated[
        str,
        typer.Option("--strategy", "-s", help="Strategy: kubecap (default), peak, percentile, vpa, crane."),
    ] = "kubecap",
    cluster: ClusterOption = None,
    namespace: Annotated[
        str | None, typer.Option(help="Only namespaces matching this regular expression (whole name).")
    ] = None,
    selector: Annotated[
        str | None,
        typer.Option(
            "--selector",
            "-l",
            help="Only workloads whose labels match, as kubectl: 'app=web,tier!=db', 'env in (prod)'."
            " Labels are read live from kube-state-metrics (its --metric-labels-allowlist decides which).",
        ),
    ] = None,
    kind: Annotated[
        list[WorkloadKind] | None, typer.Option(help="Only this kind of workload (repeat for several).")
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(help="Peak window to read, like 10:00-11:30 (default: each cluster's first)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="Last local day of history to use, YYYY-MM-DD (default: the last one stored).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.table,
    explain: Annotated[
        bool, typer.Option(help="Table: print each recommendation's explanation below.")
    ] = False,
    patch_replicas: Annotated[
        bool, typer.Option(help="Patch: also set spec.replicas where advised.")
    ] = False,
    save: Annotated[bool, typer.Option(help="Store the recommendations (store mode only).")] = True,
    prometheus_url: Annotated[
        str | None,
        typer.Option(
            help="Collect from this Prometheus into a temporary store first: no database, no install."
        ),
    ] = None,
    live: Annotated[
        bool,
        typer.Option(
            help="Like --prometheus-url, for the clusters of --config (cluster labels, time zones)."
        ),
    ] = False,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
    **generated: Any,
) -> None:
    """Recommend requests, limits and replicas per container, with why, savings and risk.

    Reads the usage history from the store, or, with --prometheus-url or --live, collects the
    days the strategy needs into a temporary SQLite file first (nothing is installed, nothing
    is kept). Formats: table, json, yaml, csv, html, and patch (one strategic merge patch per
    workload, for kubectl patch or kustomize). Exit codes: 0 done; 2 bad input or an
    unreachable store/Prometheus; 3 no workload matches the filters; 1 a bug.
    """
    registry = default_registry()
    job, engine = settings_from_flags(registry, generated_flags(registry), strategy, generated)
    selection = Selection(cluster=cluster, namespace=namespace, kinds=frozenset(kind or ()))
    selection.pattern()  # a bad regular expression fails before any I/O
    label_selector = parse_selector(selector)
    last_day = _parse_day(until)
    if prometheus_url is not None or live:
        with tempfile.TemporaryDirectory(prefix="kubecap-recommend-") as tmp:
            overrides: dict[str, Any] = {"database_url": f"sqlite:///{Path(tmp) / 'recommend.db'}"}
            if prometheus_url is not None:
                overrides["prometheus_url"] = prometheus_url
            settings = load_settings(config, **overrides)
            clusters = settings.cluster(cluster)
            if not clusters:
                raise ConfigError(
                    "--live needs clusters with a Prometheus in --config, or pass --prometheus-url"
                )
            # Today's whole day has not ended, so one more day is planned than the strategy reads.
            for report in run(
                collect_clusters(settings, clusters, job.settings.days + 1, False, until=last_day)
            ):
                print_collection(report)
            present = run(live_config(settings, clusters, last_day))
            chosen = _narrowed(selection, label_selector, selector, present)
            recs = run(
                _from_store(
                    settings,
                    job,
                    engine,
                    chosen,
                    until=last_day,
                    window=window,
                    save=False,
                    hpas=present.hpas,
                )
            )
            saved = False
    else:
        settings = load_settings(config, database_url=database_url)
        # HPAs and labels are configuration, not history: ask each configured cluster for its current ones.
        configured = [c for c in settings.clusters if cluster is None or c.name == cluster]
        if not configured and label_selector is not None:
            raise ConfigError(
                "--selector needs the workloads' labels, which are read live: pass --config with the cluster's"
                " Prometheus, or use --prometheus-url"
            )
        known = run(live_config(settings, configured, last_day)) if configured else None
        if known is None:
            err.print(
                "note: no cluster is configured, so HPAs are unknown and a request an HPA scales on may be changed;"
                " pass --config with the cluster's Prometheus to keep them",
                highlight=False,
            )
        chosen = selection if known is None else _narrowed(selection, label_selector, selector, known)
        recs = run(
            _from_store(
                settings,
                job,
                engine,
                chosen,
                until=last_day,
                window=window,
                save=save,
                hpas=known.hpas if known else None,
            )
        )
        saved = save
    FORMATTERS[output.value](recs, sys.stdout, Options(explain=explain, patch_replicas=patch_replicas))
    err.print(_summary(recs, saved), highlight=False)


def recommend_command() -> Callable[..., None]:
    """``recommend`` with the generated settings flags in its signature, for Typer."""
    registry = default_registry()
    base = inspect.signature(recommend, eval_str=True)
    fixed = [p for p in base.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    params = fixed + [flag.parameter for flag in generated_flags(registry)]

    def command(**values: Any) -> None:
        recommend(**values)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = recommend.__doc__
    command.__name__ = "recommend"
    return command


class NodeFormat(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"
    csv = "csv"


def idle_nodes(
    cluster: ClusterOption = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="Last local day to look at, YYYY-MM-DD (default: the last one stored).", show_default=False
        ),
    ] = None,
    output: Annotated[NodeFormat, typer.Option("--format", "-f", help="Output format.")] = NodeFormat.table,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
    **generated: Any,
) -> None:
    """Nodes that only ran DaemonSets, or whose usage and requests stayed low, every day of the last week.

    Reads the daily node figures of the store (kubecap collect gathers them from node-exporter
    and kube-state-metrics). Exit codes: 0 done (also when no node is idle); 2 bad input or no
    node figures in the store; 1 a bug.
    """
    flags = model_flags(IdleNodeSettings, "nodes", NODE_PANEL)
    given = {f.field: generated[f.field] for f in flags if generated.get(f.field) not in (None, False)}
    node_settings = parse_settings(
        IdleNodeSettings, given, name_of=_flag, shown={k: _shown(v) for k, v in given.items()}
    )
    last_day = _parse_day(until)
    settings = load_settings(config, database_url=database_url)

    async def find() -> list[IdleNode]:
        async with wiring.store(settings) as store:
            return await idle_nodes_from_store(store, node_settings, cluster=cluster, last_day=last_day)

    found = run(find())
    NODE_FORMATTERS[output.value](found, sys.stdout)
    total = sum(n.monthly_usd for n in found)
    err.print(f"{len(found)} idle nodes, ${total:,.2f} a month", highlight=False)


def idle_nodes_command() -> Callable[..., None]:
    """``idle-nodes`` with the settings flags generated from IdleNodeSettings."""
    base = inspect.signature(idle_nodes, eval_str=True)
    fixed = [p for p in base.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    params = fixed + [flag.parameter for flag in model_flags(IdleNodeSettings, "nodes", NODE_PANEL)]

    def command(**values: Any) -> None:
        idle_nodes(**values)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = idle_nodes.__doc__
    command.__name__ = "idle_nodes"
    return command
