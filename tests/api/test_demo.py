"""`kubecap demo`: it serves the UI with a printed URL and admin password; `--no-serve` prints the report."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from tests.api.conftest import start, stop


def test_demo_serves_the_ui_and_the_api_with_a_generated_admin_password() -> None:
    process, url, password = start(["demo", "--days", "2", "--port", "0"])
    try:
        assert url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=url, timeout=30) as client:
            assert client.get("/login").status_code == 200
            login = client.post("/api/auth/login", json={"username": "admin", "password": password})
            assert login.status_code == 200, login.text
            assert client.get("/api/workloads").json()["total"] > 5
            # One session for the API and the UI: the API's login opens the pages too.
            assert client.get("/", follow_redirects=False).status_code == 200
        with httpx.Client(base_url=url, timeout=30) as stranger:
            assert stranger.get("/", follow_redirects=False).headers["location"] == "/login?next=/"
    finally:
        stop(process)


def test_demo_no_serve_prints_the_report_and_recommendations() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kubecap.cli", "demo", "--days", "2", "--no-serve", "--format", "json"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "containers:" in done.stderr and "stored in the database" in done.stderr
    assert '"namespace"' in done.stdout
