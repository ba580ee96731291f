"""Settings of load-aware scheduling: node load, the extender's policy and the auto-taint controller.

Three groups, each handed only to the component that uses it: ``NodeLoadSettings`` to the
node-load cache, ``ExtenderSettings`` to the extender's policy and server,
``TaintSettings`` to the taint controller. They are pydantic models so that the YAML file,
``KUBECAP_SCHEDULING__*`` variables and code all go through the same checks; ``checked``
turns a bad value into one ConfigError sentence per problem for callers outside config.py.
Defaults follow Crane's dynamic scheduler where it has one (DESIGN.md section 5).
"""

from __future__ import annotations

import re
from typing import Any, Literal, Self, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kubecap.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# A qualified Kubernetes label or taint key: optional DNS prefix, then a name of at most 63.
_TAINT_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeLoadSettings(_Strict):
    """How node load is read from node-exporter series and how old a figure may be."""

    refresh_seconds: float = Field(30.0, ge=1, le=3600, description="how often the 5-minute figures are read")
    hour_refresh_seconds: float = Field(
        300.0, ge=1, le=86_400, description="how often the 1-hour maxima are read"
    )
    day_refresh_seconds: float = Field(
        1800.0, ge=1, le=86_400, description="how often the 1-day maxima are read"
    )
    identity_refresh_seconds: float = Field(
        300.0,
        ge=1,
        le=86_400,
        description="how often node names, IPs, capacity and recording rules are looked up",
    )
    current_max_age_seconds: float = Field(
        180.0, gt=0, le=86_400, description="a 5-minute figure older than this is stale and not used"
    )
    hour_max_age_seconds: float = Field(900.0, gt=0, le=86_400, description="age limit of the 1-hour maxima")
    day_max_age_seconds: float = Field(
        7200.0, gt=0, le=7 * 86_400, description="age limit of the 1-day maxima"
    )
    recording_rules: Literal["auto", "always", "never"] = Field(
        "auto",
        description="use node-mixin's recording rules (instance:node_cpu_utilisation:rate5m, "
        "instance:node_memory_utilisation:ratio) when Prometheus has them ('auto'), always, or never",
    )
    node_labels: tuple[str, ...] = Field(
        ("node", "kubernetes_node", "nodename"),
        description="series labels that may hold the node name, tried before 'instance'",
    )
    recent_binding_seconds: float = Field(
        300.0,
        ge=0,
        le=3600,
        description="pods bound this recently count with their estimated usage (metrics do not show them yet)",
    )

    @field_validator("node_labels")
    @classmethod
    def _labels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for label in value:
            if not _LABEL_NAME.match(label):
                raise ValueError(f"node_labels entry {label!r} is not a valid Prometheus label name")
        return value


class HotValueRule(_Strict):
    """Crane's hot value: ``binds in the last window_seconds // count`` is taken off the score."""

    window_seconds: float = Field(gt=0, le=3600)
    count: int = Field(ge=1, le=1000)


class ExtenderSettings(_Strict):
    """The extender's filter and score policy (Crane's defaults) and where it listens."""

    host: str = Field("0.0.0.0", description="address the extender listens on")  # noqa: S104 - a server in a pod
    port: int = Field(8888, ge=1, le=65_535)
    filter_cpu_avg_5m: float = Field(
        0.65, gt=0, le=10, description="filter out a node above this CPU 5-minute average"
    )
    filter_cpu_max_1h: float = Field(0.75, gt=0, le=10, description="... or above this 1-hour maximum of it")
    filter_memory_avg_5m: float = Field(0.65, gt=0, le=10)
    filter_memory_max_1h: float = Field(0.75, gt=0, le=10)
    weight_avg_5m: float = Field(0.2, ge=0, le=100, description="score weight of the 5-minute average")
    weight_max_1h: float = Field(0.3, ge=0, le=100, description="score weight of the 1-hour maximum")
    weight_max_1d: float = Field(0.5, ge=0, le=100, description="score weight of the 1-day maximum")
    hot_value: tuple[HotValueRule, ...] = Field(
        (HotValueRule(window_seconds=300, count=5), HotValueRule(window_seconds=60, count=2)),
        description="score penalty per recent binds (Crane: 5 binds in 5 minutes or 2 in 1 minute cost 1)",
    )
    estimate_cpu_ratio: float = Field(
        0.85, ge=0, le=1, description="a new pod's CPU use is estimated as max(request, limit) times this"
    )
    estimate_memory_ratio: float = Field(0.70, ge=0, le=1, description="the same for memory")
    default_cpu_estimate: float = Field(
        0.25, ge=0, description="cores assumed for a pod without CPU requests or limits"
    )
    default_memory_estimate: float = Field(
        200 * 2**20, ge=0, description="bytes assumed for a pod without memory requests or limits"
    )
    assume_seconds: float = Field(
        120.0,
        ge=0,
        le=3600,
        description="after scoring a pod, count it on its best node for this long or until kube-state-metrics "
        "shows where it went (0: never), so a Deployment's replicas do not all go to one node",
    )
    missing_data_score: int = Field(
        5, ge=0, le=10, description="score of a node without fresh data (neutral)"
    )
    pass_when_all_filtered: bool = Field(
        True,
        description="when every candidate is above the marks, pass them all (and say so) instead of leaving the pod pending",
    )
    skip_daemonset_pods: bool = Field(True, description="DaemonSet pods pass every node with neutral scores")

    @model_validator(mode="after")
    def _weights(self) -> Self:
        if self.weight_avg_5m + self.weight_max_1h + self.weight_max_1d <= 0:
            raise ValueError(
                "at least one of weight_avg_5m, weight_max_1h and weight_max_1d must be above zero"
            )
        return self


TaintEffect = Literal["NoSchedule", "PreferNoSchedule"]


class TaintSettings(_Strict):
    """The auto-taint controller: marks with hysteresis, the share cap, what it may touch."""

    key: str = Field("kubecap.io/overloaded", description="the taint key kubecap owns; it touches no other")
    effect: TaintEffect = Field(
        "PreferNoSchedule",
        description="PreferNoSchedule (scheduler avoids the node) or NoSchedule (it never places new pods there; "
        "DaemonSets then need a toleration)",
    )
    high: float = Field(0.85, gt=0, le=10, description="taint when CPU or memory stays at or above this")
    high_seconds: float = Field(600.0, ge=0, le=86_400, description="... for this long")
    low: float = Field(0.65, ge=0, le=10, description="untaint only when CPU and memory stay below this")
    low_seconds: float = Field(900.0, ge=0, le=86_400, description="... for this long")
    hold_seconds: float = Field(
        1800.0, ge=0, le=86_400, description="never undo a taint change sooner than this (no flapping)"
    )
    max_share: float = Field(
        0.3, ge=0, description="most nodes of one pool tainted at once, as a share of the pool (rounded down)"
    )
    pool_labels: tuple[str, ...] = Field(
        (
            "node-pool",
            "cloud.google.com/gke-nodepool",
            "eks.amazonaws.com/nodegroup",
            "kubernetes.azure.com/agentpool",
            "karpenter.sh/nodepool",
            "node.kubernetes.io/instance-type",
        ),
        description="node labels naming the node pool, first present wins; nodes with none form one pool",
    )
    include_control_plane: bool = Field(False, description="also taint control-plane nodes")
    dry_run: bool = Field(False, description="decide and report, change nothing")
    interval_seconds: float = Field(30.0, ge=1, le=3600, description="time between two rounds")
    missing_data_seconds: float = Field(
        900.0, ge=0, le=86_400, description="remove our taint from a node without load data for this long"
    )
    lease_namespace: str = Field("kubecap", min_length=1, max_length=63)
    lease_name: str = Field("kubecap-taint-controller", min_length=1, max_length=253)
    lease_seconds: int = Field(30, ge=5, le=3600, description="leader lease duration")
    crane_annotations: bool = Field(
        False,
        description="also write crane-scheduler's node annotations (cpu_usage_avg_5m, ...) so it can read them",
    )
    crane_timezone: str = Field(
        "Asia/Shanghai",
        description="time zone crane-scheduler reads its annotation times in (its TZ variable)",
    )

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _TAINT_KEY.match(value) or len(value) > 316:
            raise ValueError(
                f"taint key {value!r} is not a valid Kubernetes taint key (e.g. kubecap.io/overloaded)"
            )
        return value

    @field_validator("crane_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"crane_timezone {value!r} is not an IANA time zone (e.g. Asia/Shanghai, UTC)"
            ) from None
        return value

    @field_validator("max_share")
    @classmethod
    def _share(cls, value: float) -> float:
        if value > 1:
            raise ValueError(
                f"max_share {value:g} is above 1: give the share of a pool as a number from 0 to 1"
            )
        return value

    @model_validator(mode="after")
    def _marks(self) -> Self:
        if self.low >= self.high:
            raise ValueError(
                f"the low mark {self.low:g} must be below the high mark {self.high:g}, or taints would flap: "
                "lower 'low' or raise 'high'"
            )
        return self


def checked(model: type[M], **values: Any) -> M:
    """``model(**values)``, or one ConfigError with a sentence per problem (``low: ...``)."""
    try:
        return model(**values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or model.__name__
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if error["loc"] else message)
        raise ConfigError("; ".join(problems), problems=problems) from None
