"""Output formats of the usage report, in a registry the CLI (and tests) look up by name."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from kubecap.domain.quantity import format_bytes, format_cpu
from kubecap.report.usage import UsageRow

Formatter = Callable[[Sequence[UsageRow], TextIO], None]


def _record(row: UsageRow) -> dict[str, Any]:
    """The machine-readable form: plain numbers (cores, bytes), ISO dates."""
    w = row.workload
    return {
        "cluster": w.cluster,
        "namespace": w.namespace,
        "kind": w.kind.value,
        "workload": w.name,
        "container": row.container,
        "window": row.window,
        "days": row.days,
        "replicas_avg": row.replicas_avg,
        "cpu_request_cores": row.cpu_request,
        "cpu_p95_peak_cores": row.cpu_p95_peak,
        "cpu_peak_day": row.cpu_peak_day.isoformat() if row.cpu_peak_day else None,
        "cpu_usage_to_request": row.cpu_ratio,
        "memory_request_bytes": row.mem_request,
        "memory_max_peak_bytes": row.mem_max_peak,
        "memory_peak_day": row.mem_peak_day.isoformat() if row.mem_peak_day else None,
        "memory_usage_to_request": row.mem_ratio,
        "cpu_throttle_max": row.cpu_throttle_max,
        "oom_kills": row.oom_kills,
        "restarts": row.restarts,
    }


def to_json(rows: Sequence[UsageRow], out: TextIO) -> None:
    json.dump([_record(r) for r in rows], out, indent=2)
    out.write("\n")


FIELDS = (
    "cluster", "namespace", "kind", "workload", "container", "window", "days", "replicas_avg",
    "cpu_request_cores", "cpu_p95_peak_cores", "cpu_peak_day", "cpu_usage_to_request",
    "memory_request_bytes", "memory_max_peak_bytes", "memory_peak_day", "memory_usage_to_request",
    "cpu_throttle_max", "oom_kills", "restarts",
)  # fmt: skip


def to_csv(rows: Sequence[UsageRow], out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(_record(r) for r in rows)


def _cpu(value: float | None) -> str:
    return "-" if value is None else format_cpu(value)


def _mem(value: float | None) -> str:
    return "-" if value is None else format_bytes(value)


def _share(value: float | None) -> str:
    if value is None:
        return "-"
    colour = "red" if value > 1.0 else "yellow" if value < 0.3 else "green"
    return f"[{colour}]{value:.0%}[/{colour}]"


def to_table(rows: Sequence[UsageRow], out: TextIO) -> None:
    window = rows[0].window if rows else ""
    table = Table(title=f"Usage against requests (window {window}; peak = highest daily value)")
    for header in (
        "namespace",
        "workload",
        "container",
        "replicas",
        "cpu req",
        "cpu P95 peak",
        "used/req",
        "mem req",
        "mem max peak",
        "used/req",
        "throttled",
        "OOM",
    ):
        table.add_column(
            header, justify="left" if header in ("namespace", "workload", "container") else "right"
        )
    for r in rows:
        table.add_row(
            r.workload.namespace,
            f"{r.workload.kind.value}/{r.workload.name}",
            r.container,
            "-" if r.replicas_avg is None else f"{r.replicas_avg:.1f}",
            _cpu(r.cpu_request),
            _cpu(r.cpu_p95_peak),
            _share(r.cpu_ratio),
            _mem(r.mem_request),
            _mem(r.mem_max_peak),
            _share(r.mem_ratio),
            "-" if r.cpu_throttle_max is None else f"{r.cpu_throttle_max:.0%}",
            f"{r.oom_kills:.0f}",
        )
    Console(file=out, width=160, force_terminal=False).print(table)


FORMATTERS: dict[str, Formatter] = {"table": to_table, "json": to_json, "csv": to_csv}
