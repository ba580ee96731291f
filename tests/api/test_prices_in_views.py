"""The overview, the workloads list and a workload's page price at the prices in force: the
settings file's with the overrides saved in Settings on top, the same as /api/cost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kubecap.api.auth import Role
from kubecap.config import Settings
from kubecap.domain.prices import DEFAULT_CPU_PRICE, DEFAULT_MEMORY_PRICE
from tests.api.inproc import copy_settings, login, serve


@pytest.fixture
def url(seeded: Settings, tmp_path: Path) -> Iterator[str]:
    with serve(copy_settings(seeded, tmp_path)) as base:
        yield base


def test_a_saved_cluster_price_reprices_the_overview_the_list_and_the_workload(url: str) -> None:
    admin, csrf = login(url, Role.ADMIN)
    with admin:
        (cluster,) = admin.get("/api/clusters").json()[:1]
        name = cluster if isinstance(cluster, str) else cluster["name"]

        def figures() -> tuple[float, float, float, float]:
            overview = admin.get("/api/overview", params={"cluster": name}).json()
            top = admin.get(
                "/api/workloads", params={"cluster": name, "sort": "-waste_usd", "limit": 1}
            ).json()
            row = top["items"][0]
            detail = admin.get(f"/api/workloads/{row['id']}").json()
            return (
                overview["cost_per_month_usd"],
                overview["waste_per_month_usd"],
                row["waste_usd"],
                detail["cost"]["monthly_usd"],
            )

        before = figures()
        assert all(f > 0 for f in before), before
        saved = admin.put(
            f"/api/settings/prices/cluster/{name}",
            json={"cpu_price": 3 * DEFAULT_CPU_PRICE, "memory_price": 3 * DEFAULT_MEMORY_PRICE},
            headers=csrf,
        )
        assert saved.status_code == 200, saved.text
        after = figures()
        for old, new in zip(before, after, strict=True):
            assert new == pytest.approx(3 * old, abs=0.03), (before, after)
        # The workload's cost is the cost report's line for it, at the same prices.
        workload = admin.get(
            "/api/workloads", params={"cluster": name, "sort": "-waste_usd", "limit": 1}
        ).json()
        wid = workload["items"][0]["id"]
        detail = admin.get(f"/api/workloads/{wid}").json()["cost"]
        lines = admin.get(
            "/api/cost", params={"by": "workload", "days": detail["days"], "limit": 1000}
        ).json()
        (line,) = [
            item for item in lines["items"] if item["key"] == wid
        ]  # both are cluster/namespace/Kind/name
        assert line["monthly_usd"] == pytest.approx(detail["monthly_usd"], abs=0.01)
