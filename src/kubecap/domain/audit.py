"""Audit events: who changed what, from what to what, with which result, when.

Every mutation kubecap makes (CLI, API, tasks, webhook, controllers) is recorded as one
event; notification deliveries are recorded too, so a failed one is never silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class AuditResult(StrEnum):
    OK = "ok"
    FAILED = "failed"
    MISSED = "missed"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    at: datetime
    actor: str
    action: str
    target: str
    result: AuditResult
    cluster: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    request_id: str = ""
    message: str = ""
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "cluster": self.cluster,
            "target": self.target,
            "result": self.result.value,
            "before": self.before,
            "after": self.after,
            "request_id": self.request_id,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Events matching every given field; ``target`` matches as a substring."""

    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    action: str | None = None
    cluster: str | None = None
    target: str | None = None
    result: AuditResult | None = None
    limit: int = 1000
