"""What commands read live from a cluster rather than from the store: HPAs and workload labels.

Both are configuration, not history, so they are never stored; recommend and cost ask the
configured clusters' sources for them at the end of the last collected day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from kubecap import wiring
from kubecap.config import ClusterSettings
from kubecap.config import Settings as KubecapSettings
from kubecap.domain.hpa import HpaInfo
from kubecap.domain.labels import LabelSelector, SelectorError
from kubecap.domain.window import parse_timezone, windows_of_day
from kubecap.domain.workload import WorkloadRef
from kubecap.errors import ConfigError


@dataclass(frozen=True)
class LiveConfig:
    """What recommend and cost need from a cluster's present configuration (never stored)."""

    hpas: dict[WorkloadRef, HpaInfo]
    labels: dict[WorkloadRef, dict[str, str]]


async def live_config(
    settings: KubecapSettings, clusters: Sequence[ClusterSettings], until: date | None
) -> LiveConfig:
    """Each cluster's HPAs and workload labels at the end of the last day collected."""
    live = LiveConfig({}, {})
    async with wiring.store(settings) as store:
        for cluster in clusters:
            span = await store.usage_span(cluster=cluster.name)
            last = until or (span[1] if span else None)
            if last is None:
                continue
            whole_day = windows_of_day(last, [], parse_timezone(cluster.timezone))[-1]
            async with wiring.usage_source(cluster) as source:
                live.hpas.update((hpa.workload, hpa) for hpa in await source.hpas(whole_day))
                live.labels.update(await source.workload_labels(whole_day))
    return live


def parse_selector(text: str | None) -> LabelSelector | None:
    if text is None:
        return None
    try:
        return LabelSelector.parse(text)
    except SelectorError as exc:
        raise ConfigError(str(exc)) from None
