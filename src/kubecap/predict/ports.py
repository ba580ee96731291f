"""What predictive replicas needs from the rest of kubecap, as protocols in its own words.

``kubecap.store.Store`` is a ``PolicyStore``, ``kubecap.wiring.PredictControlTable`` (over the
control service) a ``ReplicasTable``; ``PrometheusLoad`` (here) and ``kubecap.testing.load.TraceLoad`` are
``LoadSource``s. Tests may hand in anything that honours them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from kubecap.domain.audit import AuditEvent
from kubecap.domain.workload import WorkloadRef
from kubecap.errors import ConfigError
from kubecap.forecast import Series
from kubecap.predict.policy import Policy


class PolicyRecordLike(Protocol):
    @property
    def ref(self) -> WorkloadRef: ...
    @property
    def policy(self) -> dict[str, Any]: ...
    @property
    def state(self) -> dict[str, Any]: ...


class PolicyStore(Protocol):
    async def predict_policies(self, *, cluster: str | None = None) -> Sequence[PolicyRecordLike]: ...

    async def save_predict_policy(
        self, ref: WorkloadRef, policy: dict[str, Any], *, now: datetime, actor: str, audit: AuditEvent
    ) -> None: ...

    async def remove_predict_policy(self, ref: WorkloadRef, *, audit: AuditEvent) -> bool: ...

    async def save_predict_state(
        self, ref: WorkloadRef, state: dict[str, Any], *, audit: Sequence[AuditEvent] = ()
    ) -> None: ...


class LoadSource(Protocol):
    async def load(self, policy: Policy, start: datetime, end: datetime, step: int) -> Series:
        """The policy's load signal of its workload from ``start`` to ``end`` every ``step`` seconds."""
        ...


class ReplicasTable(Protocol):
    """The control table's replicas: setting them is audited by the control service."""

    async def replicas(self, ref: WorkloadRef) -> int | None:
        """The replicas the table holds for ``ref`` (None: not in the table, or its HPA owns them)."""
        ...

    async def set(
        self, ref: WorkloadRef, *, actor: str, reason: str = "", replicas: int | None = None
    ) -> Any: ...


class LoadByCluster:
    """A LoadSource that asks each workload's own cluster's source (each cluster has its Prometheus)."""

    def __init__(self, sources: dict[str, LoadSource]) -> None:
        self._sources = sources

    async def load(self, policy: Policy, start: datetime, end: datetime, step: int) -> Series:
        source = self._sources.get(policy.ref.cluster)
        if source is None:
            raise ConfigError(
                f"cluster {policy.ref.cluster!r} of {policy.ref} has no Prometheus to read its load from: "
                f"set clusters[{policy.ref.cluster}].prometheus.url"
            )
        return await source.load(policy, start, end, step)
