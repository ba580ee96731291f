"""What the control capability needs from the store, as protocols (kubecap.store.Store implements them).

They speak domain types only, so the store never imports control and control never imports
SQLAlchemy; tests may hand in anything that honours them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from kubecap.domain.audit import AuditEvent
from kubecap.domain.control import ControlSnapshot, ControlSpec, NamespacePolicy, SpecVersion
from kubecap.domain.recommendation import Recommendation
from kubecap.domain.usage import UsageProfile
from kubecap.domain.workload import WorkloadRef


class SnapshotSource(Protocol):
    """What the webhook reads: the revision counter, and the whole table of one cluster."""

    async def control_revision(self) -> int: ...

    async def control_snapshot(self, cluster: str) -> ControlSnapshot: ...


class WebhookWriter(Protocol):
    """What the webhook writes, in the background: audit events and auto-registered specs."""

    async def record_audits(self, events: Sequence[AuditEvent]) -> int: ...

    async def save_control_specs(
        self,
        specs: Sequence[ControlSpec],
        *,
        now: datetime,
        actor: str,
        reason: str,
        audit: Sequence[AuditEvent] = (),
        only_new: bool = False,
    ) -> list[ControlSpec]: ...


class ControlStore(SnapshotSource, WebhookWriter, Protocol):
    """Everything the control service reads and writes."""

    async def control_specs(
        self, *, cluster: str | None = None, namespace: str | None = None
    ) -> list[ControlSpec]: ...

    async def control_spec(self, ref: WorkloadRef) -> ControlSpec | None: ...

    async def remove_control_spec(
        self, ref: WorkloadRef, *, now: datetime, actor: str, reason: str, audit: AuditEvent | None = None
    ) -> bool: ...

    async def control_history(self, ref: WorkloadRef, limit: int = 100) -> list[SpecVersion]: ...

    async def namespace_policies(self, *, cluster: str | None = None) -> list[NamespacePolicy]: ...

    async def save_namespace_policy(
        self, policy: NamespacePolicy, *, now: datetime, actor: str, audit: AuditEvent | None = None
    ) -> None: ...

    async def remove_namespace_policy(
        self, cluster: str, namespace: str, *, now: datetime, audit: AuditEvent | None = None
    ) -> bool: ...

    async def recommendations(
        self, *, cluster: str | None = None, strategy: str | None = None, namespace: str | None = None
    ) -> list[Recommendation]: ...

    async def usage_span(self, *, cluster: str | None = None) -> tuple[date, date] | None: ...

    async def usage(
        self,
        *,
        cluster: str | None = None,
        since: date | None = None,
        until: date | None = None,
        window: str | None = None,
        namespace: str | None = None,
    ) -> list[UsageProfile]: ...
