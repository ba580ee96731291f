"""`kubecap demo`: every capability at once on the bundled simulated cluster, nothing to install.

It collects the simulated cluster (real traces) into a temporary SQLite file, computes the
recommendations, then serves the web UI on 127.0.0.1 and prints its URL and the generated
admin password; `--no-serve` prints the report and the recommendations instead. Serving runs
the background loops too: new windows of the simulated cluster are collected as they end, and
tasks scheduled in the UI run against an in-memory cluster holding the scenario's workloads.
Predictive replicas read their load from the same simulation; shop/cart (a sharp daily peak)
starts opted in, in preview, so its first round's decision is there to see without setting anything.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from kubecap import wiring
from kubecap.cli.common import FormatOption, ReportFormat, run
from kubecap.cli.recommend import print_recommendations, recommend_all
from kubecap.cli.serve import serve
from kubecap.cli.usage import collect_clusters, print_collection, print_report
from kubecap.config import Settings, load_settings
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.predict import Policy, PolicyService
from kubecap.testing.scenario_cluster import scenario_cluster

DEMO_ACTOR = "demo"


def demo_policy(cluster: str) -> Policy:
    """The demo's predictive-replicas policy: shop/cart, half a core per replica, one hour ahead, preview."""
    ref = WorkloadRef(cluster, "shop", WorkloadKind.DEPLOYMENT, "cart")
    return Policy(
        ref, target=0.5, min_replicas=1, max_replicas=8, max_step=3, lead_seconds=3600, preview=True
    )


async def opt_in(settings: Settings) -> None:
    """Store the demo's policy (audited as ``predict.set`` by the demo)."""
    async with wiring.store(settings) as store:
        await PolicyService(store).set(demo_policy(settings.clusters[0].name), actor=DEMO_ACTOR)


def demo_command(
    days: Annotated[int, typer.Option(min=1, max=30, help="Days of simulated history to collect.")] = 14,
    output: FormatOption = ReportFormat.table,
    no_serve: Annotated[
        bool,
        typer.Option("--no-serve", help="Print the report and recommendations instead of serving the UI."),
    ] = False,
    port: Annotated[int, typer.Option(help="Port of the UI on 127.0.0.1 (0: any free port).")] = 0,
) -> None:
    """Collect the bundled demo cluster (real traces) into a temporary SQLite file and open the web UI."""
    with tempfile.TemporaryDirectory(prefix="kubecap-demo-") as tmp:
        overrides: dict[str, Any] = {
            "database_url": f"sqlite:///{Path(tmp) / 'demo.db'}",
            "clusters": [wiring.demo_cluster()],
            "api": {"host": "127.0.0.1", "port": port},
        }
        settings = load_settings(None, **overrides)
        for collected in run(collect_clusters(settings, list(settings.clusters), days, force=False)):
            print_collection(collected)
        recommendations = recommend_all(settings)
        if no_serve:
            print_report(settings, cluster=None, window=None, namespace=None, output=output)
            print_recommendations(recommendations, output.value)
            return
        run(opt_in(settings))
        # Tasks scheduled in the demo act on an in-memory copy of the simulated cluster.
        cluster = scenario_cluster(wiring.scenario(wiring.DEMO_SCENARIO))
        run(serve(settings, clusters={cluster.name: cluster}))
