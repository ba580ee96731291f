"""The simulated cluster's scenario: what runs in it, and how its usage moves.

A scenario is written in YAML (see ``scenarios/demo.yaml``) and validated by the pydantic
models below. Every problem becomes a ``ConfigError`` whose one sentence names the field,
so a typo in a scenario never ends in a traceback. ``generate_scenario`` builds large
scenarios in code for the benchmarks.

Time: ``end`` is an ISO date/time (naive values are local to ``timezone``) or ``now``
(floored to the minute). The simulated period starts at local midnight ``days`` days before
the end's local day, so ``days: 14`` with ``end: now`` holds the 14 whole days before today
and today up to now.

Nodes (optional): ``node_pools`` lists pools of identical nodes, named ``<pool>-<i>``. A
DaemonSet runs one pod on every node of its ``pool`` (every node when it names none), so its
``replicas`` must equal that number of nodes; other workloads are spread over their ``pool``
(the first pool when they name none). A pool that no other workload uses runs only
DaemonSet pods: it is idle. Without ``node_pools`` pods run on no node, as before.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import numpy as np
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from kubecap.domain.quantity import QuantityError, parse_quantity
from kubecap.domain.window import PeakWindow, WindowError, local_instant, parse_timezone
from kubecap.domain.workload import WorkloadKind
from kubecap.errors import ConfigError
from kubecap.metrics.sim_traces import trace_names

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DURATION = re.compile(r"^([+-])?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


def _quantity(value: Any) -> float:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        try:
            return parse_quantity(value)
        except QuantityError as exc:
            raise ValueError(str(exc)) from None
    raise ValueError(f"{value!r} is not a quantity (examples: 250m, 1.5, 512Mi, 2Gi)")


def _duration(value: Any) -> int:
    """Whole seconds from ``90``, ``"60s"``, ``"5m"``, ``"-7h"``, ``"1h30m"``, ``"2d"``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _DURATION.match(value.strip()) if isinstance(value, str) else None
    if match is None or not any(match.groups()[1:]):
        raise ValueError(f"{value!r} is not a duration (examples: 60s, 5m, -7h, 1h30m)")
    sign, days, hours, minutes, seconds = match.groups()
    total = int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)
    return -total if sign == "-" else total


def _clock(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 10:40 as the sexagesimal number 640.
        raise ValueError("write the time of day in quotes, e.g. '10:40'")
    match = _CLOCK.match(value.strip()) if isinstance(value, str) else None
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"{value!r} is not a time of day: write HH:MM in quotes, e.g. '10:40'")
    return time(int(match[1]), int(match[2]))


def _name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value) or len(value) > 50:
        raise ValueError(
            f"{value!r} is not a valid name: use lowercase letters, digits and '-', at most 50 characters"
        )
    return value


Quantity = Annotated[float, BeforeValidator(_quantity)]
Duration = Annotated[int, BeforeValidator(_duration)]
Clock = Annotated[time, BeforeValidator(_clock)]
Name = Annotated[str, BeforeValidator(_name)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Diurnal(_Model):
    """A cosine day: ``base ± amplitude``, highest at ``peak`` local time."""

    base: Quantity
    amplitude: Quantity
    peak: Clock


class Usage(_Model):
    """How one resource of one container moves: exactly one of ``trace``, ``diurnal``, ``constant``.

    ``trace`` replays a bundled real trace rescaled to ``low..high``, shifted by ``offset``
    (positive: the trace's moments happen later in the local day). ``noise`` is the standard
    deviation of a multiplicative Gaussian noise per sample.
    """

    trace: str | None = None
    low: Quantity | None = None
    high: Quantity | None = None
    offset: Duration = 0
    diurnal: Diurnal | None = None
    constant: Quantity | None = None
    noise: float = Field(default=0.05, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _one_shape(self) -> Self:
        chosen = [k for k in ("trace", "diurnal", "constant") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError("give exactly one of 'trace', 'diurnal' or 'constant'")
        if self.trace is not None:
            if self.trace not in trace_names():
                raise ValueError(f"unknown trace {self.trace!r}: choose one of {', '.join(trace_names())}")
            if self.low is None or self.high is None:
                raise ValueError("a trace needs 'low' and 'high' to rescale it to")
            if self.high < self.low or self.low < 0:
                raise ValueError("a trace needs 0 <= low <= high")
        elif self.low is not None or self.high is not None:
            raise ValueError("'low' and 'high' only go with 'trace'")
        if self.constant is not None and self.constant < 0:
            raise ValueError("a constant usage cannot be negative")
        return self

    @property
    def floor(self) -> float:
        """The lowest level of the shape without noise (where memory restarts from)."""
        if self.trace is not None:
            return float(self.low or 0.0)
        if self.diurnal is not None:
            return max(0.0, self.diurnal.base - self.diurnal.amplitude)
        return float(self.constant or 0.0)


class Resources(_Model):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class Container(_Model):
    name: Name
    requests: Resources = Resources()
    limits: Resources = Resources()
    cpu: Usage
    memory: Usage

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> Self:
        for resource in ("cpu", "memory"):
            request, limit = getattr(self.requests, resource), getattr(self.limits, resource)
            if request is not None and limit is not None and limit < request:
                raise ValueError(
                    f"the {resource} limit is below the {resource} request; Kubernetes rejects that"
                )
        if self.limits.cpu is not None and self.limits.cpu <= 0:
            raise ValueError("a CPU limit must be positive")
        return self


class Rollout(_Model):
    """When all pods of a workload are replaced.

    Either an absolute ``at`` (ISO date/time, naive = local) or ``days_before_end`` with a
    local ``at: "HH:MM"`` (0 = the end's local day), which suits scenarios ending "now".
    """

    at: str
    days_before_end: int | None = Field(default=None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, datetime | date):
            return {"at": value.isoformat()}
        if isinstance(value, str):
            return {"at": value}
        if isinstance(value, dict) and isinstance(value.get("at"), int):
            _clock(value["at"])  # raises the quoting hint
        return value

    @model_validator(mode="after")
    def _parseable(self) -> Self:
        if self.days_before_end is not None:
            _clock(self.at)
        else:
            try:
                datetime.fromisoformat(self.at)
            except ValueError:
                raise ValueError(
                    f"{self.at!r} is not an ISO date/time: write e.g. '2026-03-04T10:40' "
                    "or give days_before_end with at: 'HH:MM'"
                ) from None
        return self

    def instant(self, end: datetime, tz: tzinfo) -> datetime:
        """The UTC instant of this rollout in a period ending at ``end``."""
        if self.days_before_end is not None:
            day = end.astimezone(tz).date() - timedelta(days=self.days_before_end)
            return local_instant(day, _clock(self.at), tz)
        return _aware(datetime.fromisoformat(self.at), tz)


class Hpa(_Model):
    """A HorizontalPodAutoscaler on the workload, as kube-state-metrics reports it.

    Targets are utilisation percentages of the request; ``other`` names a custom metric.
    The simulated replicas stay as the scenario says: only the HPA's spec is exported.
    """

    min: int = Field(ge=1, le=1000)
    max: int = Field(ge=1, le=1000)
    cpu: int | None = Field(default=None, ge=1, le=1000)
    memory: int | None = Field(default=None, ge=1, le=1000)
    other: str | None = Field(default=None, pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]{0,99}$")

    @model_validator(mode="after")
    def _sane(self) -> Self:
        if self.max < self.min:
            raise ValueError("an HPA's max must not be below its min")
        if self.cpu is None and self.memory is None and self.other is None:
            raise ValueError(
                "an HPA needs a target: cpu, memory (percent of request) or other (a metric name)"
            )
        return self


NodeExporterInstance = Literal["ip:port", "ip", "name", "none"]


class NodePool(_Model):
    """Identical nodes ``<name>-0`` … ``<name>-<count - 1>``.

    ``cpu`` and ``memory`` are what the scheduler can place (allocatable); the machine has
    ``ceil(cpu)`` CPUs and ``memory + system_memory`` bytes of RAM. The operating system and the
    kubelet use about ``system_cpu`` cores and ``system_memory`` bytes besides the pods.
    ``node_exporter`` is how node-exporter's ``instance`` label names a node (``<ip>:9100``,
    ``<ip>``, the node name) or ``none`` when node-exporter does not run on the pool.
    """

    name: Name
    count: int = Field(ge=1, le=240)
    cpu: Quantity
    memory: Quantity
    system_cpu: Quantity = 0.05
    system_memory: Quantity = float(512 * 2**20)
    node_exporter: NodeExporterInstance = "ip:port"

    @model_validator(mode="after")
    def _positive(self) -> Self:
        if self.cpu <= 0 or self.memory <= 0:
            raise ValueError("a node pool needs positive cpu and memory (allocatable per node)")
        if self.cpu > 1024:
            raise ValueError("a node has at most 1024 CPUs here; give cpu in cores, e.g. 8 or 3920m")
        if self.system_cpu < 0 or self.system_memory < 0:
            raise ValueError("system_cpu and system_memory cannot be negative")
        return self


class Workload(_Model):
    kind: WorkloadKind
    name: Name
    replicas: int = Field(ge=1, le=1000, description="pods; for a DaemonSet, the number of nodes")
    pool: Name | None = Field(
        default=None, description="the node pool its pods run in (a DaemonSet: on every node of it)"
    )
    rollouts: list[Rollout] = []
    hpa: Hpa | None = None
    labels: dict[str, str] = {}
    containers: list[Container] = Field(min_length=1)

    @model_validator(mode="after")
    def _hpa_on_scalable(self) -> Self:
        if self.hpa is not None and self.kind is WorkloadKind.DAEMONSET:
            raise ValueError("a DaemonSet cannot have an HPA")
        return self

    @field_validator("containers")
    @classmethod
    def _unique_containers(cls, containers: list[Container]) -> list[Container]:
        names = [c.name for c in containers]
        if len(set(names)) != len(names):
            raise ValueError("container names must be unique within a workload")
        return containers


class Scenario(_Model):
    """A simulated cluster and its history."""

    cluster: str = Field(min_length=1, max_length=100)
    timezone: str = "UTC"
    end: datetime | Literal["now"] = "now"
    days: int = Field(default=14, ge=1, le=400)
    scrape_interval: Duration = 60
    seed: int = 0
    pod_spread: float = Field(default=0.1, ge=0.0, lt=1.0, description="per-pod usage factor: 1 ± spread")
    peak_windows: list[str] = ["10:00-11:30"]
    node_pools: list[NodePool] = Field(default=[], max_length=250)
    namespaces: dict[Name, list[Workload]] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            parse_timezone(value)
        except WindowError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("scrape_interval")
    @classmethod
    def _interval(cls, value: int) -> int:
        # rate() over 5 minutes needs at least two samples in the range.
        if not 1 <= value <= 150:
            raise ValueError(
                "the scrape interval must be between 1s and 150s (rate over 5m needs two samples)"
            )
        return value

    @field_validator("peak_windows")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        for spec in value:
            try:
                PeakWindow.parse(spec)
            except WindowError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("namespaces")
    @classmethod
    def _unique_workloads(cls, value: dict[str, list[Workload]]) -> dict[str, list[Workload]]:
        for namespace, workloads in value.items():
            names = [w.name for w in workloads]
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"namespace {namespace!r} has two workloads named {duplicates[0]!r}")
        return value

    @model_validator(mode="after")
    def _pools_exist_and_daemonsets_fill_them(self) -> Self:
        sizes = {pool.name: pool.count for pool in self.node_pools}
        if len(sizes) != len(self.node_pools):
            names = [pool.name for pool in self.node_pools]
            raise ValueError(
                f"node_pools has two pools named {next(n for n in names if names.count(n) > 1)!r}"
            )
        for namespace, workload in self.workloads():
            where = f"workload {namespace}/{workload.name}"
            if workload.pool is not None and workload.pool not in sizes:
                known = ", ".join(sizes) or "none (add node_pools)"
                raise ValueError(
                    f"{where} runs in pool {workload.pool!r}, which is not a node pool; pools: {known}"
                )
            if sizes and workload.kind is WorkloadKind.DAEMONSET:
                nodes = sizes[workload.pool] if workload.pool is not None else sum(sizes.values())
                if workload.replicas != nodes:
                    raise ValueError(
                        f"{where} is a DaemonSet, one pod per node of its pools: set its replicas to {nodes}"
                    )
        return self

    @property
    def tz(self) -> tzinfo:
        return parse_timezone(self.timezone)

    def period(self, now: datetime | None = None) -> tuple[datetime, datetime]:
        """UTC start and end of the simulated period (``now`` resolves ``end: now``)."""
        if self.end == "now":
            current = (now or datetime.now(UTC)).astimezone(UTC)
            end = current.replace(second=0, microsecond=0)
        else:
            end = _aware(self.end, self.tz)
        first_day = end.astimezone(self.tz).date() - timedelta(days=self.days)
        return local_instant(first_day, time(0), self.tz), end

    def workloads(self) -> list[tuple[str, Workload]]:
        """(namespace, workload) pairs in scenario order."""
        return [(namespace, w) for namespace, items in self.namespaces.items() for w in items]


def _aware(value: datetime, tz: tzinfo) -> datetime:
    if value.tzinfo is None:
        return local_instant(value.date(), value.time(), tz)
    return value.astimezone(UTC)


def _field(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _message(error: Mapping[str, Any]) -> str:
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message.rstrip(".")


def parse_scenario(data: Any, *, source: str = "scenario") -> Scenario:
    """A Scenario from parsed YAML, or a ConfigError naming the first bad field."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        raise ConfigError(
            f"{source}: field {_field(loc)} is invalid: {_message(error)}; fix it in the scenario file"
        ) from None


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario YAML file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read scenario file {path}: {exc.strerror or exc}; check the path"
        ) from None
    return scenario_from_yaml(text, source=str(path))


def scenario_from_yaml(text: str, *, source: str = "scenario") -> Scenario:
    """Validate a scenario given as YAML text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{source} is not valid YAML{where}; fix the syntax there") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source} must be a YAML mapping with 'cluster' and 'namespaces'; see scenarios/demo.yaml"
        )
    return parse_scenario(data, source=source)


def demo_scenario() -> Scenario:
    """The bundled demo scenario (``scenarios/demo.yaml``)."""
    text = resources.files("kubecap.metrics").joinpath("scenarios/demo.yaml").read_text(encoding="utf-8")
    return scenario_from_yaml(text, source="bundled demo scenario")


# --- generated scenarios for benchmarks -------------------------------------------------------

_CPU_TRACES = ("crane_daily", "crane_weekly", "wc98", "azure_cpu", "google_cpu", "nab_asg", "crane_nightly")
_MEM_TRACES = ("azure_memory", "google_memory")


def generate_scenario(
    workloads: int,
    pods_per_workload: int,
    days: int,
    end: datetime | Literal["now"] = "now",
    seed: int = 0,
    *,
    cluster: str = "bench",
    timezone: str = "UTC",
) -> Scenario:
    """A large, varied scenario: ~70 % Deployments, 20 % StatefulSets, 10 % DaemonSets.

    One or two containers each (a third get a sidecar), trace-driven and diurnal usage,
    requests between generous and tight, memory limits above the usage (no OOM kills) and
    CPU limits on a few workloads. The same arguments always give the same scenario.
    """
    if workloads < 1 or pods_per_workload < 1 or days < 1:
        raise ConfigError("generate_scenario needs at least one workload, one pod per workload and one day")
    rng = np.random.default_rng([seed, zlib.crc32(b"kubecap-bench")])
    namespaces: dict[str, list[dict[str, Any]]] = {}
    per_namespace = 25
    for index in range(workloads):
        namespace = f"team-{index // per_namespace:03d}"
        roll = rng.random()
        kind = "Deployment" if roll < 0.7 else "StatefulSet" if roll < 0.9 else "DaemonSet"
        containers = [_bench_container("app", rng, main=True)]
        if rng.random() < 1 / 3:
            containers.append(_bench_container("sidecar", rng, main=False))
        namespaces.setdefault(namespace, []).append(
            {
                "kind": kind,
                "name": f"{kind.lower()[:3]}-{index:05d}",
                "replicas": pods_per_workload,
                "containers": containers,
            }
        )
    return parse_scenario(
        {
            "cluster": cluster,
            "timezone": timezone,
            "end": end,
            "days": days,
            "seed": seed,
            "namespaces": namespaces,
        },
        source="generated scenario",
    )


def _bench_container(name: str, rng: np.random.Generator, *, main: bool) -> dict[str, Any]:
    scale = float(rng.choice([0.05, 0.1, 0.25, 0.5, 1.0, 2.0])) if main else 0.02
    cpu_high = scale * float(rng.uniform(0.6, 1.4))
    cpu_low = cpu_high * float(rng.uniform(0.05, 0.4))
    mem_high = (
        (512 if main else 64) * 2**20 * float(rng.choice([0.5, 1, 2, 4])) * float(rng.uniform(0.7, 1.3))
    )
    mem_low = mem_high * float(rng.uniform(0.5, 0.9))
    if rng.random() < 0.7:
        trace = str(rng.choice(_CPU_TRACES))
        cpu: dict[str, Any] = {
            "trace": trace,
            "low": cpu_low,
            "high": cpu_high,
            "offset": int(rng.integers(-12, 12)) * 3600,
        }
    else:
        peak = f"{int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 4)) * 15:02d}"
        cpu = {
            "diurnal": {"base": (cpu_low + cpu_high) / 2, "amplitude": (cpu_high - cpu_low) / 2, "peak": peak}
        }
    memory: dict[str, Any] = (
        {"trace": str(rng.choice(_MEM_TRACES)), "low": mem_low, "high": mem_high, "noise": 0.01}
        if rng.random() < 0.5
        else {"constant": mem_high, "noise": 0.01}
    )
    # Requests between tight (the typical level) and generous (twice the peak).
    cpu_request = round(cpu_high * float(rng.uniform(0.5, 2.0)), 3)
    mem_request = round(mem_high * float(rng.uniform(0.8, 2.0)))
    requests: dict[str, Any] = {"cpu": max(cpu_request, 0.001), "memory": mem_request}
    limits: dict[str, Any] = {"memory": round(max(mem_request, mem_high * 1.5))}
    if rng.random() < 0.15:
        limits["cpu"] = round(max(requests["cpu"], cpu_high * 0.9), 3)
    return {"name": name, "requests": requests, "limits": limits, "cpu": cpu, "memory": memory}
