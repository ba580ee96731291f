"""A real `kubecap serve` over a store holding a few days of the simulated cluster, on 127.0.0.1.

The server runs as a subprocess of the real command line (a free port, the first-run admin
password read from what it prints), and tests talk to it over HTTP with httpx.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubecap import wiring
from kubecap.cli.common import run
from kubecap.cli.recommend import recommend_all
from kubecap.cli.usage import collect_clusters
from kubecap.config import Settings, load_settings

DAYS = 4


@dataclass
class Server:
    url: str
    password: str
    database_url: str
    process: subprocess.Popen[str]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def login(self, username: str = "admin", password: str | None = None) -> tuple[httpx.Client, str]:
        """A client holding a session cookie, and the session's CSRF token."""
        client = self.client()
        answer = client.post(
            "/api/auth/login", json={"username": username, "password": password or self.password}
        )
        assert answer.status_code == 200, answer.text
        return client, answer.json()["csrf_token"]

    def token(self, role: str) -> str:
        """An API token of a fresh user with ``role``."""
        admin, csrf = self.login()
        name = f"{role}-{time.monotonic_ns()}"
        created = admin.post(
            "/api/users", json={"username": name, "role": role}, headers={"X-CSRF-Token": csrf}
        )
        admin.close()
        assert created.status_code == 201, created.text
        user, user_csrf = self.login(name, created.json()["password"])
        token = user.post("/api/tokens", json={"name": "tests"}, headers={"X-CSRF-Token": user_csrf})
        user.close()
        assert token.status_code == 201, token.text
        secret: str = token.json()["token"]
        return secret


def seeded_settings(tmp: Path) -> Settings:
    overrides: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp / 'kubecap.db'}",
        "clusters": [wiring.demo_cluster()],
    }
    settings = load_settings(None, **overrides)
    run(collect_clusters(settings, list(settings.clusters), DAYS, force=False))
    recommend_all(settings)
    return settings


def start(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 120
) -> tuple[subprocess.Popen[str], str, str]:
    """Run a kubecap command that serves; the URL and the first-run password it prints."""
    environment = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1", **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "kubecap.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    )
    assert process.stdout is not None
    url = password = ""
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (url and password):
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if found := re.search(r"serving at (http://\S+/)", line):
            url = found.group(1)
        if found := re.search(r"with password (\S+)", line):
            password = found.group(1)
    if not (url and password):
        stop(process)
        raise AssertionError("the server did not start:\n" + "".join(lines))
    # Keep reading its output so the pipe never fills and blocks it.
    threading.Thread(target=drain, args=(process,), daemon=True).start()
    wait_ready(url)
    return process, url, password


def drain(process: subprocess.Popen[str]) -> None:
    try:
        for _ in process.stdout or ():
            pass
    except ValueError:  # closed by stop()
        pass


def wait_ready(url: str) -> None:
    for _ in range(200):
        try:
            if httpx.get(url + "readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} never became ready")


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return seeded_settings(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="session")
def server(seeded: Settings) -> Iterator[Server]:
    process, url, password = start(
        ["serve", "--database-url", seeded.database_url, "--host", "127.0.0.1", "--port", "0"]
    )
    try:
        yield Server(url, password, seeded.database_url, process)
    finally:
        stop(process)


@pytest.fixture(scope="session")
def tokens(server: Server) -> dict[str, str]:
    """An API token per role (each of a fresh user)."""
    return {role: server.token(role) for role in ("viewer", "operator", "admin")}
