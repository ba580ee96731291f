"""Settings: loaded once at the edge (the CLI), validated, then passed in by groups.

Sources, highest priority first: explicit overrides (CLI flags), ``KUBECAP_*`` environment
variables (nested with ``__``, e.g. ``KUBECAP_DATABASE_URL``), an optional YAML file
(``--config`` or ``KUBECAP_CONFIG``), defaults. Every value is checked here, so code further
in never parses configuration strings.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from kubecap.domain.prices import DEFAULT_CPU_PRICE, DEFAULT_MEMORY_PRICE
from kubecap.domain.window import PeakWindow, WindowError, parse_timezone
from kubecap.errors import ConfigError
from kubecap.scheduling.settings import ExtenderSettings, NodeLoadSettings, TaintSettings

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_CLUSTER_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")


def default_database_url() -> str:
    """An SQLite file under the user's data directory (XDG)."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'kubecap' / 'kubecap.db'}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrometheusSettings(_Strict):
    """How to reach one Prometheus-compatible HTTP API."""

    url: str = Field(description="base URL, with any path prefix (e.g. https://mimir.example/prometheus)")
    bearer_token: SecretStr | None = None
    bearer_token_file: Path | None = None
    username: str | None = None
    password: SecretStr | None = None
    headers: dict[str, str] = Field(default_factory=dict, description="extra headers, e.g. X-Scope-OrgID")
    params: dict[str, str] = Field(
        default_factory=dict, description="extra query parameters, e.g. partial_response: 'false' for Thanos"
    )
    ca_file: Path | None = None
    insecure_skip_verify: bool = False
    timeout_seconds: float = Field(60.0, gt=0, le=3600)
    retries: int = Field(3, ge=0, le=10)
    backoff_seconds: float = Field(0.5, ge=0, le=60, description="first retry delay; doubles each retry")
    concurrency: int = Field(4, ge=1, le=64)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"Prometheus URL {value!r} must start with http:// or https:// and name a host")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _auth(self) -> PrometheusSettings:
        if self.bearer_token and self.bearer_token_file:
            raise ValueError("set either bearer_token or bearer_token_file, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("basic auth needs both username and password")
        if (self.bearer_token or self.bearer_token_file) and self.username:
            raise ValueError("set either a bearer token or basic auth, not both")
        return self

    def token(self) -> str | None:
        """The bearer token, read from its file at the time of use (so rotated tokens work)."""
        if self.bearer_token_file is not None:
            try:
                return self.bearer_token_file.read_text().strip()
            except OSError as exc:
                raise ConfigError(
                    f"cannot read bearer_token_file {self.bearer_token_file}: {exc.strerror}; check the path"
                ) from exc
        return self.bearer_token.get_secret_value() if self.bearer_token else None


class KubernetesSettings(_Strict):
    """How kubecap reaches a cluster's apiserver (for operations, the webhook and taints)."""

    kubeconfig: Path | None = Field(
        None, description="kubeconfig file (default: KUBECONFIG or ~/.kube/config)"
    )
    context: str | None = Field(None, description="kubeconfig context (default: its current-context)")
    in_cluster: bool = Field(False, description="use the pod's service account instead of a kubeconfig")
    qps: float = Field(20.0, gt=0, le=1000, description="client-side request rate limit")
    burst: int = Field(40, ge=1, le=5000, description="requests allowed at once above the rate")
    timeout_seconds: float = Field(10.0, gt=0, le=600)
    retries: int = Field(3, ge=0, le=10)

    @model_validator(mode="after")
    def _one_way(self) -> KubernetesSettings:
        if self.in_cluster and (self.kubeconfig or self.context):
            raise ValueError("set either in_cluster or kubeconfig/context, not both")
        return self


class NotificationChannelSettings(_Strict):
    """One notification channel: apprise URLs (they hold secrets), optionally limited to
    some clusters and event kinds (task_result, webhook_rejection, unmanaged_workload,
    node_taint, collection_failure)."""

    name: str = Field(min_length=1, max_length=253)
    urls: list[SecretStr] = Field(min_length=1)
    clusters: list[str] = Field(default_factory=list)
    events: list[str] = Field(default_factory=list)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        known = ("task_result", "webhook_rejection", "unmanaged_workload", "node_taint", "collection_failure")
        for event in value:
            if event not in known:
                raise ValueError(f"unknown event kind {event!r}: use one of {', '.join(known)}")
        return value


class NotificationSettings(_Strict):
    base_url: str | None = Field(None, description="UI address; messages link to the page of the event")
    attempts: int = Field(3, ge=1, le=10)
    backoff_seconds: float = Field(1.0, ge=0, le=300, description="first retry delay; doubles each retry")
    channels: list[NotificationChannelSettings] = Field(default_factory=list)


class ClusterSettings(_Strict):
    """One cluster: where its metrics are, how to select it in a shared store, its local time."""

    name: str
    prometheus: PrometheusSettings | None = None
    simulated: str | None = Field(
        None, description="a scenario YAML file, or 'demo' for the bundled one, instead of Prometheus"
    )
    cluster_label: dict[str, str] = Field(
        default_factory=dict,
        description="label matchers selecting this cluster in a store shared by many, e.g. {cluster: prod-eu}",
    )
    timezone: str = "UTC"
    peak_windows: list[str] = Field(default_factory=lambda: ["10:00-11:30"])
    step_seconds: int = Field(60, description="seconds between evaluation points of peak windows; divides 60")
    day_step_seconds: int = Field(
        300,
        description="seconds between evaluation points of the whole day; divides 900 (each sample counted once at 300)",
    )
    series_budget: int = Field(20_000, ge=100, description="container series per query before chunking")
    kubernetes: KubernetesSettings | None = Field(None, description="apiserver access, for operations")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _CLUSTER_NAME.match(value):
            raise ValueError(
                f"cluster name {value!r} must be lower-case letters, digits, '.', '_' or '-' (at most 63)"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            parse_timezone(value)
        except WindowError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("peak_windows")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        names = []
        for spec in value:
            try:
                names.append(PeakWindow.parse(spec).name)
            except WindowError as exc:
                raise ValueError(str(exc)) from None
        if len(set(names)) != len(names):
            raise ValueError("peak_windows lists the same window twice")
        return names

    @field_validator("step_seconds")
    @classmethod
    def _step(cls, value: int) -> int:
        # Peak windows start on a whole minute; Prometheus aligns subquery points to multiples of the step.
        if value <= 0 or 60 % value:
            raise ValueError(
                f"step_seconds {value} must divide 60 (10, 15, 20, 30 or 60) so points align with windows"
            )
        return value

    @field_validator("day_step_seconds")
    @classmethod
    def _day_step(cls, value: int) -> int:
        # Local midnights fall on quarter hours of UTC in every time zone.
        if value <= 0 or 900 % value:
            raise ValueError(
                f"day_step_seconds {value} must divide 900 (e.g. 60, 300 or 900) so points align with days"
            )
        return value

    @field_validator("cluster_label")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for label in value:
            if not _LABEL_NAME.match(label):
                raise ValueError(f"cluster_label name {label!r} is not a valid Prometheus label name")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> ClusterSettings:
        if (self.prometheus is None) == (self.simulated is None):
            raise ValueError(
                f"cluster {self.name!r} needs exactly one of 'prometheus' (with a url) or 'simulated'"
            )
        return self

    def peaks(self) -> list[PeakWindow]:
        return [PeakWindow.parse(spec) for spec in self.peak_windows]


class WebhookSettings(_Strict):
    """The admission webhook: how it serves, how it treats a stale table, how it is installed."""

    cluster: str | None = Field(
        None, description="the cluster whose control table it enforces (default: the only configured one)"
    )
    host: str = Field("0.0.0.0", description="address to listen on")  # noqa: S104 - a server in a pod
    port: int = Field(8443, ge=1, le=65535)
    cert_file: Path | None = Field(None, description="serving certificate (PEM), reloaded when it changes")
    key_file: Path | None = Field(None, description="its private key (PEM)")
    cert_reload_seconds: float = Field(10.0, gt=0, le=3600, description="how often the files are checked")
    refresh_seconds: float = Field(5.0, gt=0, le=3600, description="how often the table's revision is polled")
    stale_after_seconds: float = Field(
        300.0, gt=0, description="a snapshot not confirmed for this long is stale"
    )
    on_stale: Literal["enforce", "allow"] = Field(
        "enforce",
        description="stale snapshot: keep enforcing it with a warning, or admit everything unchanged",
    )
    max_body_bytes: int = Field(3 * 2**20, ge=1024, le=64 * 2**20)
    audit_queue: int = Field(10_000, ge=10, le=1_000_000, description="audit events waiting to be written")
    notify_every_seconds: float = Field(
        300.0,
        ge=0,
        le=86_400,
        description="rejections and registrations: at most one notification per workload per this many seconds",
    )
    read_parent_annotations: bool = Field(
        True,
        description="on scale requests, read the workload's temporary-replicas annotation from the apiserver",
    )
    # installation
    configuration_name: str = "kubecap"
    namespace: str = Field("kubecap", description="kubecap's own namespace (never intercepted)")
    service: str = "kubecap-webhook"
    service_port: int = Field(443, ge=1, le=65535)
    url: str | None = Field(
        None, description="call this https URL instead of the Service (webhook outside the cluster)"
    )
    tls_secret_name: str = Field("kubecap-webhook-tls", description="Secret of the serving certificate")
    ca_secret_name: str = Field("kubecap-webhook-ca", description="Secret of the CA and its key")
    failure_policy: Literal["Ignore", "Fail"] = "Ignore"
    timeout_seconds: int = Field(3, ge=1, le=30)
    opt_out_label: str = "kubecap.io/webhook"
    cert_manager: bool = Field(
        False, description="let cert-manager issue the certificate and inject the caBundle"
    )
    cert_days: int = Field(365, ge=2, le=3650)
    ca_days: int = Field(3650, ge=30, le=36500)
    renew_before_days: int = Field(30, ge=1, le=365)


class ApiSettings(_Strict):
    """`kubecap serve`: where the API and the UI listen, and how logins and sessions behave."""

    host: str = Field("127.0.0.1", description="address to listen on (0.0.0.0 in a pod)")
    port: int = Field(8080, ge=0, le=65535, description="port to listen on (0: any free port)")
    session_hours: float = Field(12.0, gt=0, le=24 * 30, description="how long a browser session lasts")
    secure_cookies: Literal["auto", "always", "never"] = Field(
        "auto", description="Secure cookies: auto means when the request came over HTTPS"
    )
    login_attempts: int = Field(5, ge=1, description="failed logins allowed per user and address per window")
    login_window_seconds: int = Field(300, ge=1, description="the window of login_attempts")
    admin_username: str = Field("admin", min_length=1, max_length=64, description="the first run's admin")
    forwarded_allow_ips: str = Field(
        "127.0.0.1", description="proxies whose X-Forwarded-Proto/For headers are trusted"
    )


RoleName = Literal["viewer", "operator", "admin"]


class OidcSettings(_Strict):
    """OIDC login (authorization code with PKCE): the provider, this client, and who gets which role.

    A user's role comes from ``role_claim`` of the ID token (a string or a list of strings), looked
    up in ``role_map``; the highest mapped role wins. With no mapped value the user gets
    ``default_role``, or is refused when it is unset.
    """

    issuer: str = Field(
        min_length=1, description="the provider's issuer URL (its discovery document's issuer)"
    )
    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = Field(None, description="omit for a public client (PKCE only)")
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    role_claim: str = Field("groups", min_length=1, description="the ID-token claim that carries roles")
    role_map: dict[str, RoleName] = Field(default_factory=dict, description="claim value -> kubecap role")
    default_role: RoleName | None = Field(None, description="role when no claim value is mapped; unset: deny")
    username_claim: str = Field("preferred_username", description="falls back to email, then sub")
    redirect_url: str | None = Field(
        None, description="this kubecap's callback URL as the provider knows it (default: from the request)"
    )
    label: str = Field("Log in with single sign-on", description="the login page's button")

    @field_validator("scopes")
    @classmethod
    def _openid(cls, value: list[str]) -> list[str]:
        if "openid" not in value:
            raise ValueError("scopes must include 'openid' (an OIDC login needs an ID token)")
        return value

    def public(self) -> dict[str, Any]:
        """Everything but the client secret (whether it is set is shown)."""
        body = self.model_dump(exclude={"client_secret"})
        body["client_secret"] = "set" if self.client_secret else "none"
        return body


class SchedulingSettings(_Strict):
    """Load-aware scheduling: node load, the extender (`kubecap extender`) and the auto-taint controller."""

    node_load: NodeLoadSettings = Field(default_factory=NodeLoadSettings)
    extender: ExtenderSettings = Field(default_factory=ExtenderSettings)
    taints: TaintSettings = Field(default_factory=TaintSettings)


class LoopSettings(_Strict):
    """One background loop of `kubecap serve`: on or off, and the time between two passes."""

    enabled: bool = True
    interval_seconds: float = Field(60.0, ge=0.05, le=86_400, description="time between two passes")


class CollectionLoopSettings(LoopSettings):
    interval_seconds: float = Field(600.0, ge=0.05, le=86_400, description="time between two passes")
    days: int = Field(
        2, ge=1, le=400, description="local days each pass looks at (windows already complete are skipped)"
    )
    strategy: str = Field("kubecap", min_length=1, description="the strategy recomputed after new windows")


class TaintLoopSettings(LoopSettings):
    enabled: bool = Field(False, description="the auto-taint controller changes nodes: off unless asked")
    interval_seconds: float = Field(30.0, ge=0.05, le=86_400, description="time between two rounds")


class LeaderSettings(_Strict):
    """Which replica runs the loops that act on clusters (tasks, taints): one holder of a lease,
    a Kubernetes Lease when the cluster has an API configured, else a row in the database."""

    name: str = Field("kubecap-serve", min_length=1, max_length=253, description="the lease's name")
    namespace: str = Field("kubecap", min_length=1, max_length=63, description="the Lease's namespace")
    lease_seconds: int = Field(
        30, ge=2, le=3600, description="a holder that stops renewing loses it after this"
    )
    renew_seconds: float = Field(
        10.0, ge=0.05, le=3600, description="time between two renewals (well under lease_seconds)"
    )

    @model_validator(mode="after")
    def _renew_in_time(self) -> LeaderSettings:
        if self.renew_seconds >= self.lease_seconds:
            raise ValueError(
                f"leader.renew_seconds ({self.renew_seconds}) must be under lease_seconds ({self.lease_seconds})"
            )
        return self


class BackgroundSettings(_Strict):
    """The loops `kubecap serve` runs (docs/ui.md): each can be turned off and timed."""

    collection: CollectionLoopSettings = Field(default_factory=CollectionLoopSettings)
    tasks: LoopSettings = Field(default_factory=lambda: LoopSettings(interval_seconds=5.0))
    taints: TaintLoopSettings = Field(
        default_factory=TaintLoopSettings,
        description="the auto-taint controller; its policy is scheduling.taints",
    )
    node_load: LoopSettings = Field(default_factory=lambda: LoopSettings(interval_seconds=30.0))
    summaries: LoopSettings = Field(
        default_factory=lambda: LoopSettings(interval_seconds=30.0),
        description="every replica: recompute the API's cached summaries when the store has moved",
    )
    predict: LoopSettings = Field(
        default_factory=lambda: LoopSettings(interval_seconds=300.0),
        description="on the leader: a round of predictive replicas (docs/predict.md) for the workloads that opted in",
    )
    leader: LeaderSettings = Field(default_factory=LeaderSettings)


class PriceSettings(_Strict):
    """US dollars per core-hour and per GiB-hour (OpenCost's defaults)."""

    cpu_price: float = Field(
        DEFAULT_CPU_PRICE, ge=0, allow_inf_nan=False, description="US dollars per core-hour"
    )
    memory_price: float = Field(
        DEFAULT_MEMORY_PRICE, ge=0, allow_inf_nan=False, description="US dollars per GiB-hour"
    )


class CostSettings(PriceSettings):
    """`kubecap cost`: the default prices, and overrides per cluster name and per node-pool name."""

    clusters: dict[str, PriceSettings] = Field(default_factory=dict)
    pools: dict[str, PriceSettings] = Field(default_factory=dict)


class Settings(BaseSettings):
    """Everything kubecap is configured with."""

    model_config = SettingsConfigDict(
        env_prefix="KUBECAP_", env_nested_delimiter="__", extra="forbid", frozen=True
    )
    yaml_file: ClassVar[Path | None] = None

    database_url: str = Field(default_factory=default_database_url)
    prometheus_url: str | None = Field(
        None, description="shortcut for one cluster named 'default' read from this Prometheus"
    )
    clusters: list[ClusterSettings] = Field(default_factory=list)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    scheduling: SchedulingSettings = Field(default_factory=SchedulingSettings)
    background: BackgroundSettings = Field(default_factory=BackgroundSettings)
    cost: CostSettings = Field(default_factory=CostSettings)
    oidc: OidcSettings | None = Field(None, description="OIDC login; unset: local users only")

    @model_validator(mode="after")
    def _clusters(self) -> Settings:
        if self.prometheus_url and not self.clusters:
            default = ClusterSettings(name="default", prometheus=PrometheusSettings(url=self.prometheus_url))
            object.__setattr__(self, "clusters", [default])
        names = [c.name for c in self.clusters]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"cluster names must be unique; repeated: {', '.join(duplicates)}")
        return self

    def cluster(self, name: str | None) -> list[ClusterSettings]:
        """The named cluster, or all of them when ``name`` is None."""
        if name is None:
            return list(self.clusters)
        chosen = [c for c in self.clusters if c.name == name]
        if not chosen:
            known = ", ".join(c.name for c in self.clusters) or "none configured"
            raise ConfigError(
                f"unknown cluster {name!r} (known: {known}): check --cluster or the config file"
            )
        return chosen

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls, cls.yaml_file))


class _YamlSource(PydanticBaseSettingsSource):
    """The optional YAML file, below environment variables in priority."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self._data = read_yaml_config(path) if path is not None else {}

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def read_yaml_config(path: Path) -> dict[str, Any]:
    """The mapping in a YAML config file, or a ConfigError naming the file and the problem."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist: check --config or KUBECAP_CONFIG") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}: fix the syntax") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings at the top level")
    return data


def describe_validation_error(exc: ValidationError) -> list[str]:
    """One sentence per problem, each naming the setting (``clusters.0.timezone: ...``)."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting: check its spelling"
        elif error["type"] == "missing":
            message = "required setting is missing"
        problems.append(f"{where}: {message}")
    return problems


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from overrides, environment and the YAML file; every problem in one ConfigError."""
    if config_file is None and os.environ.get("KUBECAP_CONFIG"):
        config_file = Path(os.environ["KUBECAP_CONFIG"])
    source: type[Settings] = type("FileSettings", (Settings,), {"yaml_file": config_file})
    try:
        return source(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = describe_validation_error(exc)
        raise ConfigError("; ".join(problems), problems=problems) from exc
