"""Failed logins are counted in the database: two processes' services over one database share the
limit; the sign-in and price rows behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kubecap.api.auth import AuthService, Role
from kubecap.api.problems import AuthError, TooManyAttempts
from kubecap.config import ApiSettings
from kubecap.errors import ConfigError
from kubecap.store import Store, upgrade_database
from kubecap.store.signin_repo import PriceOverride
from tests.store.conftest import BACKENDS, PostgresServer, postgres_server  # noqa: F401 - a fixture

PASSWORD = "a long enough password"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'k.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    created = server.create_database()
    try:
        upgrade_database(created)
        yield created
    finally:
        server.drop_database(created)


async def test_the_limit_holds_across_services_and_expires(url: str) -> None:
    settings = ApiSettings(login_attempts=3, login_window_seconds=60)
    clock = Clock()
    async with await Store.open(url) as one, await Store.open(url) as two:
        first, second = AuthService(one, settings, clock), AuthService(two, settings, clock)
        await first.create_user("tests", "ada", Role.VIEWER, PASSWORD)
        for service in (first, second, first):
            with pytest.raises(AuthError):
                await service.login("ada", "wrong", "10.0.0.1")
        with pytest.raises(TooManyAttempts, match="wait 61 s") as refused:
            await second.login("ada", PASSWORD, "10.0.0.1")
        assert refused.value.retry_after == 61
        # Another address is its own key; the window passes and the right password is accepted.
        await second.login("ada", PASSWORD, "10.0.0.2")
        clock.now += timedelta(seconds=61)
        await first.login("ada", PASSWORD, "10.0.0.1")
        # A success clears the count.
        for _ in range(2):
            with pytest.raises(AuthError):
                await second.login("ada", "wrong", "10.0.0.1")
        await first.login("ada", PASSWORD, "10.0.0.1")
        with pytest.raises(AuthError):
            await second.login("ada", "wrong", "10.0.0.1")
        await first.login("ada", PASSWORD, "10.0.0.1")


async def test_prices_and_oidc_rows_round_trip(url: str) -> None:
    clock = Clock()
    async with await Store.open(url) as store:
        for cpu in (0.04, 0.05):  # the second is an update of the same (scope, name)
            await store.save_price(PriceOverride("cluster", "demo", cpu, 0.005, clock(), "ada"))
        assert [(p.name, p.cpu_price) for p in await store.price_overrides()] == [("demo", 0.05)]
        assert await store.delete_price("cluster", "demo") and not await store.delete_price("cluster", "demo")
        await store.add_oidc_login("s" * 64, "nonce", "verifier", expires_at=clock() + timedelta(minutes=10))
        taken = await store.take_oidc_login("s" * 64, now=clock())
        assert taken is not None and (taken.nonce, taken.verifier) == ("nonce", "verifier")
        assert await store.take_oidc_login("s" * 64, now=clock()) is None  # used once
        await store.add_oidc_login("t" * 64, "n", "v", expires_at=clock() - timedelta(seconds=1))
        assert await store.take_oidc_login("t" * 64, now=clock()) is None  # expired
        user, before = await store.oidc_sign_in(
            "http://idp", "sub-1", "ada", "viewer", password_hash="x", now=clock()
        )
        assert (user.username, user.role, before) == ("ada", "viewer", None)
        again, before = await store.oidc_sign_in(
            "http://idp", "sub-1", "ada", "admin", password_hash="x", now=clock()
        )
        assert (again.id, again.role, before) == (user.id, "admin", "viewer")
        with pytest.raises(ConfigError, match="belongs to a local user"):
            await store.oidc_sign_in("http://idp", "sub-2", "ada", "viewer", password_hash="x", now=clock())
