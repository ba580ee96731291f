"""The pages in-process with NiceGUI's simulated user: login, every page, forbidden actions and bad input.

The pages are registered over a real store (a few days of the simulated cluster) and the
same services the API uses; no browser is involved (tests/ui/test_browser.py has one).
"""

from __future__ import annotations

import itertools
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
from kubecap.config import OidcSettings, Settings
from kubecap.domain.audit import AuditFilter
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.errors import NotFoundError
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


async def test_a_workload_page_shows_its_cost_at_the_prices_in_force(user: User, ctx: ApiContext) -> None:
    await log_in(user, ctx, Role.VIEWER)
    first = (await queries.summaries(ctx, None))[0]
    detail = await queries.workload(ctx, first.ref)
    await user.open(f"/workloads/{first.ref}")
    await user.should_see(f"Cost ${detail['cost']['monthly_usd']:,.2f} per month")


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


async def test_an_operator_edits_a_control_spec_and_bad_values_are_explained(
    user: User, ctx: ApiContext
) -> None:
    name = await log_in(user, ctx, Role.OPERATOR)
    await user.open("/control")
    user.find(marker="spec-target").type("demo/shop/Deployment/ui-edited")
    user.find(marker="spec-replicas").type("-2")
    user.find(marker="spec-save").click()
    await user.should_see("replicas -2 is negative")
    user.find(marker="spec-replicas").clear().type("3")
    user.find(marker="spec-container").type("app")
    user.find(marker="spec-cpu-request").type("lots")
    user.find(marker="spec-save").click()
    await user.should_see("not a Kubernetes quantity")
    user.find(marker="spec-cpu-request").clear().type("2")
    user.find(marker="spec-cpu-limit").type("1")
    user.find(marker="spec-save").click()
    await user.should_see("is below the request")
    user.find(marker="spec-cpu-limit").clear().type("4")
    user.find(marker="spec-memory-request").type("256Mi")
    user.find(marker="spec-save").click()
    await user.should_see("Saved:")
    ref = WorkloadRef("demo", "shop", WorkloadKind.DEPLOYMENT, "ui-edited")
    spec = await ctx.control.spec(ref)
    assert spec.replicas == 3 and spec.containers[0].requests == {"cpu": "2", "memory": "256Mi"}
    events = await ctx.store.audit_events(AuditFilter(actor=name))
    assert [e.action for e in events if e.target.endswith("ui-edited")]
    user.find(marker="spec-unset").click()
    await user.should_see("Removed:")
    with pytest.raises(NotFoundError):
        await ctx.control.spec(ref)


async def test_a_viewer_sees_no_editors(user: User, ctx: ApiContext) -> None:
    await log_in(user, ctx, Role.VIEWER)
    await user.open("/control")
    await user.should_not_see(marker="spec-save")
    await user.should_not_see(marker="policy-save")
    await user.open("/settings")
    await user.should_see("Prices")
    await user.should_not_see(marker="price-save")
    await user.should_not_see(marker="channel-save")
    await user.should_not_see(marker="prometheus-test")


async def test_an_admin_changes_a_price_and_adds_a_channel_whose_url_is_never_shown(
    user: User, ctx: ApiContext
) -> None:
    await log_in(user, ctx, Role.ADMIN)
    await user.open("/settings")
    user.find(marker="price-cpu").type("abc")
    user.find(marker="price-memory").type("0.01")
    user.find(marker="price-save").click()
    await user.should_see("is not a number")
    user.find(marker="price-cpu").clear().type("0.045")
    user.find(marker="price-save").click()
    await user.should_see("Price saved for cluster demo")
    assert [(p.scope, p.name, p.cpu_price) for p in await ctx.store.price_overrides()] == [
        ("cluster", "demo", 0.045)
    ]
    secret = "json://127.0.0.1:9/secret-hook-path"
    user.find(marker="channel-name").type("ui-oncall")
    user.find(marker="channel-urls").type(secret)
    user.find(marker="channel-save").click()
    await user.should_see("Channel ui-oncall saved")
    await user.open("/settings")
    (table,) = [e for e in user.find(ui.table).elements if e.props.get("data-testid") == "channels-table"]
    assert isinstance(table, ui.table)
    assert "json://••••" in str(table.rows) and "secret-hook-path" not in str(table.rows)
    user.find(marker="channel-name").type("ui-oncall")
    user.find(marker="channel-test").click()
    await user.should_see("Test to ui-oncall failed")
    user.find(marker="channel-delete").click()
    await user.should_see("Channel ui-oncall deleted")


async def test_the_nodes_page_says_it_shows_daily_figures(user: User, ctx: ApiContext) -> None:
    await log_in(user, ctx, Role.VIEWER)
    await user.open("/nodes")
    await user.should_see("no cluster API is wired for demo")


async def test_an_action_after_the_session_ended_elsewhere_is_refused(user: User, ctx: ApiContext) -> None:
    await log_in(user, ctx, Role.OPERATOR)
    await user.open("/control")
    # The same session the API uses: a logout through the API (here: the service) ends it for the page too.
    await ctx.auth.logout(await ctx.auth.from_session(user.http_client.cookies["kubecap_session"]))
    user.find(marker="spec-target").type("demo/shop/Deployment/too-late")
    user.find(marker="spec-replicas").type("1")
    user.find(marker="spec-save").click()
    await user.should_see("Your session has ended")
    assert not [s for s in await ctx.control.specs(cluster="demo") if s.ref.name == "too-late"]


async def test_the_login_page_shows_the_oidc_callback_s_sentence_and_ignores_the_url(user: User) -> None:
    await user.open("/login?error=Call+555+for+help")
    await user.should_not_see("Call 555")
    user.http_client.cookies.set("kubecap_login_error", "the%20provider%20said%20no")
    await user.open("/login")
    await user.should_see("the provider said no")


async def test_the_login_page_offers_single_sign_on_when_oidc_is_configured(
    seeded: Settings, tmp_path: Path
) -> None:
    oidc = OidcSettings.model_validate(
        {"issuer": "http://127.0.0.1:9", "client_id": "kubecap", "label": "Use SSO"}
    )
    settings = seeded.model_copy(update={"oidc": oidc})
    Storage.path = tmp_path
    async with await Store.open(settings.database_url) as store, user_simulation() as user:
        register(ApiContext.build(settings, store))
        await user.open("/login")
        await user.should_see("Use SSO")
        assert user.find("Use SSO").elements.pop().props["href"] == "/api/auth/oidc/login"
