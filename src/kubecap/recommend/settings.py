"""Settings of the recommender: typed pydantic models that the CLI turns into flags and the API into fields.

Every strategy declares its own model (a subclass of ``StrategySettings``); the engine's
own settings (HPA handling, replica targets, prices) are ``EngineSettings``. Values are
validated here once, and a bad value becomes one ConfigError sentence naming the setting
the way the user wrote it (``--cpu-percentile 120 ...`` on the command line).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Self, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from kubecap.domain.prices import DEFAULT_CPU_PRICE as DEFAULT_CPU_PRICE
from kubecap.domain.prices import DEFAULT_MEMORY_PRICE as DEFAULT_MEMORY_PRICE
from kubecap.domain.quantity import QuantityError, parse_quantity
from kubecap.errors import ConfigError


def _quantity(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{value!r} is not a quantity (examples: 10m, 0.5, 100Mi, 1Gi)")
    try:
        number = parse_quantity(value)
    except QuantityError as exc:
        raise ValueError(str(exc)) from None
    if number < 0:
        raise ValueError(f"{value!r} is negative; use zero or more")
    return number


CpuQuantity = Annotated[float, BeforeValidator(_quantity), Field(json_schema_extra={"quantity": "cpu"})]
"""Cores; accepts Kubernetes quantities ("10m", "0.5")."""
MemoryQuantity = Annotated[float, BeforeValidator(_quantity), Field(json_schema_extra={"quantity": "memory"})]
"""Bytes; accepts Kubernetes quantities ("100Mi", "1Gi")."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StrategySettings(Settings):
    """What every strategy has: how many days it reads and how many it needs at least."""

    days: int = Field(14, ge=1, le=400, description="days of history the strategy reads, ending yesterday")
    min_days: int = Field(1, ge=1, le=400, description="days with data below which it says 'not enough data'")

    @model_validator(mode="after")
    def _min_days_within_days(self) -> Self:
        if self.min_days > self.days:
            raise ValueError(f"min_days ({self.min_days}) cannot exceed days ({self.days})")
        return self


class EngineSettings(Settings):
    """Settings shared by every strategy: guardrails, replicas and prices."""

    allow_hpa: bool = Field(
        False, description="change the requests an HPA scales on (its utilisation is measured against them)"
    )
    target_utilization: float = Field(
        0.6, gt=0, le=1, description="share of a pod's CPU request its peak usage should take (replicas)"
    )
    min_replicas: int = Field(1, ge=0, le=10_000, description="fewest replicas ever recommended")
    max_replicas: int = Field(100, ge=1, le=10_000, description="most replicas ever recommended")
    below_observed_minimum: bool = Field(
        False, description="allow fewer replicas than the workload ever ran with (it may serve traffic)"
    )
    cpu_price: float = Field(DEFAULT_CPU_PRICE, ge=0, description="US dollars per core-hour")
    memory_price: float = Field(DEFAULT_MEMORY_PRICE, ge=0, description="US dollars per GiB-hour")

    @model_validator(mode="after")
    def _replica_bounds(self) -> Self:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) cannot exceed max_replicas ({self.max_replicas})"
            )
        return self


S = TypeVar("S", bound=Settings)


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _bound_message(error: Mapping[str, Any]) -> str:
    ctx = {k: _num(v) for k, v in (error.get("ctx") or {}).items()}
    kind = error["type"]
    if kind == "less_than_equal":
        return f"is out of range: use at most {ctx['le']}"
    if kind == "less_than":
        return f"is out of range: use less than {ctx['lt']}"
    if kind == "greater_than_equal":
        return f"is out of range: use at least {ctx['ge']}"
    if kind == "greater_than":
        return f"is out of range: use more than {ctx['gt']}"
    if kind == "extra_forbidden":
        return "is not a setting of this strategy"
    return "is invalid: " + str(error["msg"]).removeprefix("Value error, ")


def parse_settings(
    model: type[S],
    values: Mapping[str, Any],
    *,
    name_of: Callable[[str], str] = lambda field: field,
    shown: Mapping[str, Any] | None = None,
) -> S:
    """``model`` from ``values``, or one ConfigError listing each problem as a sentence.

    ``name_of`` turns a field name into the name the user typed (a CLI flag, for instance)
    and ``shown`` gives values as the user typed them, for the message.
    """
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            if field:
                given = (shown or {}).get(field, values.get(field, error.get("input")))
                problems.append(f"{name_of(field)} {_num(given)} {_bound_message(error)}")
            else:
                problems.append(str(error["msg"]).removeprefix("Value error, "))
        raise ConfigError("; ".join(problems)) from exc
