"""Options and helpers shared by the command modules."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

err = Console(stderr=True)
T = TypeVar("T")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML settings file (or KUBECAP_CONFIG).", show_default=False),
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="sqlite:///path or postgresql://... (or KUBECAP_DATABASE_URL).",
        show_default=False,
    ),
]
ClusterOption = Annotated[str | None, typer.Option("--cluster", help="Only this cluster (default: all).")]
# Commands that act on one cluster's workloads (operations, the control table, predictive replicas).
OneClusterOption = Annotated[
    str | None,
    typer.Option("--cluster", help="Cluster name (default: the only configured one, or 'default')."),
]


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


FormatOption = Annotated[ReportFormat, typer.Option("--format", "-f", help="Output format.")]


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from a synchronous command."""
    return asyncio.run(coro)
