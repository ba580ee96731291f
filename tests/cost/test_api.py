"""The cost routes over real HTTP (`kubecap serve` on 127.0.0.1), checked against hand calculations.

The store holds two days of two workloads, two nodes and one recommendation; prices come from
the settings file: $0.5 per core-hour and $0.25 per GiB-hour, the node pool ``gpu`` at $2 / $1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubecap.cli.common import run
from kubecap.domain.container import ContainerRef
from kubecap.domain.node import NodeUsage
from kubecap.domain.recommendation import Bounds, Recommendation, Resources, Risk, Savings, Status
from kubecap.domain.usage import UsageProfile
from kubecap.domain.window import DAY, DailyWindow
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.ports import WindowUsage
from kubecap.store import Store
from kubecap.store.signin_repo import PriceOverride
from tests.api.conftest import Server, start, stop
from tests.recommend.test_cli import kubecap

GIB = 2.0**30
WEB = WorkloadRef("prod", "shop", WorkloadKind.DEPLOYMENT, "web")
DB = WorkloadRef("prod", "data", WorkloadKind.STATEFULSET, "db")
D1, D2 = date(2026, 11, 1), date(2026, 11, 2)


def whole_day(day: date) -> DailyWindow:
    start_at = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return DailyWindow(day, DAY, start_at, start_at.replace(day=day.day + 1))


def profile(ref: WorkloadRef, day: date, **figures: float) -> UsageProfile:
    return UsageProfile(ref, "app", day, DAY, **figures)  # type: ignore[arg-type]


def node(name: str, pool: str | None, cpu_requests: float, mem_requests: float) -> NodeUsage:
    return NodeUsage("prod", name, D1, 0.1, GIB, 4.0, 16 * GIB, cpu_requests, mem_requests, False, pool)


def recommendation(cores: float, gib: float) -> Recommendation:
    return Recommendation(
        ref=ContainerRef(WEB, "app"),
        strategy="peak",  # serve's background loop recomputes "kubecap": a strategy it leaves alone
        settings={},
        computed_at=datetime(2026, 11, 3, tzinfo=UTC),
        window=DAY,
        first_day=D1,
        last_day=D2,
        days=2,
        status=Status.OK,
        target=Resources(0.5, None, GIB, None),
        current=Resources(1.0, None, 2 * GIB, None),
        bounds=Bounds(),
        confidence=0.2,
        explanation="test",
        savings=Savings(cores, gib, None),
        risk=Risk(),
    )


async def seed(url: str) -> None:
    async with await Store.open(url) as store:
        day1 = [
            # request above usage: 2 x 1 core x 24 h x $0.5 = $24; 2 x 2 GiB x 24 h x $0.25 = $24
            profile(WEB, D1, replicas_avg=2, cpu_request=1, cpu_p95=0.4, mem_request=2 * GIB, mem_p95=GIB),
            # usage above request: 1 x 2 cores x 24 x 0.5 = $24; 1 GiB x 24 x 0.25 = $6
            profile(DB, D1, replicas_avg=1, cpu_request=0.5, cpu_p95=2, mem_p95=GIB),
        ]
        # node a: 3 idle cores x 24 x 0.5 = $36 and 12 idle GiB x 24 x 0.25 = $72 a day; b is full
        nodes = [node("a", None, 1.0, 4 * GIB), node("b", "gpu", 4.0, 16 * GIB)]
        await store.save_window("prod", whole_day(D1), WindowUsage(day1, nodes=nodes))
        # 1 x 1.5 cores x 24 x 0.5 = $18; 1 x 3 GiB x 24 x 0.25 = $18
        day2 = [
            profile(WEB, D2, replicas_avg=1, cpu_request=1, cpu_p95=1.5, mem_request=2 * GIB, mem_p95=3 * GIB)
        ]
        await store.save_window("prod", whole_day(D2), WindowUsage(day2))
        # saves 730 core-hours and costs 365 GiB-hours a month: 730 x 0.5 - 365 x 0.25 = $273.75
        await store.save_recommendations(
            [recommendation(730.0, -365.0), replace(recommendation(1, 1), strategy="vpa")]
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("cost-api")
    url = f"sqlite:///{root / 'kubecap.db'}"
    config = root / "kubecap.yaml"
    config.write_text(
        f"database_url: {url}\n"
        "cost: {cpu_price: 0.5, memory_price: 0.25, pools: {gpu: {cpu_price: 2.0, memory_price: 1.0}}}\n"
    )

    async def opened() -> None:
        async with await Store.open(url):
            pass

    run(opened())  # migrates the new file
    run(seed(url))
    process, base, password = start(["serve", "--config", str(config), "--host", "127.0.0.1", "--port", "0"])
    try:
        yield Server(base, password, url, process)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def viewer(server: Server) -> Iterator[httpx.Client]:
    token = server.token("viewer")
    with httpx.Client(
        base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client


def get(client: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    answer = client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_cost_per_workload_namespace_and_cluster(viewer: httpx.Client) -> None:
    web = {
        "key": str(WEB),
        "days": 2,
        "cpu_usd": 42.0,
        "memory_usd": 42.0,
        "usd": 84.0,
        "monthly_usd": 1277.5,
    }
    db = {"key": str(DB), "days": 1, "cpu_usd": 24.0, "memory_usd": 6.0, "usd": 30.0, "monthly_usd": 912.5}
    by_workload = get(viewer, "/api/cost")
    assert by_workload["items"] == [web, db]
    assert (by_workload["total"], by_workload["total_usd"]) == (2, 114.0)
    by_namespace = get(viewer, "/api/cost", by="namespace")
    assert [(i["key"], i["usd"]) for i in by_namespace["items"]] == [("prod/shop", 84.0), ("prod/data", 30.0)]
    (cluster,) = get(viewer, "/api/cost", by="cluster")["items"]
    # $114 over 2 days: 114 / 48 h x 730 h
    assert (cluster["key"], cluster["usd"], cluster["monthly_usd"]) == ("prod", 114.0, 1733.75)


def test_cost_pages_sorts_searches_and_takes_a_price_for_one_answer(viewer: httpx.Client) -> None:
    second = get(viewer, "/api/cost", limit=1, offset=1)
    assert [i["key"] for i in second["items"]] == [str(DB)] and second["total"] == 2
    assert [i["key"] for i in get(viewer, "/api/cost", sort="usd")["items"]] == [str(DB), str(WEB)]
    assert [i["key"] for i in get(viewer, "/api/cost", q="data")["items"]] == [str(DB)]
    assert get(viewer, "/api/cost", namespace="shop")["total_usd"] == 84.0
    # $1 per core-hour doubles every CPU part: 2 x (24 + 18 + 24) + memory 24 + 18 + 6
    assert get(viewer, "/api/cost", by="cluster", cpu_price=1.0)["total_usd"] == 180.0


def test_idle_nodes_are_priced_by_their_pool(viewer: httpx.Client) -> None:
    idle = get(viewer, "/api/cost/idle-nodes")
    # node a: $108 a day -> 108 x 730 / 24 a month; node b (pool gpu) has nothing idle
    assert idle["total_monthly_usd"] == 3285.0
    assert [
        (n["node"], n["pool"], n["idle_cores"], n["idle_gib"], n["monthly_usd"]) for n in idle["items"]
    ] == [
        ("a", None, 3.0, 12.0, 3285.0),
        ("b", "gpu", 0.0, 0.0, 0.0),
    ]


def test_next_month_falls_back_to_the_recent_mean_and_says_why(viewer: httpx.Client) -> None:
    outlook = get(viewer, "/api/cost/outlook")
    # (48 + 30 + 36) / 2 days = $57 a day -> 57 x 730 / 24
    assert outlook["monthly_usd"] == 1733.75
    assert outlook["method"] == "mean of the last 7 days"
    assert outlook["reason"].startswith("cannot forecast")


def test_savings_of_recommendations_at_the_prices_in_force(viewer: httpx.Client) -> None:
    assert get(viewer, "/api/cost/savings")["strategy"] == "kubecap"  # the default
    saved = get(viewer, "/api/cost/savings", strategy="peak")
    assert saved["total_monthly_usd"] == 273.75
    (item,) = saved["items"]
    assert (item["workload"], item["container"], item["cpu_core_hours"], item["mem_gib_hours"]) == (
        str(WEB),
        "app",
        730.0,
        -365.0,
    )
    assert get(viewer, "/api/cost/savings", strategy="vpa")["total_monthly_usd"] == 0.75


@pytest.mark.parametrize(
    ("path", "params", "detail"),
    [
        ("/api/cost", {"cpu_price": -1}, "CPU price -1.0 is invalid"),
        ("/api/cost", {"memory_price": "nan"}, "memory price nan is invalid"),
        ("/api/cost", {"selector": "app in (web"}, "app in (web"),
        ("/api/cost", {"selector": "app=web"}, "has no Kubernetes API configured"),
        ("/api/cost", {"cluster": "nowhere"}, "no usage history of cluster 'nowhere'"),
        ("/api/cost", {"namespace": "nowhere"}, "namespace 'nowhere'"),
        ("/api/cost", {"sort": "colour"}, "cannot sort by 'colour'"),
        ("/api/cost/idle-nodes", {"cpu_price": "cheap"}, "cpu_price"),
        ("/api/cost", {"by": "team"}, "by"),
    ],
)
def test_bad_input_is_a_problem_document_in_one_sentence(
    viewer: httpx.Client, path: str, params: dict[str, Any], detail: str
) -> None:
    answer = viewer.get(path, params=params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert detail in answer.json()["detail"] and "\n" not in answer.json()["detail"]


def test_the_cli_prices_with_the_overrides_saved_in_settings_like_the_api(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kubecap.db'}"

    async def prepare() -> None:
        async with await Store.open(url) as store:
            await seed(url)
            at = datetime(2026, 11, 3, tzinfo=UTC)
            await store.save_price(PriceOverride("cluster", "prod", 1.0, 0.25, at, "alice"))

    run(prepare())
    config = tmp_path / "kubecap.yaml"
    config.write_text(f"database_url: {url}\ncost: {{cpu_price: 0.5, memory_price: 0.25}}\n")
    done = kubecap("cost", "--by", "cluster", "-f", "json", "--config", str(config))
    assert done.returncode == 0, done.stderr
    # $1 per core-hour for cluster prod: 2 x (24 + 18 + 24) + memory 24 + 18 + 6
    (line,) = json.loads(done.stdout)["lines"]
    assert (line["key"], line["usd"]) == ("prod", 180.0)
