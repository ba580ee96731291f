"""The strategies by name: an explicit object that the CLI, the API, the replay and tests share or replace."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from kubecap.errors import ConfigError
from kubecap.recommend.strategies.base import Strategy


class Registry:
    """Strategies by name, with a default."""

    def __init__(self, strategies: Iterable[Strategy[Any]], default: str) -> None:
        self._strategies = {s.name: s for s in strategies}
        if default not in self._strategies:
            raise ValueError(f"default strategy {default!r} is not among {sorted(self._strategies)}")
        self.default = default

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._strategies))

    def get(self, name: str) -> Strategy[Any]:
        try:
            return self._strategies[name]
        except KeyError:
            raise ConfigError(
                f"unknown strategy {name!r}: choose one of {', '.join(self.names())} (see --help)"
            ) from None

    def __iter__(self) -> Iterator[Strategy[Any]]:
        return iter(self._strategies[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._strategies)


def default_registry() -> Registry:
    """kubecap's strategies: its own default and the prior art it is measured against."""
    from kubecap.recommend.strategies.crane import CraneStrategy
    from kubecap.recommend.strategies.kubecap import KubecapStrategy
    from kubecap.recommend.strategies.peak import PeakStrategy
    from kubecap.recommend.strategies.percentile import PercentileStrategy
    from kubecap.recommend.strategies.vpa import VpaStrategy

    strategies: list[Strategy[Any]] = [
        KubecapStrategy(),
        PeakStrategy(),
        PercentileStrategy(),
        VpaStrategy(),
        CraneStrategy(),
    ]
    return Registry(strategies, default=KubecapStrategy.name)
