"""Failed logins are counted in the database: two processes' services over one database share the limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kubecap.api.auth import AuthService, Role
from kubecap.api.problems import AuthError, TooManyAttempts
from kubecap.config import ApiSettings
from kubecap.store import Store

PASSWORD = "a long enough password"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_the_limit_holds_across_services_and_expires(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
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
