"""Output formats of ``kubecap recommend``, in a registry looked up by name.

Every format shows the same records: the machine-readable ones (json, yaml, csv) in plain
numbers (cores, bytes, fractions, US dollars), the human ones (table, html) in Kubernetes
quantities, and ``patch`` as one strategic merge patch per workload (patch.py).
"""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import yaml
from rich.console import Console
from rich.table import Table

from kubecap.domain.quantity import format_cpu
from kubecap.domain.recommendation import Recommendation, Status
from kubecap.recommend import patch
from kubecap.recommend.idle_nodes import IdleNode
from kubecap.recommend.steps import format_memory


@dataclass(frozen=True)
class Options:
    """How to render: explanations under the table, replicas in patches."""

    explain: bool = False
    patch_replicas: bool = False


Formatter = Callable[[Sequence[Recommendation], TextIO, Options], None]


def record(rec: Recommendation) -> dict[str, Any]:
    """The machine-readable form of one recommendation."""
    w = rec.ref.workload
    advice = rec.replicas
    return {
        "cluster": w.cluster,
        "namespace": w.namespace,
        "kind": w.kind.value,
        "workload": w.name,
        "container": rec.ref.container,
        "strategy": rec.strategy,
        "status": rec.status.value,
        "computed_at": rec.computed_at.isoformat(),
        "window": rec.window,
        "first_day": rec.first_day.isoformat() if rec.first_day else None,
        "last_day": rec.last_day.isoformat() if rec.last_day else None,
        "days": rec.days,
        "confidence": rec.confidence,
        **{f"current_{k}": v for k, v in rec.current.values().items()},
        **{f"recommended_{k}": v for k, v in rec.target.values().items()},
        "cpu_request_low": rec.bounds.cpu_low,
        "cpu_request_high": rec.bounds.cpu_high,
        "mem_request_low": rec.bounds.mem_low,
        "mem_request_high": rec.bounds.mem_high,
        "savings_cpu_core_hours_month": rec.savings.cpu_core_hours,
        "savings_mem_gib_hours_month": rec.savings.mem_gib_hours,
        "savings_usd_month": rec.savings.usd,
        "risk_cpu_time_above_request": rec.risk.cpu_time_above_request,
        "risk_mem_days_above_request": rec.risk.mem_days_above_request,
        "risk_mem_days_above_limit": rec.risk.mem_days_above_limit,
        "risk_days": rec.risk.days,
        "risk_throttle_max": rec.risk.throttle_max,
        "risk_oom_kills": rec.risk.oom_kills,
        "replicas_current": advice.current if advice else None,
        "replicas_recommended": advice.replicas if advice else None,
        "hpa_min_replicas": advice.hpa_min if advice else None,
        "hpa_max_replicas": advice.hpa_max if advice else None,
        "replicas_explanation": advice.explanation if advice else None,
        "explanation": rec.explanation,
        "settings": dict(rec.settings),
    }


def to_json(recs: Sequence[Recommendation], out: TextIO, options: Options) -> None:
    json.dump([record(r) for r in recs], out, indent=2)
    out.write("\n")


def to_yaml(recs: Sequence[Recommendation], out: TextIO, options: Options) -> None:
    yaml.safe_dump([record(r) for r in recs], out, sort_keys=False, allow_unicode=True)


def to_csv(recs: Sequence[Recommendation], out: TextIO, options: Options) -> None:
    rows = [record(r) for r in recs]
    for row in rows:
        row["settings"] = json.dumps(row["settings"], sort_keys=True)
    fields = list(rows[0]) if rows else ["cluster", "namespace", "kind", "workload", "container", "strategy"]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def _cpu(value: float | None) -> str:
    return "-" if value is None else format_cpu(value)


def _mem(value: float | None) -> str:
    return "-" if value is None else format_memory(value)


def _change(now: str, new: str) -> str:
    return new if now == new else f"{now} → {new}"


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _risk(rec: Recommendation) -> str:
    risk = rec.risk
    if rec.status is not Status.OK:
        return "-"
    cpu = "-" if risk.cpu_time_above_request is None else f"{risk.cpu_time_above_request:.1%}"
    return f"{cpu} / {risk.mem_days_above_request}d / {risk.mem_days_above_limit}d"


def _replicas(rec: Recommendation) -> str:
    advice = rec.replicas
    if advice is None:
        return "-"
    now = "-" if advice.current is None else f"{advice.current:g}"
    if advice.hpa_max is not None:
        return f"HPA {advice.hpa_min}-{advice.hpa_max}"
    return _change(now, str(advice.replicas))


HEADERS = (
    "namespace",
    "workload",
    "container",
    "strategy",
    "CPU request",
    "CPU limit",
    "memory request",
    "memory limit",
    "replicas",
    "saves $/month",
    "risk (CPU>req / mem>req / OOM)",
)


def _cells(rec: Recommendation) -> list[str]:
    now, new = rec.current, rec.target
    status = "" if rec.status is Status.OK else " (not enough data)"
    return [
        rec.ref.workload.namespace,
        f"{rec.ref.workload.kind.value}/{rec.ref.workload.name}",
        rec.ref.container,
        rec.strategy + status,
        _change(_cpu(now.cpu_request), _cpu(new.cpu_request)),
        _change(_cpu(now.cpu_limit), _cpu(new.cpu_limit)),
        _change(_mem(now.mem_request), _mem(new.mem_request)),
        _change(_mem(now.mem_limit), _mem(new.mem_limit)),
        _replicas(rec),
        _money(rec.savings.usd),
        _risk(rec),
    ]


def total_savings(recs: Sequence[Recommendation]) -> float:
    return sum(r.savings.usd or 0.0 for r in recs if r.status is Status.OK)


def to_table(recs: Sequence[Recommendation], out: TextIO, options: Options) -> None:
    table = Table(title="kubecap recommendations (per pod; savings per month at the current replicas)")
    for header in HEADERS:
        table.add_column(header, justify="left" if header in HEADERS[:4] else "right")
    for rec in recs:
        table.add_row(*_cells(rec))
    console = Console(file=out, width=200, force_terminal=False, soft_wrap=False)
    console.print(table)
    console.print(f"total: ${total_savings(recs):,.2f} a month over {len(recs)} containers", highlight=False)
    if options.explain:
        for rec in recs:
            console.print(f"{rec.ref} [{rec.strategy}]: {rec.explanation}", highlight=False, markup=False)
            if rec.replicas is not None and rec.replicas.explanation:
                console.print(f"  replicas: {rec.replicas.explanation}", highlight=False, markup=False)


def to_html(recs: Sequence[Recommendation], out: TextIO, options: Options) -> None:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in (*HEADERS, "why"))
    rows = []
    for rec in recs:
        cells = "".join(f"<td>{html.escape(c)}</td>" for c in _cells(rec))
        why = html.escape(rec.explanation)
        if rec.replicas is not None and rec.replicas.explanation:
            why += "<br>replicas: " + html.escape(rec.replicas.explanation)
        rows.append(f"<tr>{cells}<td>{why}</td></tr>")
    out.write(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>kubecap recommendations</title>'
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:4px 8px;vertical-align:top}td{text-align:right}td:nth-child(-n+4),td:last-child{text-align:left}"
        "</style></head><body>\n<h1>kubecap recommendations</h1>\n"
        f"<p>Total savings: ${total_savings(recs):,.2f} a month over {len(recs)} containers "
        "(per pod values; savings at the current replicas).</p>\n"
        f"<table><thead><tr>{head}</tr></thead><tbody>\n"
        + "\n".join(rows)
        + "\n</tbody></table></body></html>\n"
    )


def to_patch(recs: Sequence[Recommendation], out: TextIO, options: Options) -> None:
    out.write(patch.render(recs, replicas=options.patch_replicas))


FORMATTERS: dict[str, Formatter] = {
    "table": to_table,
    "json": to_json,
    "yaml": to_yaml,
    "csv": to_csv,
    "html": to_html,
    "patch": to_patch,
}


# --- idle nodes -----------------------------------------------------------------------------------

NodeFormatter = Callable[[Sequence[IdleNode], TextIO], None]


def node_record(node: IdleNode) -> dict[str, Any]:
    return {
        "cluster": node.cluster,
        "node": node.node,
        "pool": node.pool,
        "reason": node.reason.value,
        "first_day": node.first_day.isoformat(),
        "last_day": node.last_day.isoformat(),
        "cpu_usage_share": node.cpu_usage_share,
        "mem_usage_share": node.mem_usage_share,
        "cpu_requests_share": node.cpu_requests_share,
        "mem_requests_share": node.mem_requests_share,
        "monthly_usd": node.monthly_usd,
        "explanation": node.explanation,
    }


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def nodes_table(nodes: Sequence[IdleNode], out: TextIO) -> None:
    table = Table(title="Idle nodes (highest daily share of allocatable over the days looked at)")
    for header in (
        "cluster",
        "node",
        "pool",
        "reason",
        "CPU P99",
        "memory P99",
        "CPU req",
        "memory req",
        "$/month",
    ):
        table.add_column(
            header, justify="left" if header in ("cluster", "node", "pool", "reason") else "right"
        )
    for n in nodes:
        table.add_row(
            n.cluster,
            n.node,
            n.pool or "-",
            n.reason.value,
            _share(n.cpu_usage_share),
            _share(n.mem_usage_share),
            _share(n.cpu_requests_share),
            _share(n.mem_requests_share),
            f"{n.monthly_usd:,.2f}",
        )
    console = Console(file=out, width=200, force_terminal=False)
    console.print(table)
    for n in nodes:
        console.print(f"{n.cluster}/{n.node}: {n.explanation}", highlight=False, markup=False)


def nodes_json(nodes: Sequence[IdleNode], out: TextIO) -> None:
    json.dump([node_record(n) for n in nodes], out, indent=2)
    out.write("\n")


def nodes_yaml(nodes: Sequence[IdleNode], out: TextIO) -> None:
    yaml.safe_dump([node_record(n) for n in nodes], out, sort_keys=False)


def nodes_csv(nodes: Sequence[IdleNode], out: TextIO) -> None:
    rows = [node_record(n) for n in nodes]
    fields = list(rows[0]) if rows else ["cluster", "node", "reason"]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


NODE_FORMATTERS: dict[str, NodeFormatter] = {
    "table": nodes_table,
    "json": nodes_json,
    "yaml": nodes_yaml,
    "csv": nodes_csv,
}
