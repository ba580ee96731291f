"""The API app served by uvicorn on 127.0.0.1 inside the test process, over a store of its own loop.

For tests that need to plug in what a subprocess cannot be given: an in-memory cluster (the
fake where a real apiserver cannot run), a task runner over it, OIDC settings pointing at the
test provider. Requests still go over real HTTP.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from kubecap.api.app import create_app
from kubecap.api.auth import Role
from kubecap.api.context import ApiContext
from kubecap.api.live import Live
from kubecap.config import Settings
from kubecap.store import Store

PASSWORD = "a long enough password"
LiveFactory = Callable[[Store], Live]


def username(role: Role) -> str:
    return f"t-{role.value}"


def copy_settings(seeded: Settings, tmp: Path, **changes: Any) -> Settings:
    """``seeded`` over a copy of its SQLite database (tests here add users and settings of their own)."""
    source = Path(seeded.database_url.removeprefix("sqlite:///"))
    target = tmp / "kubecap.db"
    shutil.copyfile(source, target)
    return seeded.model_copy(update={"database_url": f"sqlite:///{target}", **changes})


@contextmanager
def serve(settings: Settings, live: LiveFactory | None = None) -> Iterator[str]:
    """The base URL (with a trailing slash) of the app over ``settings``; users t-viewer, t-operator and
    t-admin exist (password PASSWORD)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    ready = threading.Event()
    failure: list[BaseException] = []
    holder: dict[str, uvicorn.Server] = {}

    async def main() -> None:
        async with await Store.open(settings.database_url) as store:
            ctx = ApiContext.build(settings, store)
            if live is not None:
                ctx = replace(ctx, live=live(store))
            for role in Role:
                if await store.user_by_name(username(role)) is None:
                    await ctx.auth.create_user("tests", username(role), role, PASSWORD)
            server = uvicorn.Server(uvicorn.Config(create_app(ctx), log_level="warning", lifespan="off"))
            holder["server"] = server
            ready.set()
            await server.serve(sockets=[sock])

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the test below
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="api-under-test", daemon=True)
    thread.start()
    ready.wait(60)
    if failure:
        raise failure[0]
    for _ in range(200):
        try:
            if httpx.get(url + "healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            threading.Event().wait(0.05)
    try:
        yield url
    finally:
        holder["server"].should_exit = True
        thread.join(30)
        sock.close()


def login(url: str, role: Role) -> tuple[httpx.Client, dict[str, str]]:
    """A client with a session of the user named after ``role``, and the CSRF header to send."""
    answer = httpx.post(url + "api/auth/login", json={"username": username(role), "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    client = httpx.Client(base_url=url, timeout=30, cookies=answer.cookies)
    return client, {"X-CSRF-Token": answer.json()["csrf_token"]}
