"""The workloads page pages on the server: the browser receives one page of the cached summaries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.storage import Storage
from nicegui.testing.user import User
from nicegui.testing.user_simulation import user_simulation

from kubecap.api import queries
from kubecap.api.auth import Role
from kubecap.api.context import ApiContext
from kubecap.config import Settings
from kubecap.store import Store
from kubecap.ui import workloads
from kubecap.ui.app import register
from tests.ui.test_pages import log_in


@pytest.fixture
async def ctx(seeded: Settings) -> AsyncIterator[ApiContext]:
    async with await Store.open(seeded.database_url) as store:
        yield ApiContext.build(seeded, store)


@pytest.fixture
async def user(ctx: ApiContext, tmp_path: Path) -> AsyncIterator[User]:
    Storage.path = tmp_path
    async with user_simulation() as simulated:
        register(ctx)
        yield simulated


async def test_the_page_holds_one_page_and_knows_the_total(user: User, ctx: ApiContext) -> None:
    await log_in(user, ctx, Role.VIEWER)
    await user.open("/workloads")
    await user.should_see("Search")
    table = next(iter(user.find(ui.table).elements))
    total = len(await queries.summary_rows(ctx, None))
    assert table.pagination["rowsNumber"] == total
    assert len(table.rows) == min(total, workloads.ROWS_PER_PAGE)


async def test_pages_sort_and_search_on_the_server(ctx: ApiContext) -> None:
    everything = await queries.summary_rows(ctx, None)
    rows, pagination = await workloads._page(
        ctx, None, {"page": 2, "rowsPerPage": 3, "sortBy": "name", "descending": False}, None
    )
    names = sorted(r["name"] for r in everything)
    assert [r["name"] for r in rows] == names[3:6]
    assert pagination["rowsNumber"] == len(everything) and pagination["page"] == 2
    needle = everything[0]["name"]
    found, pagination = await workloads._page(ctx, None, {"page": 9, "rowsPerPage": 3}, needle)
    assert found and all(needle in r["name"] or needle in r["namespace"] for r in found)
    assert pagination["page"] == 1  # a search that shrinks the list goes back to its first page
    unknown, _ = await workloads._page(ctx, None, {"page": 1, "sortBy": "colour"}, None)
    assert unknown  # an unknown sort column is ignored, not an error page
