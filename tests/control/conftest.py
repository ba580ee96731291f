"""Fixtures for the control tests: the store fixtures of tests/store (SQLite and PostgreSQL), TLS
files from the webhook's own CA, and the webhook served over HTTPS on 127.0.0.1."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubecap.control.alerts import WebhookAlerts
from kubecap.control.certs import KeyPair, make_ca, make_serving
from kubecap.control.metrics import WebhookMetrics
from kubecap.control.recorder import Recorder
from kubecap.control.server import (
    AnnotationsLookup,
    StalePolicy,
    Webhook,
    WebhookOptions,
    WebhookServer,
    create_app,
    listening_socket,
)
from kubecap.control.snapshot import SnapshotHolder
from kubecap.control.tls import ReloadingContext
from kubecap.store import Store
from tests.control.builders import CLUSTER, NOW
from tests.notify_endpoint import Endpoint, notification_endpoint
from tests.store.conftest import (  # noqa: F401 - fixtures shared with the store tests
    backend,
    database_url,
    postgres_database,
    postgres_server,
)


@dataclass(frozen=True)
class TlsFiles:
    ca: KeyPair
    cert_file: Path
    key_file: Path

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.ca.cert_pem.decode())
        return context


def write_pair(pair: KeyPair, cert_file: Path, key_file: Path) -> None:
    cert_file.write_bytes(pair.cert_pem)
    key_file.write_bytes(pair.key_pem)


@pytest.fixture(scope="session")
def ca() -> KeyPair:
    return make_ca("kubecap-test-ca", datetime.now(UTC), 30)


@pytest.fixture
def tls_files(ca: KeyPair, tmp_path: Path) -> TlsFiles:
    serving = make_serving(ca, ["localhost", "127.0.0.1"], datetime.now(UTC), 30)
    files = TlsFiles(ca, tmp_path / "tls.crt", tmp_path / "tls.key")
    write_pair(serving, files.cert_file, files.key_file)
    return files


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:  # noqa: F811 - the fixture, not the import
    async with await Store.open(database_url) as opened:
        yield opened


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'webhook.db'}"


@dataclass
class Running:
    url: str
    client: httpx.AsyncClient
    webhook: Webhook
    recorder: Recorder
    tls: ReloadingContext

    async def post(self, payload: bytes, path: str = "/mutate?timeout=10s", **kwargs: Any) -> httpx.Response:
        headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
        return await self.client.post(self.url + path, content=payload, headers=headers, **kwargs)


Serve = Callable[..., Any]


@asynccontextmanager
async def serve_webhook(
    source: Any,
    tls_files: TlsFiles,
    *,
    clock: Callable[[], datetime] = lambda: NOW,
    on_stale: StalePolicy = StalePolicy.ENFORCE,
    stale_after_s: float = 300.0,
    monotonic: Callable[[], float] | None = None,
    annotations: AnnotationsLookup | None = None,
    refresh_s: float = 0.05,
    alerts: WebhookAlerts | None = None,
) -> AsyncIterator[Running]:
    """The webhook over ``source`` (a Store, or anything with its two snapshot methods) on 127.0.0.1."""
    holder_args: dict[str, Any] = {"stale_after_s": stale_after_s}
    if monotonic is not None:
        holder_args["clock"] = monotonic
    holder = SnapshotHolder(source, CLUSTER, **holder_args)
    metrics = WebhookMetrics()
    recorder = Recorder(source, on_drop=lambda n: metrics.audit_dropped.inc(n), alerts=alerts)
    webhook = Webhook(
        holder,
        recorder,
        metrics,
        WebhookOptions(cluster=CLUSTER, on_stale=on_stale),
        clock=clock,
        annotations=annotations,
    )
    tls = ReloadingContext(tls_files.cert_file, tls_files.key_file)
    background = [lambda: holder.run(refresh_s), recorder.run, lambda: tls.run(0.05)]
    app = create_app(webhook, background=[*background, *([alerts.run] if alerts else [])])
    server = WebhookServer(app, tls, listening_socket("127.0.0.1", 0))
    async with server.running():
        url = f"https://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(verify=tls_files.client_context(), timeout=10) as client:
            yield Running(url, client, webhook, recorder, tls)


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    """A notification target (apprise's json://) on 127.0.0.1 that answers ``endpoint.status``."""
    with notification_endpoint() as found:
        yield found
