"""The Prometheus client against a real Prometheus and against small scripted HTTP(S) servers on loopback.

The real Prometheus (conftest) proves the queries and the parsing; the scripted servers make
the failures that a healthy Prometheus never shows on demand: 5xx, slowness, HTML proxies,
refused credentials, TLS with a private CA.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ipaddress
import json
import math
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubecap.errors import ConfigError, PrometheusQueryError, PrometheusUnreachable
from kubecap.metrics.prometheus import PrometheusClient, PrometheusOptions, Sample

UTC = dt.UTC
QUERY = 'sum by (namespace) (rate(container_cpu_usage_seconds_total{namespace="shop"}[5m]))'
AT = dt.datetime(2024, 1, 1, 0, 10, tzinfo=UTC)

# --------------------------------------------------------------------------- real Prometheus


def fast(url: str, **overrides: Any) -> PrometheusOptions:
    """Options with test-sized timeouts and backoff."""
    settings: dict[str, Any] = {"timeout_s": 5.0, "retries": 2, "backoff_s": 0.01, **overrides}
    return PrometheusOptions(url=url, **settings)


@pytest.mark.prometheus
async def test_instant_query_returns_the_backfilled_values(
    prometheus_url: str, history_start: dt.datetime
) -> None:
    async with PrometheusClient(fast(prometheus_url)) as client:
        samples = await client.instant("kubecap_test_cpu", history_start + dt.timedelta(minutes=10))
        assert client.queries_sent == 1
    by_pod = {s.labels["pod"]: s for s in samples}
    assert set(by_pod) == {"web-1", "web-2"}
    assert by_pod["web-1"].labels == {"__name__": "kubecap_test_cpu", "namespace": "shop", "pod": "web-1"}
    assert by_pod["web-1"].value == 10.0
    assert by_pod["web-2"].value == 120.0


@pytest.mark.prometheus
async def test_scalar_result_is_one_unlabelled_sample(
    prometheus_url: str, history_start: dt.datetime
) -> None:
    async with PrometheusClient(fast(prometheus_url)) as client:
        samples = await client.instant(
            "scalar(sum(kubecap_test_cpu))", history_start + dt.timedelta(minutes=5)
        )
    assert samples == [Sample({}, 5.0 + 110.0)]


@pytest.mark.prometheus
async def test_range_query_returns_the_backfilled_series(
    prometheus_url: str, history_start: dt.datetime
) -> None:
    end = history_start + dt.timedelta(minutes=10)
    async with PrometheusClient(fast(prometheus_url)) as client:
        series = await client.range('kubecap_test_cpu{pod="web-2"}', history_start, end, step_s=60)
    assert len(series) == 1
    assert series[0].labels["pod"] == "web-2"
    assert series[0].timestamps.dtype == np.float64
    expected_ts = history_start.timestamp() + 60.0 * np.arange(11)
    np.testing.assert_array_equal(series[0].timestamps, expected_ts)
    np.testing.assert_array_equal(series[0].values, 100.0 + 2.0 * np.arange(11))


@pytest.mark.prometheus
async def test_nan_and_infinities_parse(prometheus_url: str, history_start: dt.datetime) -> None:
    at = history_start + dt.timedelta(minutes=3)
    async with PrometheusClient(fast(prometheus_url)) as client:
        samples = await client.instant("kubecap_test_special", at)
        series = await client.range("kubecap_test_special", at, at + dt.timedelta(minutes=2), step_s=30)
    by_kind = {s.labels["kind"]: s.value for s in samples}
    assert math.isnan(by_kind["nan"])
    assert by_kind["pinf"] == math.inf
    assert by_kind["ninf"] == -math.inf
    ranged = {s.labels["kind"]: s.values for s in series}
    assert len(ranged["nan"]) == 5
    assert np.isnan(ranged["nan"]).all()
    assert (ranged["pinf"] == np.inf).all()
    assert (ranged["ninf"] == -np.inf).all()


@pytest.mark.prometheus
async def test_syntax_error_names_the_query_and_prometheus_message(
    prometheus_url: str, history_start: dt.datetime
) -> None:
    async with PrometheusClient(fast(prometheus_url)) as client:
        with pytest.raises(PrometheusQueryError) as caught:
            await client.instant("sum(kubecap_test_cpu", history_start)
        assert client.requests_sent == 1, "a rejected query is not retried"
    message = str(caught.value)
    assert message.startswith("Prometheus rejected the query (400 bad_data:")
    assert "unclosed left parenthesis" in message
    assert message.endswith(": sum(kubecap_test_cpu")
    assert caught.value.status == 400
    assert caught.value.query == "sum(kubecap_test_cpu"


@pytest.mark.prometheus
async def test_instant_query_of_a_range_vector_points_at_range(
    prometheus_url: str, history_start: dt.datetime
) -> None:
    async with PrometheusClient(fast(prometheus_url)) as client:
        with pytest.raises(PrometheusQueryError, match=r"use range\(\)"):
            await client.instant("kubecap_test_cpu[5m]", history_start + dt.timedelta(minutes=10))


# --------------------------------------------------------------------------- scripted servers


@dataclass(frozen=True)
class Seen:
    """One request as the scripted server received it."""

    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay_s: float = 0.0


def ok_vector(value: str = "1") -> Reply:
    payload = {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, value]}]},
    }
    return Reply(body=json.dumps(payload).encode())


def ok_matrix() -> Reply:
    payload = {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"metric": {"a": "b"}, "values": [[1, "2"], [3, "4"]]}]},
    }
    return Reply(body=json.dumps(payload).encode())


def prom_error(status: int, error_type: str, error: str) -> Reply:
    return Reply(status, json.dumps({"status": "error", "errorType": error_type, "error": error}).encode())


Script = Callable[[int, Seen], Reply]


class _Server(ThreadingHTTPServer):
    owner: ScriptedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is part of the tests


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        self.server.owner.handle(self)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class ScriptedServer:
    """An HTTP(S) server on 127.0.0.1 that answers each request by a script and records it.

    ``hold_for`` makes each request wait (up to one second) until that many are in flight,
    so a client that does run requests in parallel is seen doing so.
    """

    script: Script
    tls: ssl.SSLContext | None = None
    hold_for: int = 0
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    _lock: threading.Condition = field(default_factory=threading.Condition)
    _stopping: threading.Event = field(default_factory=threading.Event)

    def handle(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode()
        form = {key: values[0] for key, values in parse_qs(raw).items()}
        seen = Seen(handler.command, handler.path, {k.lower(): v for k, v in handler.headers.items()}, form)
        with self._lock:
            index = len(self.seen)
            self.seen.append(seen)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._lock.notify_all()
            if self.hold_for:
                self._lock.wait_for(lambda: self.in_flight >= self.hold_for, timeout=1.0)
        try:
            if self.hold_for:
                self._stopping.wait(0.1)  # room for a request beyond the bound to show up
            reply = self.script(index, seen)
            if reply.delay_s:
                self._stopping.wait(reply.delay_s)
            handler.send_response(reply.status)
            handler.send_header("Content-Type", reply.content_type)
            handler.send_header("Content-Length", str(len(reply.body)))
            handler.end_headers()
            handler.wfile.write(reply.body)
        finally:
            with self._lock:
                self.in_flight -= 1

    def __enter__(self) -> ScriptedServer:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        if self.tls is not None:
            self._httpd.socket = self.tls.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    @property
    def port(self) -> int:
        port: int = self._httpd.server_address[1]
        return port

    def url(self, prefix: str = "", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{prefix}"


@pytest.fixture
def serve() -> Iterator[Callable[..., ScriptedServer]]:
    started: list[ScriptedServer] = []

    def start(script: Script, **kwargs: Any) -> ScriptedServer:
        server = ScriptedServer(script, **kwargs).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__()


async def test_retries_5xx_then_succeeds(serve: Callable[..., ScriptedServer]) -> None:
    server = serve(lambda n, _: prom_error(503, "unavailable", "warming up") if n < 2 else ok_vector("7"))
    async with PrometheusClient(fast(server.url(), retries=3)) as client:
        samples = await client.instant("up", AT)
        assert samples == [Sample({}, 7.0)]
        assert (client.queries_sent, client.requests_sent) == (1, 3)
    assert len(server.seen) == 3


async def test_persistent_503_gives_a_query_error_after_the_retries(
    serve: Callable[..., ScriptedServer],
) -> None:
    server = serve(lambda n, _: prom_error(503, "timeout", "query timed out in expression evaluation"))
    async with PrometheusClient(fast(server.url(), retries=2)) as client:
        with pytest.raises(PrometheusQueryError) as caught:
            await client.instant(QUERY, AT)
    assert len(server.seen) == 3
    message = str(caught.value)
    assert "failed the query 3 times (503 timeout: query timed out in expression evaluation)" in message
    assert message.endswith(QUERY)
    assert caught.value.status == 503


async def test_long_promql_is_shortened_in_the_message(serve: Callable[..., ScriptedServer]) -> None:
    server = serve(lambda n, _: prom_error(422, "execution", "too many samples"))
    long_query = "sum(" + " + ".join(f'foo{{pod="p{i}"}}' for i in range(200)) + ")"
    async with PrometheusClient(fast(server.url())) as client:
        with pytest.raises(PrometheusQueryError) as caught:
            await client.instant(long_query, AT)
    assert len(server.seen) == 1, "4xx is not retried"
    assert str(caught.value).startswith(
        "Prometheus rejected the query (422 execution: too many samples): sum("
    )
    assert len(str(caught.value)) < 400
    assert caught.value.query == long_query


async def test_closed_port_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with PrometheusClient(fast(f"http://127.0.0.1:{port}", retries=1)) as client:
        with pytest.raises(PrometheusUnreachable) as caught:
            await client.instant("up", AT)
        assert client.requests_sent == 2
    message = str(caught.value)
    assert message.startswith(f"cannot reach Prometheus at http://127.0.0.1:{port} (")
    assert message.endswith("check the URL and that it is reachable from here")


async def test_read_timeout_is_retried_then_unreachable(serve: Callable[..., ScriptedServer]) -> None:
    server = serve(lambda n, _: Reply(delay_s=5.0, body=ok_vector().body))
    async with PrometheusClient(fast(server.url(), timeout_s=0.3, retries=1)) as client:
        with pytest.raises(PrometheusUnreachable, match=r"no answer within 0\.3 s, 2 attempts"):
            await client.instant("up", AT)
    assert len(server.seen) == 2


async def test_requests_are_form_posts_under_the_path_prefix(serve: Callable[..., ScriptedServer]) -> None:
    server = serve(lambda n, seen: ok_matrix() if seen.path.endswith("_range") else ok_vector())
    options = fast(server.url("/prometheus/"), params={"partial_response": "false"})
    start = dt.datetime(2024, 1, 1, tzinfo=UTC)
    async with PrometheusClient(options) as client:
        await client.instant(
            "up", dt.datetime(2024, 1, 1, 1, 0, 0, 250000, tzinfo=dt.timezone(dt.timedelta(hours=1)))
        )
        series = await client.range("up", start, start + dt.timedelta(hours=1), step_s=90.5)
    instant, ranged = server.seen
    assert (instant.method, instant.path) == ("POST", "/prometheus/api/v1/query")
    assert instant.headers["content-type"] == "application/x-www-form-urlencoded"
    assert instant.form == {
        "query": "up",
        "time": "1704067200.250",
        "timeout": "5s",
        "partial_response": "false",
    }
    assert (ranged.method, ranged.path) == ("POST", "/prometheus/api/v1/query_range")
    assert ranged.form["start"] == "1704067200.000"
    assert ranged.form["end"] == "1704070800.000"
    assert ranged.form["step"] == "90.5"
    np.testing.assert_array_equal(series[0].values, [2.0, 4.0])
    np.testing.assert_array_equal(series[0].timestamps, [1.0, 3.0])


async def test_bearer_token_and_tenant_header_arrive(serve: Callable[..., ScriptedServer]) -> None:
    server = serve(lambda n, _: ok_vector())
    options = fast(server.url(), bearer_token="s3cret", headers={"X-Scope-OrgID": "team-a"})
    async with PrometheusClient(options) as client:
        await client.instant("up", AT)
    headers = server.seen[0].headers
    assert headers["authorization"] == "Bearer s3cret"
    assert headers["x-scope-orgid"] == "team-a"


async def test_basic_auth_arrives(serve: Callable[..., ScriptedServer]) -> None:
    server = serve(lambda n, _: ok_vector())
    async with PrometheusClient(fast(server.url(), username="kube", password="p@ss")) as client:
        await client.instant("up", AT)
    assert server.seen[0].headers["authorization"] == "Basic " + base64.b64encode(b"kube:p@ss").decode()


async def test_refused_credentials_name_the_settings(serve: Callable[..., ScriptedServer]) -> None:
    server = serve(lambda n, _: Reply(401, b"no org id\n", "text/plain"))
    async with PrometheusClient(fast(server.url(), bearer_token="wrong")) as client:
        with pytest.raises(PrometheusQueryError) as caught:
            await client.instant("up", AT)
    assert len(server.seen) == 1
    message = str(caught.value)
    assert "refused the credentials (401" in message
    assert "bearer token" in message
    assert "X-Scope-OrgID" in message


async def test_html_answer_is_called_out(serve: Callable[..., ScriptedServer]) -> None:
    page = b"<html><head><title>Sign in</title></head><body>Please log in</body></html>"
    server = serve(lambda n, _: Reply(200, page, "text/html; charset=utf-8"))
    async with PrometheusClient(fast(server.url())) as client:
        with pytest.raises(PrometheusQueryError) as caught:
            await client.instant("up", AT)
    message = str(caught.value)
    assert "answered 200 with a body that is not JSON (text/html:" in message
    assert "Sign in" in message
    assert "not at a proxy or login page" in message


async def test_missing_path_prefix_is_called_out(serve: Callable[..., ScriptedServer]) -> None:
    server = serve(lambda n, _: Reply(404, b"404 page not found\n", "text/plain"))
    async with PrometheusClient(fast(server.url())) as client:
        with pytest.raises(PrometheusQueryError, match="check the URL and its path prefix"):
            await client.instant("up", AT)


async def test_concurrency_bounds_requests_in_flight(serve: Callable[..., ScriptedServer]) -> None:
    server = serve(lambda n, _: ok_vector(), hold_for=2)
    async with PrometheusClient(fast(server.url(), concurrency=2)) as client:
        start = dt.datetime(2024, 1, 1, tzinfo=UTC)
        calls = [client.instant(f"q{i}", AT) for i in range(4)]
        ranges = [client.range(f"r{i}", start, start, 60) for i in range(2)]
        results = await asyncio.gather(*calls, *ranges, return_exceptions=True)
        assert client.queries_sent == 6
    # ok_vector answers the range calls with a vector, which the client reports as a bad answer.
    assert sum(isinstance(r, list) for r in results) == 4
    assert len(server.seen) == 6
    assert server.max_in_flight == 2


# --------------------------------------------------------------------------- TLS


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    server: ssl.SSLContext


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A private CA and a certificate for 127.0.0.1 that it signed."""
    root = tmp_path_factory.mktemp("pki")
    now = dt.datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("kubecap test CA"))
        .issuer_name(_name("kubecap test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = root / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file = root / "server.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = root / "server.key"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return Pki(ca_file, context)


async def test_https_with_the_ca_file_works(serve: Callable[..., ScriptedServer], pki: Pki) -> None:
    server = serve(lambda n, _: ok_vector("3"), tls=pki.server)
    async with PrometheusClient(fast(server.url(scheme="https"), ca_file=str(pki.ca_file))) as client:
        assert await client.instant("up", AT) == [Sample({}, 3.0)]


async def test_https_without_the_ca_says_how_to_fix_it(
    serve: Callable[..., ScriptedServer], pki: Pki
) -> None:
    server = serve(lambda n, _: ok_vector(), tls=pki.server)
    async with PrometheusClient(fast(server.url(scheme="https"))) as client:
        with pytest.raises(PrometheusUnreachable) as caught:
            await client.instant("up", AT)
        assert client.requests_sent == 1, "a certificate that does not verify will not verify on retry"
    message = str(caught.value)
    assert message.startswith(
        f"cannot verify the TLS certificate of Prometheus at {server.url(scheme='https')}"
    )
    assert "ca_file" in message
    assert "insecure_skip_verify" in message


async def test_https_with_insecure_skip_verify_works(serve: Callable[..., ScriptedServer], pki: Pki) -> None:
    server = serve(lambda n, _: ok_vector("4"), tls=pki.server)
    async with PrometheusClient(fast(server.url(scheme="https"), insecure_skip_verify=True)) as client:
        assert await client.instant("up", AT) == [Sample({}, 4.0)]


async def test_https_url_against_a_plain_http_server_mentions_the_scheme(
    serve: Callable[..., ScriptedServer],
) -> None:
    server = serve(lambda n, _: ok_vector())
    async with PrometheusClient(fast(server.url(scheme="https"))) as client:
        with pytest.raises(PrometheusUnreachable, match=r"TLS handshake .* check that the URL scheme"):
            await client.instant("up", AT)
        assert client.requests_sent == 1


# --------------------------------------------------------------------------- options


def test_repr_shows_no_secrets() -> None:
    options = PrometheusOptions(
        url="https://admin:urlpass@mimir.example/prometheus",
        username="kube",
        password="basicpass",
        headers={"X-Scope-OrgID": "tenant-secret"},
    )
    text = repr(options)
    for secret in ("urlpass", "basicpass", "tenant-secret"):
        assert secret not in text
    assert "mimir.example/prometheus" in text
    assert "X-Scope-OrgID" in text
    assert "tokenvalue" not in repr(PrometheusOptions(url="http://p:9090", bearer_token="tokenvalue"))


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"url": "prometheus:9090"}, "must start with http:// or https://"),
        ({"url": "http://p", "bearer_token": "t", "username": "u"}, "not both"),
        ({"url": "http://p", "password": "x"}, "without a username"),
        ({"url": "http://p", "concurrency": 0}, "concurrency 0"),
        ({"url": "http://p", "timeout_s": 0}, "greater than zero"),
        ({"url": "http://p", "retries": -1}, "zero or more"),
    ],
)
def test_bad_options_are_config_errors(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        PrometheusOptions(**kwargs)


def test_unreadable_ca_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot load the Prometheus CA bundle"):
        PrometheusClient(PrometheusOptions(url="https://p", ca_file=str(tmp_path / "missing.pem")))


async def test_naive_time_is_refused(serve: Callable[..., ScriptedServer]) -> None:
    server = serve(lambda n, _: ok_vector())
    async with PrometheusClient(fast(server.url())) as client:
        with pytest.raises(ConfigError, match="has no time zone"):
            await client.instant("up", dt.datetime(2024, 1, 1))
    assert server.seen == []
