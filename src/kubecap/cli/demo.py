"""`kubecap demo`: every capability at once on the bundled simulated cluster, nothing to install."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from kubecap import wiring
from kubecap.cli.common import FormatOption, ReportFormat, run
from kubecap.cli.recommend import print_recommendations, recommend_all
from kubecap.cli.usage import collect_clusters, print_collection, print_report
from kubecap.config import load_settings


def demo_command(
    days: Annotated[int, typer.Option(min=1, max=30, help="Days of simulated history to collect.")] = 14,
    output: FormatOption = ReportFormat.table,
) -> None:
    """Collect the bundled demo cluster (real traces) into a temporary SQLite file, report and recommend."""
    with tempfile.TemporaryDirectory(prefix="kubecap-demo-") as tmp:
        overrides: dict[str, Any] = {
            "database_url": f"sqlite:///{Path(tmp) / 'demo.db'}",
            "clusters": [wiring.demo_cluster()],
        }
        settings = load_settings(None, **overrides)
        for collected in run(collect_clusters(settings, list(settings.clusters), days, force=False)):
            print_collection(collected)
        print_report(settings, cluster=None, window=None, namespace=None, output=output)
        print_recommendations(recommend_all(settings), output.value)
