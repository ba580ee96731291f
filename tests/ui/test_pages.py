"""The pages in-process with NiceGUI's simulated user: login, every page, forbidden actions and bad input.

The pages are registered over a real store (a few days of the simulated cluster) and the
same services the API uses; no browser is involved (tests/ui/test_browser.py has one).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nicegui.storage import Storage
from nicegui.testing.user import User
from nicegui.testing.user_simulation import user_simulation

from kubecap.api.auth import Role
from kubecap.api.context import ApiContext
from kubecap.config import Settings
from kubecap.store import Store
from kubecap.ui.app import register

PASSWORD = "a long enough password"
_names = itertools.count()


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


async def log_in(user: User, ctx: ApiContext, role: Role) -> str:
    name = f"ui-{role.value}-{next(_names)}-{id(user)}"
    await ctx.auth.create_user("tests", name, role, PASSWORD)
    await user.open("/login")
    user.find(marker="username").type(name)
    user.find(marker="password").type(PASSWORD)
    user.find(marker="login").click()
    # The login hands the session to /auth/session, which sets the cookie and redirects to the overview:
    # two requests in a background navigation, so wait longer than should_see's default.
    await user.should_see("Cost per month", retries=100)
    return name


async def test_pages_need_a_login(user: User) -> None:
    await user.open("/workloads")
    await user.should_see("Log in")


async def test_a_wrong_password_gets_one_sentence(user: User) -> None:
    await user.open("/login")
    user.find(marker="username").type("admin")
    user.find(marker="password").type("wrong")
    user.find(marker="login").click()
    await user.should_see("wrong user name or password")


async def test_every_page_opens(user: User, ctx: ApiContext) -> None:
    await log_in(user, ctx, Role.VIEWER)
    for path, text in (
        ("/workloads", "Search"),
        ("/control", "Control specs"),
        ("/operations", "Schedule a task"),
        ("/nodes", "Daily node figures"),
        ("/audit", "Export CSV"),
        ("/settings", "Secrets are never shown"),
        ("/workloads/demo/nowhere/Deployment/ghost", "has no stored usage"),
        ("/workloads/demo/shop/Pod/ghost", "kind 'Pod' is unknown"),
    ):
        await user.open(path)
        await user.should_see(text)


async def test_a_viewer_cannot_schedule_a_task(user: User, ctx: ApiContext) -> None:
    await log_in(user, ctx, Role.VIEWER)
    await user.open("/operations")
    user.find(marker="task-target").type("demo/shop/Deployment/frontend")
    user.find(marker="task-submit").click()
    await user.should_see("cannot do this")
    assert not [t for t in await ctx.tasks.tasks() if t.created_by.startswith("ui-viewer")]


async def test_an_operator_schedules_a_task_and_bad_cron_is_explained(user: User, ctx: ApiContext) -> None:
    name = await log_in(user, ctx, Role.OPERATOR)
    await user.open("/operations")
    user.find(marker="task-target").type("demo/shop/Deployment/frontend")
    user.find(marker="task-cron").type("whenever")
    user.find(marker="task-submit").click()
    await user.should_see("cron")
    user.find(marker="task-cron").clear().type("30 6 * * 1")
    user.find(marker="task-submit").click()
    await user.should_see("Task added")
    assert [t for t in await ctx.tasks.tasks() if t.created_by == name and t.schedule.cron == "30 6 * * 1"]


async def test_an_admin_sets_a_namespace_enforcement_mode(user: User, ctx: ApiContext) -> None:
    await log_in(user, ctx, Role.ADMIN)
    await user.open("/control")
    user.find(marker="policy-namespace").type("ui-policy")
    user.find(marker="policy-save").click()
    await user.should_see("demo/ui-policy: ")
    assert [p for p in await ctx.control.policies("demo") if p.namespace == "ui-policy"]
