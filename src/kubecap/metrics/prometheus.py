"""The async client of the Prometheus HTTP API, shared by Prometheus, VictoriaMetrics, Thanos and Mimir.

Collection sends few, heavy, batched queries (DESIGN.md section 5), so this client is built for
that: POST with form-encoded bodies (PromQL that names many workloads outgrows a URL), a
semaphore that bounds how many queries one client has in flight, retries with capped,
jittered exponential backoff for the failures that pass (connection errors, timeouts, 5xx,
429), none for those that do not (a rejected query, bad credentials, a TLS mismatch), and one
small function, ``error_for``, that turns each failure into the one sentence a user sees.

Response parsing and the error mapping are pure functions; only ``PrometheusClient`` does I/O.
Nothing happens at import time and there is no shared client: whoever needs one builds it
from ``PrometheusOptions`` and closes it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, Self

import httpx
import numpy as np
import numpy.typing as npt

from kubecap import __version__
from kubecap.errors import ConfigError, MetricsError, PrometheusQueryError, PrometheusUnreachable

_log = logging.getLogger(__name__)

BACKOFF_CAP_S = 30.0
"""The longest pause between two attempts, whatever backoff_s and the attempt number say."""

_QUERY_SHOWN_CHARS = 300
_BODY_SHOWN_CHARS = 120


@dataclass(frozen=True, slots=True, repr=False)
class PrometheusOptions:
    """Where and how to reach a Prometheus-compatible HTTP API.

    ``url`` is the API root without ``/api/v1``; a path prefix is kept
    (``https://mimir.example/prometheus``, ``http://vmselect:8481/select/0/prometheus``).
    ``headers`` are sent with every request (``X-Scope-OrgID`` for Mimir and Cortex) and
    ``params`` are added to every query's form (Thanos: ``partial_response=false``).
    ``ca_file`` replaces the system CA bundle for TLS verification. ``retries`` counts the
    attempts after the first; ``concurrency`` bounds the queries of one client in flight.
    The repr shows no secrets: not the token, the password, header values nor a password
    inside the URL.
    """

    url: str
    bearer_token: str | None = None
    username: str | None = None
    password: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    ca_file: str | None = None
    insecure_skip_verify: bool = False
    timeout_s: float = 60.0
    retries: int = 3
    backoff_s: float = 0.5
    concurrency: int = 4

    def __post_init__(self) -> None:
        try:
            parsed = httpx.URL(self.url)
        except httpx.InvalidURL as exc:
            raise ConfigError(f"Prometheus URL {self.url!r} is not a valid URL ({exc})") from exc
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigError(
                f"Prometheus URL {self.safe_url!r} must start with http:// or https:// and name a host, "
                "e.g. http://prometheus.monitoring:9090"
            )
        if self.bearer_token and (self.username or self.password):
            raise ConfigError("set either a Prometheus bearer token or a username and password, not both")
        if self.password and not self.username:
            raise ConfigError("a Prometheus password was given without a username: set the username too")
        if self.timeout_s <= 0:
            raise ConfigError(f"Prometheus timeout {self.timeout_s} s must be greater than zero")
        if self.retries < 0:
            raise ConfigError(f"Prometheus retries {self.retries} must be zero or more")
        if self.backoff_s < 0:
            raise ConfigError(f"Prometheus backoff {self.backoff_s} s must be zero or more")
        if self.concurrency < 1:
            raise ConfigError(f"Prometheus concurrency {self.concurrency} must be at least 1")

    @property
    def safe_url(self) -> str:
        """The URL without any user:password part, fit for messages and logs."""
        try:
            parsed = httpx.URL(self.url)
        except httpx.InvalidURL:
            return "<invalid URL>"
        if parsed.userinfo:
            return str(parsed.copy_with(username=None, password=None))
        return self.url

    def __repr__(self) -> str:
        hidden = "'***'"
        parts = [
            f"url={self.safe_url!r}",
            f"bearer_token={hidden if self.bearer_token else None}",
            f"username={self.username!r}",
            f"password={hidden if self.password else None}",
            f"headers={ {name: '***' for name in self.headers} }",
            f"params={dict(self.params)!r}",
            f"ca_file={self.ca_file!r}",
            f"insecure_skip_verify={self.insecure_skip_verify}",
            f"timeout_s={self.timeout_s}",
            f"retries={self.retries}",
            f"backoff_s={self.backoff_s}",
            f"concurrency={self.concurrency}",
        ]
        return f"PrometheusOptions({', '.join(parts)})"


@dataclass(frozen=True, slots=True)
class Sample:
    """One element of an instant query's result; a scalar result has empty labels."""

    labels: dict[str, str]
    value: float


@dataclass(frozen=True, slots=True, eq=False)
class Series:
    """One series of a range query's result: unix-second timestamps and values, same length."""

    labels: dict[str, str]
    timestamps: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]


FailureKind = Literal["connect", "timeout", "tls", "tls_handshake", "http", "not_json", "bad_answer"]


@dataclass(frozen=True, slots=True)
class Failure:
    """What went wrong with one attempt, before it becomes a user-facing error."""

    kind: FailureKind
    reason: str = ""
    status: int | None = None
    error_type: str = ""
    error: str = ""

    @property
    def retryable(self) -> bool:
        if self.kind in ("connect", "timeout"):
            return True
        if self.kind == "http" and self.status is not None:
            return self.status >= 500 or self.status == 429
        return False


def shorten_query(query: str, limit: int = _QUERY_SHOWN_CHARS) -> str:
    """PromQL on one line, cut to ``limit`` characters so a message stays readable."""
    flat = " ".join(query.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def error_for(failure: Failure, *, url: str, query: str, attempts: int) -> MetricsError:
    """The one place that turns a failed request into the sentence the user reads."""
    promql = shorten_query(query)
    detail = f"{failure.error_type}: {failure.error}" if failure.error_type else failure.error
    status = failure.status
    if failure.kind in ("connect", "timeout"):
        tries = f", {attempts} attempts" if attempts > 1 else ""
        return PrometheusUnreachable(
            f"cannot reach Prometheus at {url} ({failure.reason}{tries}): "
            "check the URL and that it is reachable from here"
        )
    if failure.kind == "tls":
        return PrometheusUnreachable(
            f"cannot verify the TLS certificate of Prometheus at {url} ({failure.reason}): set ca_file to "
            "the CA bundle that signed it, or insecure_skip_verify to skip the check"
        )
    if failure.kind == "tls_handshake":
        return PrometheusUnreachable(
            f"TLS handshake with Prometheus at {url} failed ({failure.reason}): "
            "check that the URL scheme (http:// or https://) matches the server"
        )
    if failure.kind == "not_json":
        return PrometheusQueryError(
            f"Prometheus at {url} answered {status} with a body that is not JSON ({failure.reason}): "
            "check that the URL points at the Prometheus HTTP API and not at a proxy or login page",
            query=query,
            status=status,
        )
    if failure.kind == "bad_answer":
        return PrometheusQueryError(
            f"Prometheus at {url} gave an answer kubecap cannot use ({failure.reason}): {promql}",
            query=query,
            status=status,
        )
    if status in (401, 403):
        return PrometheusQueryError(
            f"Prometheus at {url} refused the credentials ({status} {detail or 'no reason given'}): check "
            "the bearer token or the basic-auth username and password, and for Mimir or Cortex the "
            "X-Scope-OrgID header",
            query=query,
            status=status,
        )
    if status == 404:
        return PrometheusQueryError(
            f"there is no Prometheus query API under {url} (404): check the URL and its path prefix, "
            "e.g. https://mimir.example/prometheus",
            query=query,
            status=status,
        )
    if status is not None and (status >= 500 or status == 429):
        return PrometheusQueryError(
            f"Prometheus at {url} failed the query {attempts} times ({status} {detail}): {promql}",
            query=query,
            status=status,
        )
    return PrometheusQueryError(
        f"Prometheus rejected the query ({status} {detail}): {promql}", query=query, status=status
    )


def classify_answer(status: int, content_type: str, body: bytes, decoded: Any) -> dict[str, Any] | Failure:
    """The ``data`` object of a successful answer, or the Failure an answer amounts to.

    ``decoded`` is the parsed JSON body, or None when the body did not parse.
    """
    if not isinstance(decoded, dict):
        snippet = " ".join(body[:_BODY_SHOWN_CHARS].decode("utf-8", "replace").split())
        if status >= 400:
            # An error page of Prometheus' own mux or of a proxy in front: the status says more than the body.
            phrase = httpx.codes.get_reason_phrase(status) or "error"
            return Failure("http", status=status, error_type=phrase, error=repr(snippet))
        kind = content_type.split(";")[0].strip() or "no content type"
        return Failure("not_json", reason=f"{kind}: {snippet!r}", status=status)
    if status >= 400 or decoded.get("status") != "success":
        return Failure(
            "http",
            status=status,
            error_type=str(decoded.get("errorType", "")),
            error=str(decoded.get("error", "")) or httpx.codes.get_reason_phrase(status),
        )
    data = decoded.get("data")
    if not isinstance(data, dict):
        return Failure("bad_answer", reason="no data object", status=status)
    return data


def samples_from(data: Mapping[str, Any]) -> list[Sample]:
    """The samples of an instant query's ``data``; a scalar becomes one unlabelled sample."""
    kind = data.get("resultType")
    result: Any = data.get("result")
    if kind == "vector":
        return [Sample(dict(item["metric"]), float(item["value"][1])) for item in result or ()]
    if kind == "scalar":
        return [Sample({}, float(result[1]))]
    raise ValueError(
        f"the query returned a {kind}, not an instant vector or scalar; use range() for a range of samples"
    )


def series_from(data: Mapping[str, Any]) -> list[Series]:
    """The series of a range query's ``data`` as float64 arrays."""
    kind = data.get("resultType")
    if kind != "matrix":
        raise ValueError(f"a range query returned a {kind}, not a matrix")
    out: list[Series] = []
    for item in data.get("result") or ():
        points = item.get("values") or ()
        timestamps = np.fromiter((p[0] for p in points), dtype=np.float64, count=len(points))
        # numpy parses "NaN", "+Inf" and "-Inf" the way Prometheus writes them.
        values = np.array([p[1] for p in points], dtype=np.str_).astype(np.float64)
        out.append(Series(dict(item["metric"]), timestamps, values))
    return out


def format_time(moment: datetime) -> str:
    """Unix seconds with millisecond precision (Prometheus' own resolution)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ConfigError(f"time {moment.isoformat()} has no time zone: pass a timezone-aware datetime")
    return f"{moment.timestamp():.3f}"


def format_seconds(seconds: float) -> str:
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def backoff_delay(attempt: int, base_s: float, rng: random.Random) -> float:
    """Pause before attempt ``attempt + 1``: exponential, capped, with equal jitter."""
    ceiling = min(BACKOFF_CAP_S, base_s * 2.0**attempt)
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def failure_from_transport(exc: httpx.TransportError, timeout_s: float) -> Failure:
    """Classify an exception raised below HTTP: TLS, timeout or connection."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return Failure("tls", reason=cause.verify_message or str(cause))
        if isinstance(cause, ssl.SSLError):
            return Failure("tls_handshake", reason=cause.reason or str(cause))
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.TimeoutException):
        return Failure("timeout", reason=f"no answer within {format_seconds(timeout_s)} s")
    return Failure("connect", reason=str(exc) or type(exc).__name__)


class PrometheusClient:
    """Instant and range queries against one Prometheus-compatible API.

    Use it as an async context manager (or call ``aclose``). ``queries_sent`` counts the
    queries asked of the server (one per ``instant`` or ``range`` call that reached it),
    ``requests_sent`` every HTTP request including retries.
    """

    def __init__(
        self, options: PrometheusOptions, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.options = options
        self.queries_sent = 0
        self.requests_sent = 0
        self._base = options.url.rstrip("/")
        self._semaphore = asyncio.Semaphore(options.concurrency)
        # Jitter only spreads retries out; it needs no cryptographic randomness.
        self._rng = random.Random()  # noqa: S311
        headers = {"User-Agent": f"kubecap/{__version__}", "Accept": "application/json", **options.headers}
        if options.bearer_token:
            headers["Authorization"] = f"Bearer {options.bearer_token}"
        auth = httpx.BasicAuth(options.username, options.password or "") if options.username else None
        self._http = httpx.AsyncClient(
            headers=headers,
            auth=auth,
            verify=self._tls_context(options),
            timeout=httpx.Timeout(options.timeout_s),
            transport=transport,
        )

    @staticmethod
    def _tls_context(options: PrometheusOptions) -> ssl.SSLContext | bool:
        if options.insecure_skip_verify:
            return False
        if options.ca_file is None:
            return True
        try:
            return ssl.create_default_context(cafile=options.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot load the Prometheus CA bundle {options.ca_file} ({exc}): "
                "point ca_file at a readable PEM file"
            ) from exc

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def instant(self, query: str, at: datetime) -> list[Sample]:
        """Evaluate ``query`` at one moment (``at`` must carry a time zone)."""
        data = await self._query("query", {"query": query, "time": format_time(at)}, query)
        try:
            return samples_from(data)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise error_for(
                Failure("bad_answer", reason=str(exc)), url=self.options.safe_url, query=query, attempts=1
            ) from exc

    async def range(self, query: str, start: datetime, end: datetime, step_s: float) -> list[Series]:
        """Evaluate ``query`` every ``step_s`` seconds from ``start`` to ``end`` (both included)."""
        if step_s <= 0:
            raise ConfigError(f"range query step {step_s} s must be greater than zero")
        if end < start:
            raise ConfigError(f"range query end {end.isoformat()} is before its start {start.isoformat()}")
        form = {
            "query": query,
            "start": format_time(start),
            "end": format_time(end),
            "step": format_seconds(step_s),
        }
        data = await self._query("query_range", form, query)
        try:
            return series_from(data)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise error_for(
                Failure("bad_answer", reason=str(exc)), url=self.options.safe_url, query=query, attempts=1
            ) from exc

    async def _query(self, endpoint: str, form: dict[str, str], query: str) -> Mapping[str, Any]:
        url = f"{self._base}/api/v1/{endpoint}"
        # The server stops evaluating when the client gives up, instead of burning CPU for nobody.
        body = {"timeout": f"{format_seconds(self.options.timeout_s)}s", **self.options.params, **form}
        attempts = self.options.retries + 1
        for attempt in range(attempts):
            async with self._semaphore:
                if attempt == 0:
                    self.queries_sent += 1
                self.requests_sent += 1
                outcome, cause = await self._attempt(url, body)
            if not isinstance(outcome, Failure):
                return outcome
            if not outcome.retryable or attempt == attempts - 1:
                raise error_for(
                    outcome, url=self.options.safe_url, query=query, attempts=attempt + 1
                ) from cause
            delay = backoff_delay(attempt, self.options.backoff_s, self._rng)
            _log.warning(
                "prometheus query failed, retrying",
                extra={
                    "kind": outcome.kind,
                    "status": outcome.status,
                    "attempt": attempt + 1,
                    "delay_s": delay,
                },
            )
            await asyncio.sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    async def _attempt(
        self, url: str, body: Mapping[str, str]
    ) -> tuple[dict[str, Any] | Failure, BaseException | None]:
        try:
            response = await self._http.post(url, data=body)
        except httpx.TransportError as exc:
            return failure_from_transport(exc, self.options.timeout_s), exc
        try:
            decoded: Any = response.json()
        except ValueError:
            decoded = None
        outcome = classify_answer(
            response.status_code, response.headers.get("content-type", ""), response.content, decoded
        )
        if not isinstance(outcome, Failure):
            for warning in decoded.get("warnings") or ():
                # Thanos partial responses and Mimir limits arrive as warnings next to a 200.
                _log.warning("prometheus answered with a warning", extra={"warning": str(warning)})
        return outcome, None
