"""Opting workloads in and out of predictive replicas: set, unset and list policies, each change audited."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubecap.domain.audit import AuditEvent, AuditResult
from kubecap.domain.workload import WorkloadRef
from kubecap.errors import NotFoundError
from kubecap.predict.policy import Policy
from kubecap.predict.ports import PolicyStore


@dataclass(frozen=True, slots=True)
class PolicyView:
    policy: Policy
    state: dict[str, Any]


class PolicyService:
    def __init__(
        self, store: PolicyStore, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._store = store
        self._clock = clock

    async def policies(self, *, cluster: str | None = None) -> list[PolicyView]:
        return [
            PolicyView(Policy.from_json(r.ref, r.policy), dict(r.state))
            for r in await self._store.predict_policies(cluster=cluster)
        ]

    async def set(self, policy: Policy, *, actor: str) -> PolicyView | None:
        """Store ``policy`` (validated); returns what it replaced."""
        policy.validate()
        before = next(
            (p for p in await self.policies(cluster=policy.ref.cluster) if p.policy.ref == policy.ref), None
        )
        now = self._clock()
        event = AuditEvent(
            at=now,
            actor=actor,
            action="predict.set",
            cluster=policy.ref.cluster,
            target=str(policy.ref),
            result=AuditResult.OK,
            before=None if before is None else before.policy.to_json(),
            after=policy.to_json(),
        )
        await self._store.save_predict_policy(policy.ref, policy.to_json(), now=now, actor=actor, audit=event)
        return before

    async def unset(self, ref: WorkloadRef, *, actor: str) -> None:
        """Opt the workload out (an HPA minReplicas kubecap raised is left for the HPA's owner to see)."""
        before = next((p for p in await self.policies(cluster=ref.cluster) if p.policy.ref == ref), None)
        if before is None:
            raise NotFoundError(f"{ref} has no predictive-replicas policy: see `kubecap predict show`")
        event = AuditEvent(
            at=self._clock(),
            actor=actor,
            action="predict.unset",
            cluster=ref.cluster,
            target=str(ref),
            result=AuditResult.OK,
            before=before.policy.to_json(),
            message=f"state at removal: {before.state}" if before.state else "",
        )
        await self._store.remove_predict_policy(ref, audit=event)
