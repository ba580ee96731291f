"""The relational schema of kubecap's history, shared by SQLite and PostgreSQL.

The tables are declared once here; the Alembic migrations in ``migrations/versions`` create
them, and a test checks that the two agree. Two choices keep the backends identical:

- timestamps go through ``UtcDateTime``, which stores UTC and always hands back aware UTC
  datetimes (SQLite has no time zone type and would otherwise return naive values);
- identifier columns use the byte-wise "C" collation on PostgreSQL, so ordering and
  uniqueness of Kubernetes names never depend on the server's locale (SQLite compares
  bytes already).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
RUN_STATUSES = ("complete", "failed")

# Kubernetes limits: names of namespaces and containers are DNS labels (63), object names
# DNS subdomains (253).
CLUSTER_NAME_LENGTH = 253
NAMESPACE_LENGTH = 63
KIND_LENGTH = 16
NAME_LENGTH = 253
CONTAINER_LENGTH = 63
WINDOW_LENGTH = 32
STATUS_LENGTH = 16

# Deterministic constraint names, so later migrations can alter them on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def identifier(length: int) -> TypeEngine[str]:
    """A string type for Kubernetes names: byte-wise collation on PostgreSQL."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC; naive datetimes are refused as a bug."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to the store: pass an aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:  # SQLite: stored as UTC without an offset
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Cluster(Base):
    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(identifier(CLUSTER_NAME_LENGTH), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Workload(Base):
    __tablename__ = "workloads"
    __table_args__ = (
        UniqueConstraint("cluster_id", "namespace", "kind", "name"),
        CheckConstraint("kind IN ('Deployment', 'StatefulSet', 'DaemonSet')", name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"))
    namespace: Mapped[str] = mapped_column(identifier(NAMESPACE_LENGTH))
    kind: Mapped[str] = mapped_column(identifier(KIND_LENGTH))
    name: Mapped[str] = mapped_column(identifier(NAME_LENGTH))
    # Span of the usage data seen for the workload (window start / end), not of collection.
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime())


class UsageDaily(Base):
    """One row per workload, container, local day and window; the key makes re-collection an upsert."""

    __tablename__ = "usage_daily"
    __table_args__ = (
        CheckConstraint("samples >= 0", name="samples_not_negative"),
        Index(None, "day"),
    )

    workload_id: Mapped[int] = mapped_column(ForeignKey("workloads.id", ondelete="CASCADE"), primary_key=True)
    container: Mapped[str] = mapped_column(identifier(CONTAINER_LENGTH), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    window: Mapped[str] = mapped_column(identifier(WINDOW_LENGTH), primary_key=True)
    # One column per UsageProfile figure, in UsageProfile.figure_names() order.
    replicas_min: Mapped[float | None] = mapped_column(Float)
    replicas_avg: Mapped[float | None] = mapped_column(Float)
    replicas_max: Mapped[float | None] = mapped_column(Float)
    cpu_p50: Mapped[float | None] = mapped_column(Float)
    cpu_p90: Mapped[float | None] = mapped_column(Float)
    cpu_p95: Mapped[float | None] = mapped_column(Float)
    cpu_p99: Mapped[float | None] = mapped_column(Float)
    cpu_max: Mapped[float | None] = mapped_column(Float)
    mem_p95: Mapped[float | None] = mapped_column(Float)
    mem_max: Mapped[float | None] = mapped_column(Float)
    cpu_request: Mapped[float | None] = mapped_column(Float)
    cpu_limit: Mapped[float | None] = mapped_column(Float)
    mem_request: Mapped[float | None] = mapped_column(Float)
    mem_limit: Mapped[float | None] = mapped_column(Float)
    cpu_throttle_ratio: Mapped[float | None] = mapped_column(Float)
    oom_kills: Mapped[float | None] = mapped_column(Float)
    restarts: Mapped[float | None] = mapped_column(Float)
    samples: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class CollectionRunRow(Base):
    """The outcome of collecting one window of one cluster's day."""

    __tablename__ = "collection_runs"
    __table_args__ = (CheckConstraint("status IN ('complete', 'failed')", name="status"),)

    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    window: Mapped[str] = mapped_column(identifier(WINDOW_LENGTH), primary_key=True)
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime())
    rows: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    queries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Warnings of a complete run, or why the latest attempt failed.
    message: Mapped[str] = mapped_column(Text, default="", server_default="")


FIGURE_COLUMNS: tuple[str, ...] = tuple(
    c.name
    for c in UsageDaily.__table__.columns
    if c.name not in {"workload_id", "container", "day", "window"}
)
"""The figure columns of usage_daily, in table order (equal to UsageProfile.figure_names())."""


STRATEGY_LENGTH = 32
RECOMMENDATION_STATUSES = ("ok", "not-enough-data")
RESOURCE_COLUMNS = ("cpu_request", "cpu_limit", "mem_request", "mem_limit")


class RecommendationRow(Base):
    """The latest recommendation of one strategy for one container (re-running a strategy replaces it).

    Resource values are per pod, CPU in cores and memory in bytes, NULL when not set; the
    ``current_*`` columns hold what the container ran with, so a patch can be derived from
    the row alone. Savings are monthly at the current replicas; risk figures come from the
    history the strategy read. The replica columns repeat on each container of a workload.
    """

    __tablename__ = "recommendations"
    __table_args__ = (
        CheckConstraint("status IN ('ok', 'not-enough-data')", name="status"),
        Index(None, "strategy"),
    )

    workload_id: Mapped[int] = mapped_column(ForeignKey("workloads.id", ondelete="CASCADE"), primary_key=True)
    container: Mapped[str] = mapped_column(identifier(CONTAINER_LENGTH), primary_key=True)
    strategy: Mapped[str] = mapped_column(identifier(STRATEGY_LENGTH), primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    # The strategy's settings as JSON: what produced this row, exactly.
    settings: Mapped[str] = mapped_column(Text)
    window: Mapped[str | None] = mapped_column(identifier(WINDOW_LENGTH))
    first_day: Mapped[date | None] = mapped_column(Date)
    last_day: Mapped[date | None] = mapped_column(Date)
    days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cpu_request: Mapped[float | None] = mapped_column(Float)
    cpu_limit: Mapped[float | None] = mapped_column(Float)
    mem_request: Mapped[float | None] = mapped_column(Float)
    mem_limit: Mapped[float | None] = mapped_column(Float)
    current_cpu_request: Mapped[float | None] = mapped_column(Float)
    current_cpu_limit: Mapped[float | None] = mapped_column(Float)
    current_mem_request: Mapped[float | None] = mapped_column(Float)
    current_mem_limit: Mapped[float | None] = mapped_column(Float)
    cpu_low: Mapped[float | None] = mapped_column(Float)
    cpu_high: Mapped[float | None] = mapped_column(Float)
    mem_low: Mapped[float | None] = mapped_column(Float)
    mem_high: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    explanation: Mapped[str] = mapped_column(Text, default="", server_default="")
    savings_cpu_core_hours: Mapped[float | None] = mapped_column(Float)
    savings_mem_gib_hours: Mapped[float | None] = mapped_column(Float)
    savings_usd: Mapped[float | None] = mapped_column(Float)
    risk_cpu_time_above_request: Mapped[float | None] = mapped_column(Float)
    risk_mem_days_above_request: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    risk_mem_days_above_limit: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    risk_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    risk_throttle_max: Mapped[float | None] = mapped_column(Float)
    risk_oom_kills: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    replicas_current: Mapped[float | None] = mapped_column(Float)
    replicas: Mapped[int | None] = mapped_column(Integer)
    hpa_min_replicas: Mapped[int | None] = mapped_column(Integer)
    hpa_max_replicas: Mapped[int | None] = mapped_column(Integer)
    replicas_explanation: Mapped[str | None] = mapped_column(Text)


# --- operations (revision 0003): tasks, their runs, the audit trail, notification channels ---

TASK_STATES = ("active", "paused", "cancelled", "done", "failed", "missed")
TASK_RUN_STATES = ("running", "retry", "succeeded", "failed", "missed")
OPERATIONS = ("scale", "restart", "apply")
CRON_LENGTH = 120
TIMEZONE_LENGTH = 64
ACTOR_LENGTH = 253
ACTION_LENGTH = 64


class TaskRow(Base):
    """A scheduled operation on one workload; ``next_run_at`` is when a runner may claim it."""

    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint(
            "state IN ('active', 'paused', 'cancelled', 'done', 'failed', 'missed')", name="state"
        ),
        CheckConstraint("operation IN ('scale', 'restart', 'apply')", name="operation"),
        CheckConstraint("kind IN ('Deployment', 'StatefulSet', 'DaemonSet')", name="kind"),
        Index(None, "state", "next_run_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cluster: Mapped[str] = mapped_column(identifier(CLUSTER_NAME_LENGTH))
    namespace: Mapped[str] = mapped_column(identifier(NAMESPACE_LENGTH))
    kind: Mapped[str] = mapped_column(identifier(KIND_LENGTH))
    name: Mapped[str] = mapped_column(identifier(NAME_LENGTH))
    operation: Mapped[str] = mapped_column(identifier(STATUS_LENGTH))
    # replicas, resources and the expiry of a temporary scale, as JSON.
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    run_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    cron: Mapped[str | None] = mapped_column(identifier(CRON_LENGTH))
    timezone: Mapped[str] = mapped_column(identifier(TIMEZONE_LENGTH))
    grace_seconds: Mapped[int] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(identifier(STATUS_LENGTH))
    next_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(identifier(ACTOR_LENGTH))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    note: Mapped[str] = mapped_column(Text, default="", server_default="")


class TaskRunRow(Base):
    """One firing of a task; the unique (task, scheduled_for) key makes each run exactly once."""

    __tablename__ = "task_runs"
    __table_args__ = (
        UniqueConstraint("task_id", "scheduled_for"),
        CheckConstraint("state IN ('running', 'retry', 'succeeded', 'failed', 'missed')", name="state"),
        Index(None, "state", "retry_at"),
        Index(None, "state", "lease_until"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    scheduled_for: Mapped[datetime] = mapped_column(UtcDateTime())
    state: Mapped[str] = mapped_column(identifier(STATUS_LENGTH))
    attempt: Mapped[int] = mapped_column(Integer)
    runner: Mapped[str] = mapped_column(identifier(ACTOR_LENGTH))
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    retry_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    message: Mapped[str] = mapped_column(Text, default="", server_default="")
    result: Mapped[dict[str, Any]] = mapped_column(JSON)


class AuditEventRow(Base):
    """Who changed what, from what to what, with which result, when."""

    __tablename__ = "audit_events"
    __table_args__ = (Index(None, "at"), Index(None, "action", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(identifier(ACTOR_LENGTH))
    action: Mapped[str] = mapped_column(identifier(ACTION_LENGTH))
    cluster: Mapped[str] = mapped_column(identifier(CLUSTER_NAME_LENGTH), default="", server_default="")
    target: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(identifier(STATUS_LENGTH))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    request_id: Mapped[str] = mapped_column(identifier(ACTION_LENGTH * 2), default="", server_default="")
    message: Mapped[str] = mapped_column(Text, default="", server_default="")


class NotificationChannelRow(Base):
    """A notification channel kept in the database (channels may also come from the settings)."""

    __tablename__ = "notification_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(identifier(CLUSTER_NAME_LENGTH), unique=True)
    # Apprise URLs carry secrets: never log or print them.
    urls: Mapped[list[str]] = mapped_column(JSON)
    clusters: Mapped[list[str]] = mapped_column(JSON)
    events: Mapped[list[str]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


# --- control (revision 0004): the control table, its history, namespace policies, its revision ---

REPLICAS_MODES = ("fixed", "recommended", "observed", "hpa")
ENFORCEMENTS = ("off", "warn", "enforce")
UNMANAGED_POLICIES = ("allow", "reject", "register")
FAILURE_POLICIES = ("open", "closed")
SOURCE_LENGTH = 253


class ControlSpecRow(Base):
    """The approved replicas and container resources of one Deployment or StatefulSet.

    ``containers`` is a JSON list of {container, requests, limits}; a resource mapped to
    null is removed by the webhook, an absent one left alone. ``version`` counts the spec's
    changes; every version is also in control_spec_versions.
    """

    __tablename__ = "control_specs"
    __table_args__ = (
        UniqueConstraint("cluster", "namespace", "kind", "name"),
        CheckConstraint("kind IN ('Deployment', 'StatefulSet')", name="kind"),
        CheckConstraint("replicas_mode IN ('fixed', 'recommended', 'observed', 'hpa')", name="replicas_mode"),
        CheckConstraint("replicas IS NULL OR replicas >= 0", name="replicas_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cluster: Mapped[str] = mapped_column(identifier(CLUSTER_NAME_LENGTH))
    namespace: Mapped[str] = mapped_column(identifier(NAMESPACE_LENGTH))
    kind: Mapped[str] = mapped_column(identifier(KIND_LENGTH))
    name: Mapped[str] = mapped_column(identifier(NAME_LENGTH))
    replicas_mode: Mapped[str] = mapped_column(identifier(STATUS_LENGTH))
    replicas: Mapped[int | None] = mapped_column(Integer)
    containers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(identifier(SOURCE_LENGTH))
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(identifier(ACTOR_LENGTH))
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")


class ControlSpecVersionRow(Base):
    """Every version of every spec: its values after a change (``removed``: the spec was deleted)."""

    __tablename__ = "control_spec_versions"
    __table_args__ = (UniqueConstraint("cluster", "namespace", "kind", "name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cluster: Mapped[str] = mapped_column(identifier(CLUSTER_NAME_LENGTH))
    namespace: Mapped[str] = mapped_column(identifier(NAMESPACE_LENGTH))
    kind: Mapped[str] = mapped_column(identifier(KIND_LENGTH))
    name: Mapped[str] = mapped_column(identifier(NAME_LENGTH))
    version: Mapped[int] = mapped_column(Integer)
    removed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    replicas_mode: Mapped[str | None] = mapped_column(identifier(STATUS_LENGTH))
    replicas: Mapped[int | None] = mapped_column(Integer)
    containers: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(identifier(SOURCE_LENGTH), default="", server_default="")
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    changed_by: Mapped[str] = mapped_column(identifier(ACTOR_LENGTH))
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")


class NamespacePolicyRow(Base):
    """How the webhook treats one namespace of a cluster (namespace ``*``: the cluster's default)."""

    __tablename__ = "namespace_policies"
    __table_args__ = (
        CheckConstraint("enforcement IN ('off', 'warn', 'enforce')", name="enforcement"),
        CheckConstraint("unmanaged IN ('allow', 'reject', 'register')", name="unmanaged"),
        CheckConstraint("failure IN ('open', 'closed')", name="failure"),
    )

    cluster: Mapped[str] = mapped_column(identifier(CLUSTER_NAME_LENGTH), primary_key=True)
    namespace: Mapped[str] = mapped_column(identifier(NAMESPACE_LENGTH), primary_key=True)
    enforcement: Mapped[str] = mapped_column(identifier(STATUS_LENGTH))
    unmanaged: Mapped[str] = mapped_column(identifier(STATUS_LENGTH))
    failure: Mapped[str] = mapped_column(identifier(STATUS_LENGTH))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(identifier(ACTOR_LENGTH))


class ControlRevisionRow(Base):
    """One row (id 1) whose version grows with every change of specs or policies.

    Webhook replicas poll this single value and reload their snapshot only when it moved.
    """

    __tablename__ = "control_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime())


# --- nodes (revision 0005): daily node figures, for idle-node detection ---


class NodeUsageDaily(Base):
    """One node on one local day (from the whole-day window); the key makes re-collection an upsert.

    Columns follow kubecap.domain.node.NodeUsage: CPU in cores, memory in bytes, P99 usage
    NULL without node-exporter data, requests the day's highest sums of pod requests.
    """

    __tablename__ = "node_usage_daily"
    __table_args__ = (Index(None, "day"),)

    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"), primary_key=True)
    node: Mapped[str] = mapped_column(identifier(NAME_LENGTH), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    pool: Mapped[str | None] = mapped_column(identifier(NAME_LENGTH))
    cpu_p99: Mapped[float | None] = mapped_column(Float)
    mem_p99: Mapped[float | None] = mapped_column(Float)
    cpu_allocatable: Mapped[float] = mapped_column(Float)
    mem_allocatable: Mapped[float] = mapped_column(Float)
    cpu_requests: Mapped[float] = mapped_column(Float)
    mem_requests: Mapped[float] = mapped_column(Float)
    daemonset_only: Mapped[bool] = mapped_column(Boolean)


# --- authentication (revision 0006): local users, API tokens, browser sessions ---

# Every string column compares byte-wise on PostgreSQL (collation "C"), as the rest of the schema.
USERNAME_LENGTH = 64
ROLE_LENGTH = 16
HASH_LENGTH = 255
TOKEN_DIGEST_LENGTH = 64


class UserRow(Base):
    """A local user: an argon2 hash, never the password; ``role`` is viewer, operator or admin."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(identifier(USERNAME_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(identifier(HASH_LENGTH))
    role: Mapped[str] = mapped_column(identifier(ROLE_LENGTH))
    disabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ApiTokenRow(Base):
    """An API token for automation: only the SHA-256 digest of the secret is kept (shown once)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(identifier(USERNAME_LENGTH))
    digest: Mapped[str] = mapped_column(identifier(TOKEN_DIGEST_LENGTH), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class SessionRow(Base):
    """A browser session: the digest of the cookie's secret, its CSRF token and its expiry."""

    __tablename__ = "sessions"
    __table_args__ = (Index(None, "expires_at"),)

    digest: Mapped[str] = mapped_column(identifier(TOKEN_DIGEST_LENGTH), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf: Mapped[str] = mapped_column(identifier(TOKEN_DIGEST_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


# --- settings and sign-in (revision 0007): price overrides, login failures, OIDC ---------------

PRICE_SCOPES = ("cluster", "pool")
OIDC_ISSUER_LENGTH = 512
OIDC_SUBJECT_LENGTH = 255


class PriceOverrideRow(Base):
    """A price set in the UI/API for one cluster or one node pool; it wins over the settings file."""

    __tablename__ = "price_overrides"
    __table_args__ = (CheckConstraint(f"scope IN {PRICE_SCOPES!r}", name="scope"),)

    scope: Mapped[str] = mapped_column(identifier(STATUS_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(identifier(CLUSTER_NAME_LENGTH), primary_key=True)
    cpu_price: Mapped[float] = mapped_column(Float)
    memory_price: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(identifier(USERNAME_LENGTH))


class LoginFailureRow(Base):
    """One failed login, by the digest of (user name, address): the rate limit holds across replicas."""

    __tablename__ = "login_failures"
    __table_args__ = (Index(None, "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(identifier(TOKEN_DIGEST_LENGTH))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class OidcLoginRow(Base):
    """An OIDC login under way: state (digest), nonce and PKCE verifier until the provider calls back."""

    __tablename__ = "oidc_logins"
    __table_args__ = (Index(None, "expires_at"),)

    state: Mapped[str] = mapped_column(identifier(TOKEN_DIGEST_LENGTH), primary_key=True)
    nonce: Mapped[str] = mapped_column(identifier(TOKEN_DIGEST_LENGTH))
    verifier: Mapped[str] = mapped_column(identifier(HASH_LENGTH))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OidcIdentityRow(Base):
    """The local user an OIDC identity (issuer, subject) signs in as."""

    __tablename__ = "oidc_identities"

    issuer: Mapped[str] = mapped_column(identifier(OIDC_ISSUER_LENGTH), primary_key=True)
    subject: Mapped[str] = mapped_column(identifier(OIDC_SUBJECT_LENGTH), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))


# --- predictive replicas (revision 0008) ---


class PredictPolicyRow(Base):
    """A workload's predictive-replicas policy (JSON, validated by kubecap.predict) and the
    controller's state: the HPA minReplicas it found before raising it, its last decision."""

    __tablename__ = "predict_policies"
    __table_args__ = (UniqueConstraint("cluster", "namespace", "kind", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cluster: Mapped[str] = mapped_column(identifier(CLUSTER_NAME_LENGTH))
    namespace: Mapped[str] = mapped_column(identifier(NAMESPACE_LENGTH))
    kind: Mapped[str] = mapped_column(identifier(KIND_LENGTH))
    name: Mapped[str] = mapped_column(identifier(NAME_LENGTH))
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(identifier(ACTOR_LENGTH))


# --- leader election of serve's background loops (revision 0009) ---

LEASE_NAME_LENGTH = 253


class LeaderLeaseRow(Base):
    """Who leads a group of replicas until when: claimed by one transactional update or insert.

    Used when no Kubernetes API is configured (a Lease object is used otherwise); ``holder`` is
    empty after a release, so the next contender takes over without waiting for the expiry.
    """

    __tablename__ = "leader_leases"

    name: Mapped[str] = mapped_column(identifier(LEASE_NAME_LENGTH), primary_key=True)
    holder: Mapped[str] = mapped_column(identifier(ACTOR_LENGTH))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    renewed_at: Mapped[datetime] = mapped_column(UtcDateTime())
