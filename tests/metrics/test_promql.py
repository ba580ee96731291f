"""The PromQL catalogue: escaping, scope on every selector, snapshots, and acceptance by a real Prometheus."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from kubecap.metrics.prometheus import PrometheusClient, PrometheusOptions
from kubecap.metrics.prometheus_source import pack_namespaces
from kubecap.metrics.promql import (
    OPTIONAL_SERIES,
    REQUIRED_SERIES,
    Catalogue,
    Scope,
    WindowShape,
    escape,
    regex_escape,
)

SNAPSHOT = Path(__file__).parent / "snapshots" / "catalogue.promql"
SHAPE = WindowShape(range_ms=5_400_000, step_s=60)


def all_queries(cat: Catalogue) -> dict[str, str]:
    return {
        "ownership": cat.ownership(SHAPE),
        **{f"cpu {i}": q for i, q in enumerate(cat.cpu(SHAPE))},
        **{f"memory {i}": q for i, q in enumerate(cat.memory(SHAPE))},
        "ready_replicas": cat.ready_replicas(SHAPE),
        "resources": cat.resources(SHAPE),
        **{f"throttling {i}": q for i, q in enumerate(cat.throttling(SHAPE))},
        "restarts": cat.restarts(SHAPE),
        "inventory": cat.inventory(3_599_999, [*REQUIRED_SERIES, *OPTIONAL_SERIES]),
        "nodes": cat.nodes(SHAPE),
    }


def test_escaping() -> None:
    assert escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert regex_escape("a.b|c") == "a\\.b\\|c"


def test_window_points_drop_the_start() -> None:
    assert SHAPE.subquery == "[5399999ms:60s]"


def test_scope_is_on_every_selector() -> None:
    scope = Scope.for_cluster({"cluster": 'prod "eu"'}).with_namespaces(["shop", "pay"])
    for name, query in all_queries(Catalogue(scope)).items():
        selectors = re.findall(r"\b(?:kube|container|node)_[a-zA-Z_]+\{([^}]*)\}", query)
        bare = re.findall(r"(?<![\w\"])(?:kube|container|node)_[a-zA-Z_]+(?![a-zA-Z_{\"])", query)
        assert selectors, name
        assert not bare, (name, bare)
        for matchers in selectors:
            assert 'cluster="prod \\"eu\\""' in matchers, (name, matchers)
            assert 'namespace=~"pay|shop"' in matchers, (name, matchers)


def test_catalogue_snapshot() -> None:
    cat = Catalogue(Scope.for_cluster({"cluster": "prod"}))
    text = "".join(f"# {name}\n{query}\n\n" for name, query in all_queries(cat).items())
    if os.environ.get("KUBECAP_UPDATE_SNAPSHOTS") == "1" or not SNAPSHOT.exists():
        SNAPSHOT.write_text(text)
    assert text == SNAPSHOT.read_text(), (
        "the catalogue changed: review it and rerun with KUBECAP_UPDATE_SNAPSHOTS=1"
    )


def test_pack_namespaces_first_fit_decreasing() -> None:
    groups = pack_namespaces({"a": 60, "b": 50, "c": 40, "d": 10, "huge": 500}, budget=100)
    assert groups == [["huge"], ["a", "c"], ["b", "d"]]
    assert pack_namespaces({}, budget=10) == []


@pytest.mark.prometheus
async def test_every_query_is_accepted_by_a_real_prometheus(
    prometheus_url: str, history_start: datetime
) -> None:
    cat = Catalogue(Scope.for_cluster({"cluster": "prod"}).with_namespaces(["shop"]))
    at = history_start + timedelta(hours=1)
    async with PrometheusClient(PrometheusOptions(url=prometheus_url, retries=0)) as client:
        for query in all_queries(cat).values():
            assert await client.instant(query, at) == []
