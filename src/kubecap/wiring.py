"""The composition root: builds adapters (store, metrics sources) from validated settings.

Commands get their adapters from here and hand them to capabilities, which only know the
ports. Nothing is created at import time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubecap import store as store_module
from kubecap.config import ClusterSettings, PrometheusSettings, Settings
from kubecap.errors import KubecapError
from kubecap.metrics.prometheus import PrometheusClient, PrometheusOptions
from kubecap.metrics.prometheus_source import PrometheusUsageSource
from kubecap.metrics.simulated import Scenario, SimulatedSource, demo_scenario, load_scenario
from kubecap.ports import UsageSource

DEMO_SCENARIO = "demo"


def scenario(name: str) -> Scenario:
    """The bundled demo scenario, or a scenario YAML file."""
    return demo_scenario() if name == DEMO_SCENARIO else load_scenario(Path(name))


def demo_cluster() -> dict[str, Any]:
    """Settings of the bundled simulated cluster (its name, zone and windows come from the scenario)."""
    scenario = demo_scenario()
    return {
        "name": scenario.cluster,
        "simulated": DEMO_SCENARIO,
        "timezone": scenario.timezone,
        "peak_windows": list(scenario.peak_windows),
    }


@asynccontextmanager
async def store(settings: Settings) -> AsyncIterator[store_module.Store]:
    opened = await store_module.Store.open(settings.database_url)
    try:
        yield opened
    finally:
        await opened.close()


def upgrade_database(url: str) -> str:
    return store_module.upgrade_database(url)


def masked_url(url: str) -> str:
    return store_module.masked_url(url)


def prometheus_options(settings: PrometheusSettings) -> PrometheusOptions:
    return PrometheusOptions(
        url=settings.url,
        bearer_token=settings.token(),
        username=settings.username,
        password=settings.password.get_secret_value() if settings.password else None,
        headers=dict(settings.headers),
        params=dict(settings.params),
        ca_file=str(settings.ca_file) if settings.ca_file else None,
        insecure_skip_verify=settings.insecure_skip_verify,
        timeout_s=settings.timeout_seconds,
        retries=settings.retries,
        backoff_s=settings.backoff_seconds,
        concurrency=settings.concurrency,
    )


@asynccontextmanager
async def usage_source(cluster: ClusterSettings) -> AsyncIterator[UsageSource]:
    """The cluster's usage source: its Prometheus, or its simulated scenario."""
    if cluster.prometheus is None:
        yield SimulatedSource(
            scenario(cluster.simulated or DEMO_SCENARIO),
            step=cluster.step_seconds,
            day_step=cluster.day_step_seconds,
        )
        return
    async with PrometheusClient(prometheus_options(cluster.prometheus)) as client:
        yield PrometheusUsageSource(
            client,
            cluster=cluster.name,
            cluster_label=cluster.cluster_label,
            step_s=cluster.step_seconds,
            day_step_s=cluster.day_step_seconds,
            series_budget=cluster.series_budget,
        )


def check_files(settings: Settings) -> list[str]:
    """Problems with files the settings name (CA bundles, token files, scenarios)."""
    problems = []
    for cluster in settings.clusters:
        prom = cluster.prometheus
        if prom is not None:
            for label, path in (("ca_file", prom.ca_file), ("bearer_token_file", prom.bearer_token_file)):
                if path is not None and not path.is_file():
                    problems.append(
                        f"clusters.{cluster.name}.prometheus.{label}: {path} is not a readable file"
                    )
        elif cluster.simulated is not None:
            try:
                scenario(cluster.simulated)
            except KubecapError as exc:
                problems.append(f"clusters.{cluster.name}.simulated: {exc}")
    return problems


async def check_connections(settings: Settings) -> list[str]:
    """Problems reaching each Prometheus and the database."""
    problems = []
    for cluster in settings.clusters:
        if cluster.prometheus is None:
            continue
        try:
            async with PrometheusClient(prometheus_options(cluster.prometheus)) as client:
                await client.instant("vector(1)", datetime.now(UTC))
        except KubecapError as exc:
            problems.append(f"clusters.{cluster.name}.prometheus: {exc}")
    try:
        async with store(settings):
            pass
    except KubecapError as exc:
        problems.append(f"database_url: {exc}")
    return problems
