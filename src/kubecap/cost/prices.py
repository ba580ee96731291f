"""Prices per core-hour and GiB-hour: OpenCost's defaults, overridden per cluster and per node pool.

Workloads are priced at their cluster's price (the stored history does not say which pool a
pod ran on); nodes at their pool's price when one is set, else their cluster's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kubecap.domain.prices import DEFAULT_CPU_PRICE, DEFAULT_MEMORY_PRICE
from kubecap.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per core-hour and per GiB-hour."""

    cpu: float = DEFAULT_CPU_PRICE
    memory: float = DEFAULT_MEMORY_PRICE

    def __post_init__(self) -> None:
        for name, value in (("CPU", self.cpu), ("memory", self.memory)):
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} price {value!r} is invalid: give a finite number of dollars >= 0")


@dataclass(frozen=True, slots=True)
class Prices:
    """The default price, overrides per cluster name and per node-pool name."""

    default: Price = Price()
    clusters: Mapping[str, Price] = field(default_factory=dict)
    pools: Mapping[str, Price] = field(default_factory=dict)

    def for_cluster(self, cluster: str) -> Price:
        return self.clusters.get(cluster, self.default)

    def for_node(self, cluster: str, pool: str | None) -> Price:
        if pool is not None and pool in self.pools:
            return self.pools[pool]
        return self.for_cluster(cluster)

    def with_overrides(self, overrides: Iterable[tuple[str, str, Price]]) -> Prices:
        """These prices with (scope "cluster" or "pool", name, price) overrides on top (saved in Settings)."""
        clusters, pools = dict(self.clusters), dict(self.pools)
        for scope, name, price in overrides:
            if scope not in ("cluster", "pool"):
                raise ConfigError(f"price scope {scope!r} is unknown: use cluster or pool")
            (clusters if scope == "cluster" else pools)[name] = price
        return Prices(self.default, clusters, pools)

    def check_pools(self, known: Iterable[str | None]) -> None:
        """Refuse a pool override that names no pool in the node history (a typo would price nothing)."""
        seen = {p for p in known if p is not None}
        unknown = sorted(set(self.pools) - seen)
        if unknown:
            have = ", ".join(sorted(seen)) or "none"
            raise ConfigError(
                f"price override for node pool {unknown[0]!r} matches no stored node pool (known: {have}):"
                " fix the pool name or remove the override"
            )
