"""Operations on workloads and the tasks that schedule them: pure types and their validation.

An operation (scale, restart, apply resources) targets one workload. A task runs an
operation now, once at a time, or on a cron expression in a time zone; each firing is a
run. These types are what the ops service, the store and the CLI exchange.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from kubecap.domain.resources import ContainerResources
from kubecap.domain.workload import WorkloadKind, WorkloadRef

MAX_REPLICAS = 10_000
DEFAULT_GRACE = timedelta(minutes=15)
DEFAULT_MAX_ATTEMPTS = 3


class TaskError(ValueError):
    """A task or operation is invalid; the message names the input and the fix."""


class Operation(StrEnum):
    SCALE = "scale"
    RESTART = "restart"
    APPLY = "apply"


class TaskState(StrEnum):
    ACTIVE = "active"  # waiting for its next run (or running it)
    PAUSED = "paused"  # a cron task that skips its fire times until resumed
    CANCELLED = "cancelled"
    DONE = "done"  # a one-shot task whose run succeeded
    FAILED = "failed"  # a one-shot task whose run failed for good
    MISSED = "missed"  # a one-shot task whose time passed while no runner was up


class RunState(StrEnum):
    RUNNING = "running"
    RETRY = "retry"  # failed with a transient error, waiting for ``retry_at``
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    MISSED = "missed"

    @property
    def final(self) -> bool:
        return self in (RunState.SUCCEEDED, RunState.FAILED, RunState.MISSED)


@dataclass(frozen=True, slots=True)
class OperationSpec:
    """What to do to one workload.

    ``replicas`` is for scale; ``resources`` for apply; ``revert_at`` makes a scale a
    temporary override (the ``kubecap.io/temporary-replicas`` annotation, which the webhook
    honours until it expires): when it succeeds, a one-shot task ends it at ``revert_at``.
    That task is a scale with ``ends_override``: it removes the annotation and scales back
    to the control table's replicas, or (unmanaged workload) to ``replicas``, those seen
    before. ``source`` says where applied resources come from (e.g. a recommendation); it
    becomes the control spec's source when the workload is managed.
    """

    operation: Operation
    target: WorkloadRef
    replicas: int | None = None
    resources: tuple[ContainerResources, ...] = ()
    revert_at: datetime | None = None
    ends_override: bool = False
    source: str = ""

    def validate(self) -> OperationSpec:
        if self.operation is Operation.SCALE:
            if self.replicas is None:
                raise TaskError(f"scaling {self.target} needs a replica count: pass --replicas N")
            if self.replicas < 0:
                raise TaskError(
                    f"replicas must be 0 or more, got {self.replicas}: pass --replicas 0 or higher"
                )
            if self.replicas > MAX_REPLICAS:
                raise TaskError(f"replicas {self.replicas} is above kubecap's limit of {MAX_REPLICAS}")
            if self.target.kind is WorkloadKind.DAEMONSET:
                raise TaskError(
                    f"{self.target} is a DaemonSet, which runs one pod per node and cannot be scaled"
                )
        elif self.replicas is not None:
            raise TaskError(f"--replicas applies to scale only, not to {self.operation.value}")
        if self.operation is Operation.APPLY:
            if not self.resources:
                raise TaskError(
                    f"applying resources to {self.target} needs at least one container's resources"
                )
            names = [r.container for r in self.resources]
            if len(set(names)) != len(names):
                raise TaskError(f"a container is listed twice for {self.target}: list each container once")
            for resources in self.resources:
                resources.validate()
        elif self.resources:
            raise TaskError(
                f"container resources apply to the apply operation only, not to {self.operation.value}"
            )
        if self.revert_at is not None:
            if self.operation is not Operation.SCALE:
                raise TaskError("an expiry (--until) applies to scale only")
            if self.revert_at.tzinfo is None:
                raise TaskError("the expiry of a temporary scale needs a time zone")
            if self.ends_override:
                raise TaskError("a task that ends a temporary scale cannot have an expiry itself")
        if self.ends_override and self.operation is not Operation.SCALE:
            raise TaskError("ending a temporary scale is a scale operation")
        if self.source and self.operation is not Operation.APPLY:
            raise TaskError(f"a source applies to the apply operation only, not to {self.operation.value}")
        return self

    def describe(self) -> str:
        if self.operation is Operation.SCALE:
            if self.ends_override:
                return (
                    f"end the temporary scale of {self.target} (back to the control table's replicas, "
                    f"else {self.replicas})"
                )
            until = f" until {self.revert_at.isoformat()}" if self.revert_at else ""
            return f"scale {self.target} to {self.replicas} replicas{until}"
        if self.operation is Operation.RESTART:
            return f"restart {self.target}"
        containers = ", ".join(r.container for r in self.resources)
        return f"apply resources of {containers} to {self.target}"


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a task runs: ``at`` once (UTC), ``cron`` repeatedly in ``timezone``, else now.

    ``grace`` is how late a run may still start (see ``kubecap.domain.schedule``).
    """

    at: datetime | None = None
    cron: str | None = None
    timezone: str = "UTC"
    grace: timedelta = DEFAULT_GRACE

    @property
    def recurring(self) -> bool:
        return self.cron is not None

    def describe(self) -> str:
        if self.cron is not None:
            return f"cron '{self.cron}' ({self.timezone})"
        if self.at is not None:
            return f"at {self.at.isoformat()}"
        return "now"


@dataclass(frozen=True, slots=True)
class NewTask:
    """A task as submitted, before the store gives it an id."""

    spec: OperationSpec
    schedule: Schedule
    first_run_at: datetime
    created_by: str
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    note: str = ""


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    spec: OperationSpec
    schedule: Schedule
    state: TaskState
    next_run_at: datetime | None
    created_at: datetime
    created_by: str
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    note: str = ""
    last_run: TaskRun | None = None


@dataclass(frozen=True, slots=True)
class TaskRun:
    """One firing of a task; ``scheduled_for`` with the task id is its unique run key."""

    id: int
    task_id: int
    scheduled_for: datetime
    state: RunState
    attempt: int
    runner: str
    started_at: datetime | None
    finished_at: datetime | None
    lease_until: datetime | None = None
    retry_at: datetime | None = None
    message: str = ""
    result: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How an attempt ended, as the executor reports it to the store."""

    state: RunState
    message: str
    result: dict[str, object] = field(default_factory=dict)
    retry_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ClaimedRun:
    """A run this runner now owns and must execute (or has recorded as missed)."""

    task: Task
    run: TaskRun
