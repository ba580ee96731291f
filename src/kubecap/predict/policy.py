"""A workload's predictive-replicas policy: what to forecast, how to turn load into replicas, the guardrails.

Policies are validated here, once, so nothing invalid reaches the store or the controller;
every error is one ``PolicyError`` sentence naming the value and the fix. A policy is kept
as a JSON document (``to_json``/``from_json``) so new fields need no schema migration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from croniter import croniter

from kubecap.domain.control import CONTROLLED_KINDS, MAX_REPLICAS
from kubecap.domain.window import WindowError, parse_timezone
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.errors import ConfigError


class PolicyError(ConfigError):
    """A predictive-replicas policy is invalid; the message names the value and the fix."""


class Signal(StrEnum):
    """The load that is forecast: the workload's CPU cores, or any PromQL expression."""

    CPU = "cpu"
    PROMQL = "promql"


class Mode(StrEnum):
    """How replicas are set: the control table's replicas (the webhook enforces them), or an
    HPA's minReplicas raised ahead of the peak and restored after (the HPA still reacts)."""

    CONTROL_TABLE = "control-table"
    HPA_MIN = "hpa-min"


@dataclass(frozen=True, slots=True)
class CronWindow:
    """Like a Crane EHPA cron: from each ``start`` to the next ``end`` (cron, in ``timezone``),
    at least ``replicas`` replicas."""

    start: str
    end: str
    replicas: int
    timezone: str = "UTC"

    def validate(self) -> CronWindow:
        for which, text in (("start", self.start), ("end", self.end)):
            if len(text.split()) != 5 or not croniter.is_valid(text):
                raise PolicyError(
                    f"cron window {which} {text!r} is not a cron expression: use five fields "
                    "'minute hour day month weekday', e.g. '0 9 * * 1-5'"
                )
        try:
            parse_timezone(self.timezone)
        except WindowError as exc:
            raise PolicyError(str(exc)) from None
        if not 0 <= self.replicas <= MAX_REPLICAS:
            raise PolicyError(f"cron window replicas {self.replicas} must be within 0..{MAX_REPLICAS}")
        return self

    def active(self, now: datetime) -> bool:
        """True when the latest ``start`` at or before ``now`` is later than the latest ``end``."""
        local = (now + timedelta(seconds=1)).astimezone(parse_timezone(self.timezone))
        started: datetime = croniter(self.start, local).get_prev(datetime)
        ended: datetime = croniter(self.end, local).get_prev(datetime)
        return started > ended

    def __str__(self) -> str:
        return f"{self.start}..{self.end} {self.timezone} >= {self.replicas}"


@dataclass(frozen=True, slots=True)
class Policy:
    """The predictive-replicas policy of one Deployment or StatefulSet."""

    ref: WorkloadRef
    target: float
    """Load one replica should carry (cores for ``cpu``; the expression's unit for ``promql``)."""
    min_replicas: int = 1
    max_replicas: int = 10
    max_step: int = 5
    """Most replicas added or removed by one round."""
    lead_seconds: int = 1800
    """How far ahead of the forecast load replicas are raised."""
    mode: Mode = Mode.CONTROL_TABLE
    signal: Signal = Signal.CPU
    promql: str = ""
    hpa: str = ""
    """The HPA whose minReplicas ``hpa-min`` raises (empty: the one that targets the workload)."""
    max_error: float = 0.5
    """Backtest error (asymmetric, 0.1 = 10 %) above which the forecast is not trusted."""
    crons: tuple[CronWindow, ...] = ()
    preview: bool = False
    """Only record what would be done."""

    def validate(self) -> Policy:
        if self.ref.kind not in CONTROLLED_KINDS:
            raise PolicyError(
                f"{self.ref} is a {self.ref.kind.value}: predictive replicas apply to Deployments and StatefulSets"
            )
        if not self.target > 0 or self.target != self.target:
            raise PolicyError(f"target per replica {self.target!r} must be a positive number")
        if not 0 <= self.min_replicas <= self.max_replicas <= MAX_REPLICAS:
            raise PolicyError(
                f"replicas bounds {self.min_replicas}..{self.max_replicas} must satisfy "
                f"0 <= min <= max <= {MAX_REPLICAS}"
            )
        if self.max_step < 1:
            raise PolicyError(f"max step {self.max_step} must be at least 1 replica")
        if not 0 <= self.lead_seconds <= 86_400:
            raise PolicyError(f"lead time {self.lead_seconds}s must be within 0s..24h")
        if not self.max_error > 0:
            raise PolicyError(f"error threshold {self.max_error!r} must be positive (0.3 = 30 %)")
        if self.signal is Signal.PROMQL and not self.promql.strip():
            raise PolicyError("signal promql needs an expression: pass --promql 'sum(rate(...))'")
        if self.signal is Signal.CPU and self.promql:
            raise PolicyError("--promql is only used with --signal promql: drop it or set the signal")
        for cron in self.crons:
            cron.validate()
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "min_replicas": self.min_replicas,
            "max_replicas": self.max_replicas,
            "max_step": self.max_step,
            "lead_seconds": self.lead_seconds,
            "mode": self.mode.value,
            "signal": self.signal.value,
            "promql": self.promql,
            "hpa": self.hpa,
            "max_error": self.max_error,
            "crons": [
                {"start": c.start, "end": c.end, "replicas": c.replicas, "timezone": c.timezone}
                for c in self.crons
            ],
            "preview": self.preview,
        }

    @classmethod
    def from_json(cls, ref: WorkloadRef, body: dict[str, Any]) -> Policy:
        return cls(
            ref=ref,
            target=float(body["target"]),
            min_replicas=int(body["min_replicas"]),
            max_replicas=int(body["max_replicas"]),
            max_step=int(body["max_step"]),
            lead_seconds=int(body["lead_seconds"]),
            mode=Mode(body["mode"]),
            signal=Signal(body["signal"]),
            promql=str(body.get("promql", "")),
            hpa=str(body.get("hpa", "")),
            max_error=float(body["max_error"]),
            crons=tuple(
                CronWindow(c["start"], c["end"], int(c["replicas"]), c.get("timezone", "UTC"))
                for c in body.get("crons", [])
            ),
            preview=bool(body.get("preview", False)),
        )


def parse_cron_window(text: str) -> CronWindow:
    """``'START..END=REPLICAS[@TZ]'``, e.g. ``'0 9 * * 1-5..0 18 * * 1-5=6@Europe/Paris'``."""
    body, _, tz = text.partition("@")
    span, sep, replicas = body.rpartition("=")
    start, dots, end = span.partition("..")
    if not sep or not dots:
        raise PolicyError(
            f"cron window {text!r} is not START..END=REPLICAS, optionally followed by @TIMEZONE: e.g. '0 9 * * 1-5..0 18 * * 1-5=6@UTC'"
        )
    try:
        count = int(replicas)
    except ValueError:
        raise PolicyError(f"cron window {text!r}: replicas {replicas!r} is not a whole number") from None
    return CronWindow(" ".join(start.split()), " ".join(end.split()), count, tz.strip() or "UTC").validate()


def epoch(moment: datetime) -> float:
    return moment.astimezone(UTC).timestamp()


__all__ = ["CronWindow", "Mode", "Policy", "PolicyError", "Signal", "WorkloadKind", "parse_cron_window"]
