"""The Cost page in-process with NiceGUI's simulated user, over the hand-calculated store of test_api."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nicegui import ui
from nicegui.storage import Storage
from nicegui.testing.user import User
from nicegui.testing.user_simulation import user_simulation

from kubecap.api.auth import Role
from kubecap.api.context import ApiContext
from kubecap.config import load_settings
from kubecap.store import Store
from kubecap.ui.app import register
from tests.cost.test_api import DB, WEB, seed

PASSWORD = "a long enough password"


def rows_of(user: User, marker: str) -> list[dict[str, Any]]:
    table = user.find(marker=marker).elements.pop()
    assert isinstance(table, ui.table)
    return list(table.rows)


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[ApiContext]:
    url = f"sqlite:///{tmp_path / 'kubecap.db'}"
    async with await Store.open(url) as store:
        await seed(url)
        settings = load_settings(
            None,
            database_url=url,
            cost={
                "cpu_price": 0.5,
                "memory_price": 0.25,
                "pools": {"gpu": {"cpu_price": 2.0, "memory_price": 1.0}},
            },
        )
        yield ApiContext.build(settings, store)


@pytest.fixture
async def user(ctx: ApiContext, tmp_path: Path) -> AsyncIterator[User]:
    Storage.path = tmp_path / "storage"  # NiceGUI empties and removes it: not the database's folder
    Storage.path.mkdir()
    async with user_simulation() as simulated:
        register(ctx)
        await ctx.auth.create_user("tests", "ui-viewer", Role.VIEWER, PASSWORD)
        await simulated.open("/login")
        simulated.find(marker="username").type("ui-viewer")
        simulated.find(marker="password").type(PASSWORD)
        simulated.find(marker="login").click()
        await simulated.should_see("Cost per month", retries=100)
        yield simulated


async def test_the_cost_page_shows_the_hand_calculated_figures(user: User) -> None:
    await user.open("/cost")
    await user.should_see("$114.00 over 2 days")  # 84 + 30; the seeded history holds 2 of the 7 days asked
    await user.should_see("$2,190.00")  # 1277.50 + 912.50 a month
    await user.should_see("$3,285.00")  # idle node a: $108 a day
    await user.should_see("$1,733.75 (mean of the last 7 days)")  # $57 a day
    rows = rows_of(user, "cost-table")
    assert [(r["key"], r["usd"], r["monthly"]) for r in rows] == [
        (str(WEB), 84.0, 1277.5),
        (str(DB), 30.0, 912.5),
    ]
    (idle, full) = rows_of(user, "idle-table")
    assert (idle["node"], idle["cores"], idle["gib"], idle["monthly"]) == ("prod/a", 3.0, 12.0, 3285.0)
    assert (full["pool"], full["monthly"]) == ("gpu", 0.0)


async def test_per_namespace_and_bad_input(user: User) -> None:
    await user.open("/cost?by=namespace")
    rows = rows_of(user, "cost-table")
    assert [(r["key"], r["usd"]) for r in rows] == [("prod/shop", 84.0), ("prod/data", 30.0)]
    await user.open("/cost?by=team")
    await user.should_see("cannot roll costs up by 'team': use workload, namespace or cluster")
    await user.open("/cost?days=0")
    await user.should_see("days 0 must be between 1 and 400")
