"""The SQL usage store: kubecap.ports.UsageStore on SQLite or PostgreSQL, plus the reads.

It owns one async engine and one rule: every public call is one transaction, and a
database failure surfaces as a StoreError sentence with the driver's error chained.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kubecap.domain.audit import AuditEvent, AuditFilter, AuditResult
from kubecap.domain.control import ControlSnapshot, ControlSpec, NamespacePolicy, SpecVersion
from kubecap.domain.node import NodeUsage
from kubecap.domain.notifications import Channel
from kubecap.domain.recommendation import Recommendation
from kubecap.domain.tasks import ClaimedRun, NewTask, RunOutcome, RunState, Task, TaskRun, TaskState
from kubecap.domain.usage import UsageProfile
from kubecap.domain.usage_columns import UsageColumns
from kubecap.domain.window import DAY, DailyWindow
from kubecap.domain.workload import WorkloadRef
from kubecap.errors import ConfigError, NotFoundError, StoreError
from kubecap.ports import WindowUsage
from kubecap.store import (
    audit_repo,
    auth_repo,
    control_repo,
    lease_repo,
    predict_repo,
    recommendations_repo,
    runs_repo,
    signin_repo,
    state_repo,
    tasks_repo,
    usage_repo,
)
from kubecap.store.auth_repo import SessionRecord, TokenRecord, UserRecord
from kubecap.store.engine import WRITE_OPTIONS, async_engine, reason, unreachable
from kubecap.store.migrate import (
    current_revision,
    head_revision,
    known_revision,
    newer_than_code,
    upgrade_database,
)
from kubecap.store.node_repo import NodeFilter, read_nodes, upsert_nodes
from kubecap.store.predict_repo import PredictRecord
from kubecap.store.runs_repo import CollectionRun
from kubecap.store.signin_repo import PendingOidcLogin, PriceOverride
from kubecap.store.sqlite_audit import SqliteAuditAppender
from kubecap.store.urls import is_sqlite, masked, normalise_url, sqlite_file

_CHECK_URL = ": check that the database is reachable (--database-url or KUBECAP_DATABASE_URL)"
_RETRY = "; nothing of it was stored, and collecting it again retries it"


class Store:
    """Usage history in a SQL database; open it with ``await Store.open(url)``."""

    def __init__(self, engine: AsyncEngine, url: str, *, audit_file: Path | None = None) -> None:
        """Internal: use ``Store.open``, which checks the revision first.

        ``audit_file``: the SQLite file that ``record_audits`` appends to with its own connection.
        """
        self._engine = engine
        self._writer = engine.execution_options(**WRITE_OPTIONS)
        self._url = url
        # Opens its connection on the first batch: only the webhook writes audit batches.
        self._audits = None if audit_file is None else SqliteAuditAppender(audit_file)

    @classmethod
    async def open(cls, url: str, *, auto_upgrade: bool | None = None) -> Store:
        """Connect, migrating first when ``auto_upgrade`` (default: for SQLite only).

        Raises ConfigError for a URL kubecap does not support and StoreError when the
        database is unreachable or not at the revision this kubecap needs.
        """
        _, async_url = normalise_url(url)
        if auto_upgrade is None:
            auto_upgrade = is_sqlite(async_url)
        if auto_upgrade:
            await asyncio.to_thread(upgrade_database, url)
        else:
            await _refuse_missing_sqlite_file(url, async_url)
        engine = async_engine(async_url)
        try:
            await _require_head(engine, url)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, url, audit_file=_sqlite_file_on_disk(async_url))

    async def close(self) -> None:
        try:
            if self._audits is not None:
                await self._audits.close()
        finally:
            await self._engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @asynccontextmanager
    async def _transaction(
        self, doing: str, consequence: str = _CHECK_URL, *, write: bool = True
    ) -> AsyncIterator[AsyncConnection]:
        # A writing transaction takes SQLite's write lock at BEGIN (IMMEDIATE): one that read
        # first and then wrote could not upgrade its lock after another writer committed, and
        # would fail at once with "database is locked" instead of waiting its turn.
        engine = self._writer if write else self._engine
        try:
            async with engine.begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise StoreError(
                f"{doing} failed on the database at {masked(self._url)} ({reason(exc)}){consequence}"
            ) from exc

    async def completed_windows(self, cluster: str, days: Sequence[date]) -> set[tuple[date, str]]:
        """(day, window name) pairs of ``cluster`` whose collection has completed."""
        async with self._transaction(
            f"reading the collected windows of cluster {cluster!r}", write=False
        ) as c:
            return await runs_repo.completed(c, cluster, days)

    async def save_window(self, cluster: str, window: DailyWindow, usage: WindowUsage) -> None:
        """Upsert the rows and mark the window complete, in one transaction."""
        _check_profiles(cluster, window, usage.profiles)
        _check_nodes(cluster, window, usage.nodes)
        started_at = datetime.now(UTC)
        doing = f"saving window {window.name} of {window.day} for cluster {cluster!r}"
        async with self._transaction(doing, _RETRY) as c:
            cluster_id = await usage_repo.ensure_cluster(c, cluster)
            workload_ids = await usage_repo.ensure_workloads(
                c, cluster_id, (p.workload for p in usage.profiles), window.start, window.end
            )
            rows = await usage_repo.upsert_usage(c, workload_ids, usage.profiles)
            await upsert_nodes(c, cluster_id, usage.nodes)
            await runs_repo.mark_complete(
                c,
                cluster_id,
                window,
                started_at=started_at,
                finished_at=datetime.now(UTC),
                rows=rows,
                queries=usage.queries,
                message="\n".join(usage.warnings),
            )

    async def record_failure(self, cluster: str, window: DailyWindow, message: str) -> None:
        """Record that collecting ``window`` failed; stored rows and a complete mark are kept."""
        doing = f"recording the failure of window {window.name} of {window.day} for cluster {cluster!r}"
        async with self._transaction(doing) as c:
            cluster_id = await usage_repo.ensure_cluster(c, cluster)
            await runs_repo.mark_failed(c, cluster_id, window, at=datetime.now(UTC), message=message)

    async def clusters(self) -> list[str]:
        """Names of the clusters with stored history, sorted."""
        async with self._transaction("listing clusters", write=False) as c:
            return await usage_repo.cluster_names(c)

    async def usage(
        self,
        *,
        cluster: str | None = None,
        since: date | None = None,
        until: date | None = None,
        window: str | None = None,
        namespace: str | None = None,
    ) -> list[UsageProfile]:
        """Stored profiles matching every given filter (days inclusive), ordered by
        cluster, namespace, kind, name, container, day and window."""
        where = usage_repo.UsageFilter(cluster, since, until, window, namespace)
        async with self._transaction("reading usage history", write=False) as c:
            return await usage_repo.read_usage(c, where)

    async def usage_columns(
        self,
        *,
        cluster: str | None = None,
        since: date | None = None,
        until: date | None = None,
        windows: Sequence[str] | None = None,
        namespace: str | None = None,
        figures: Sequence[str] | None = None,
    ) -> UsageColumns:
        """Stored rows matching every given filter (days inclusive) as columns, in no particular order.

        ``figures`` names the UsageProfile figures to read (default: all of them).
        """
        where = usage_repo.UsageFilter(cluster, since, until, None, namespace)
        names = tuple(UsageProfile.figure_names() if figures is None else figures)
        async with self._transaction("reading usage history", write=False) as c:
            return await recommendations_repo.read_usage_columns(c, where, windows, names)

    async def usage_span(self, *, cluster: str | None = None) -> tuple[date, date] | None:
        """The first and last local day with stored usage (of ``cluster``, or of all), None when empty."""
        async with self._transaction("reading the span of the usage history", write=False) as c:
            return await recommendations_repo.usage_span(c, cluster)

    async def usage_state(self, *, cluster: str | None = None) -> tuple[object, ...]:
        """A fingerprint that moves whenever a window is collected or recommendations are saved (of
        ``cluster``, or of all): caches of summaries compare it."""
        async with self._transaction("reading the state of the usage history", write=False) as c:
            return await state_repo.usage_state(c, cluster)

    async def acquire_lease(self, name: str, holder: str, *, now: datetime, until: datetime) -> bool:
        """Take or renew the leader lease ``name`` for ``holder``; False while another holds it."""
        async with self._transaction(f"claiming the leader lease {name!r}") as c:
            return await lease_repo.acquire(c, name, holder, now=now, until=until)

    async def release_lease(self, name: str, holder: str, *, now: datetime) -> None:
        """Give the leader lease ``name`` up if ``holder`` holds it."""
        async with self._transaction(f"releasing the leader lease {name!r}") as c:
            await lease_repo.release(c, name, holder, now=now)

    async def save_recommendations(self, recommendations: Sequence[Recommendation]) -> int:
        """Store recommendations, replacing those of the same strategy and container; all or nothing."""
        doing = f"saving {len(recommendations)} recommendations"
        async with self._transaction(doing, "; nothing of them was stored") as c:
            return await recommendations_repo.upsert_recommendations(c, recommendations)

    async def recommendations(
        self, *, cluster: str | None = None, strategy: str | None = None, namespace: str | None = None
    ) -> list[Recommendation]:
        """Stored recommendations, ordered by cluster, namespace, kind, name, container and strategy."""
        async with self._transaction("reading recommendations", write=False) as c:
            return await recommendations_repo.read_recommendations(
                c, cluster=cluster, strategy=strategy, namespace=namespace
            )

    async def runs(self, cluster: str) -> list[CollectionRun]:
        """Collection records of ``cluster``, ordered by day and window (empty if unknown)."""
        async with self._transaction(f"reading the collection runs of cluster {cluster!r}", write=False) as c:
            return await runs_repo.read_runs(c, cluster)

    # --- operations: tasks, runs, audit events, notification channels (revision 0003) -----------
    # These methods implement kubecap.ops.ports (TaskStore, AuditLog, ChannelStore); the
    # statements are in tasks_repo and audit_repo.

    async def add_task(self, task: NewTask, now: datetime, audit: AuditEvent | None = None) -> Task:
        """Store a validated task (and its audit event) in one transaction."""
        async with self._transaction(f"adding a task for {task.spec.target}") as c:
            added = await tasks_repo.add_task(c, task, now)
            if audit is not None:
                await audit_repo.record(c, replace(audit, request_id=audit.request_id or f"task-{added.id}"))
            return added

    async def task(self, task_id: int) -> Task:
        async with self._transaction(f"reading task {task_id}", write=False) as c:
            found = await tasks_repo.get_task(c, task_id)
        if found is None:
            raise _task_missing(task_id)
        return found

    async def tasks(self, *, state: TaskState | None = None, cluster: str | None = None) -> list[Task]:
        async with self._transaction("listing tasks", write=False) as c:
            return await tasks_repo.list_tasks(c, state, cluster)

    async def update_task_state(
        self,
        task_id: int,
        state: TaskState,
        *,
        allowed_from: tuple[TaskState, ...],
        next_run_at: datetime | None,
        now: datetime,
        audit: AuditEvent,
    ) -> Task:
        async with self._transaction(f"changing task {task_id}") as c:
            current = await tasks_repo.get_task(c, task_id)
            if current is None:
                raise _task_missing(task_id)
            if current.state not in allowed_from:
                allowed = " or ".join(s.value for s in allowed_from)
                raise ConfigError(
                    f"task {task_id} is {current.state.value}; only {allowed} tasks can become {state.value}"
                )
            await tasks_repo.set_state(c, task_id, state, next_run_at, now)
            await audit_repo.record(c, audit)
            changed = await tasks_repo.get_task(c, task_id)
        assert changed is not None
        return changed

    async def claim_due(
        self,
        *,
        now: datetime,
        runner: str,
        lease_until: datetime,
        limit: int,
        plan: tasks_repo.Planner,
        task_id: int | None = None,
    ) -> list[ClaimedRun]:
        async with self._transaction("claiming due tasks") as c:
            claimed = await tasks_repo.claim_due(
                c, now=now, runner=runner, lease_until=lease_until, limit=limit, plan=plan, task_id=task_id
            )
            for item in claimed:
                if item.run.state is RunState.MISSED:
                    await audit_repo.record(c, _missed_event(item, runner, now))
            return claimed

    async def claim_retries(
        self, *, now: datetime, runner: str, lease_until: datetime, limit: int
    ) -> list[ClaimedRun]:
        async with self._transaction("claiming task retries") as c:
            return await tasks_repo.claim_retries(
                c, now=now, runner=runner, lease_until=lease_until, limit=limit
            )

    async def finish_run(
        self,
        run_id: int,
        outcome: RunOutcome,
        *,
        now: datetime,
        audit: AuditEvent,
        follow_up: NewTask | None = None,
    ) -> TaskRun:
        async with self._transaction(f"recording the result of task run {run_id}") as c:
            run = await tasks_repo.finish_run(c, run_id, outcome, now)
            await audit_repo.record(c, audit)
            if follow_up is not None:
                await tasks_repo.add_task(c, follow_up, now)
            return run

    async def abandon_expired(self, *, now: datetime, message: str) -> list[ClaimedRun]:
        async with self._transaction("recording runs whose runner stopped") as c:
            abandoned = await tasks_repo.abandon_expired(c, now=now, message=message)
            for item in abandoned:
                spec = item.task.spec
                await audit_repo.record(
                    c,
                    AuditEvent(
                        at=now,
                        actor=f"runner {item.run.runner}",
                        action=spec.operation.value,
                        cluster=spec.target.cluster,
                        target=str(spec.target),
                        result=AuditResult.FAILED,
                        request_id=f"task-{item.task.id}-run-{item.run.id}",
                        message=message,
                    ),
                )
            return abandoned

    async def task_runs(self, task_id: int, limit: int = 100) -> list[TaskRun]:
        async with self._transaction(f"reading the runs of task {task_id}", write=False) as c:
            return await tasks_repo.list_runs(c, task_id, limit)

    async def record_audit(self, event: AuditEvent) -> int:
        async with self._transaction(f"recording the audit event {event.action} on {event.target}") as c:
            return await audit_repo.record(c, event)

    async def audit_events(self, where: AuditFilter) -> list[AuditEvent]:
        async with self._transaction("reading audit events", write=False) as c:
            return await audit_repo.query(c, where)

    async def notification_channels(self) -> list[Channel]:
        async with self._transaction("reading notification channels", write=False) as c:
            return await audit_repo.channels(c)

    async def save_notification_channel(
        self, channel: Channel, now: datetime, *, audit: AuditEvent | None = None
    ) -> None:
        async with self._transaction(f"saving notification channel {channel.name!r}") as c:
            await audit_repo.save_channel(c, channel, now)
            if audit is not None:
                await audit_repo.record(c, audit)

    async def delete_notification_channel(self, name: str, *, audit: AuditEvent | None = None) -> bool:
        async with self._transaction(f"deleting notification channel {name!r}") as c:
            removed = await audit_repo.delete_channel(c, name)
            if removed and audit is not None:
                await audit_repo.record(c, audit)
            return removed

    # --- control (revision 0004): specs, their history, namespace policies, the revision ----------
    # These implement kubecap.control.ports.ControlStore; the statements are in control_repo.
    # Every change writes its history, its audit events and a new revision in one transaction.

    async def control_specs(
        self, *, cluster: str | None = None, namespace: str | None = None
    ) -> list[ControlSpec]:
        async with self._transaction("reading the control table", write=False) as c:
            return await control_repo.read_specs(c, cluster, namespace)

    async def control_spec(self, ref: WorkloadRef) -> ControlSpec | None:
        async with self._transaction(f"reading the control spec of {ref}", write=False) as c:
            found = await control_repo.get_spec(c, ref)
        return None if found is None else found[0]

    async def save_control_specs(
        self,
        specs: Sequence[ControlSpec],
        *,
        now: datetime,
        actor: str,
        reason: str,
        audit: Sequence[AuditEvent] = (),
        only_new: bool = False,
    ) -> list[ControlSpec]:
        """Insert or replace specs (``only_new``: skip those that exist); the specs written."""
        doing = f"saving {len(specs)} control specs"
        async with self._transaction(doing, "; none of them was saved") as c:
            written = []
            for spec in specs:
                version = await control_repo.save_spec(
                    c, spec, now=now, actor=actor, reason=reason, only_new=only_new
                )
                if version is not None:
                    written.append(spec)
            written_refs = {str(s.ref) for s in written}
            for event in audit:
                if not only_new or event.target in written_refs:
                    await audit_repo.record(c, event)
            if written:
                await control_repo.bump_revision(c, now)
            return written

    async def remove_control_spec(
        self, ref: WorkloadRef, *, now: datetime, actor: str, reason: str, audit: AuditEvent | None = None
    ) -> bool:
        async with self._transaction(f"removing the control spec of {ref}") as c:
            removed = await control_repo.remove_spec(c, ref, now=now, actor=actor, reason=reason)
            if removed:
                if audit is not None:
                    await audit_repo.record(c, audit)
                await control_repo.bump_revision(c, now)
            return removed

    async def control_history(self, ref: WorkloadRef, limit: int = 100) -> list[SpecVersion]:
        async with self._transaction(f"reading the control history of {ref}", write=False) as c:
            return await control_repo.history(c, ref, limit)

    async def namespace_policies(self, *, cluster: str | None = None) -> list[NamespacePolicy]:
        async with self._transaction("reading namespace policies", write=False) as c:
            return await control_repo.read_policies(c, cluster)

    async def save_namespace_policy(
        self, policy: NamespacePolicy, *, now: datetime, actor: str, audit: AuditEvent | None = None
    ) -> None:
        doing = f"saving the policy of namespace {policy.namespace!r} of cluster {policy.cluster!r}"
        async with self._transaction(doing) as c:
            await control_repo.save_policy(c, policy, now=now, actor=actor)
            if audit is not None:
                await audit_repo.record(c, audit)
            await control_repo.bump_revision(c, now)

    async def remove_namespace_policy(
        self, cluster: str, namespace: str, *, now: datetime, audit: AuditEvent | None = None
    ) -> bool:
        async with self._transaction(f"removing the policy of namespace {namespace!r}") as c:
            removed = await control_repo.remove_policy(c, cluster, namespace)
            if removed:
                if audit is not None:
                    await audit_repo.record(c, audit)
                await control_repo.bump_revision(c, now)
            return removed

    async def control_revision(self) -> int:
        """The control table's revision: it grows with every change of specs or policies."""
        async with self._transaction("reading the control table's revision", write=False) as c:
            return await control_repo.revision(c)

    async def control_snapshot(self, cluster: str) -> ControlSnapshot:
        """Specs and policies of ``cluster`` with the revision they belong to, read in one transaction."""
        async with self._transaction(f"reading the control table of cluster {cluster!r}", write=False) as c:
            version = await control_repo.revision(c)
            specs = await control_repo.read_specs(c, cluster)
            policies = await control_repo.read_policies(c, cluster)
        return ControlSnapshot.build(cluster, version, specs, policies)

    async def record_audits(self, events: Sequence[AuditEvent]) -> int:
        """Record many audit events in one transaction (the webhook's batches).

        On a SQLite file, through a plain sqlite3 connection on the calling thread when the
        write lock is free (store/sqlite_audit.py: a fraction of the engine's CPU per row).
        """
        doing = f"recording {len(events)} audit events"
        if self._audits is None:
            async with self._transaction(doing) as c:
                await control_repo.record_audits(c, events)
            return len(events)
        try:
            await self._audits.append(events)
        except sqlite3.Error as exc:
            raise StoreError(
                f"{doing} failed on the database at {masked(self._url)} ({reason(exc)}){_CHECK_URL}"
            ) from exc
        return len(events)

    # --- nodes (revision 0005): daily node figures, written by save_window with their day -------

    async def node_usage(
        self, cluster: str | None = None, since: date | None = None, until: date | None = None
    ) -> list[NodeUsage]:
        """Stored daily node figures matching every given filter (days inclusive), by cluster, node and day."""
        async with self._transaction("reading node usage history", write=False) as c:
            return await read_nodes(c, NodeFilter(cluster, since, until))

    # --- authentication (revision 0006): users, API tokens, sessions; statements in auth_repo ----

    async def count_users(self) -> int:
        async with self._transaction("counting users", write=False) as c:
            return await auth_repo.count_users(c)

    async def users(self) -> list[UserRecord]:
        async with self._transaction("listing users", write=False) as c:
            return await auth_repo.users(c)

    async def user(self, user_id: int) -> UserRecord:
        async with self._transaction(f"reading user {user_id}", write=False) as c:
            found = await auth_repo.user_by_id(c, user_id)
        if found is None:
            raise NotFoundError(f"user {user_id} does not exist: list the users to see their ids")
        return found

    async def user_by_name(self, username: str) -> UserRecord | None:
        async with self._transaction(f"reading user {username!r}", write=False) as c:
            return await auth_repo.user_by_name(c, username)

    async def add_user(
        self, username: str, password_hash: str, role: str, *, now: datetime, audit: AuditEvent | None = None
    ) -> UserRecord:
        """Create a user (and record its audit event) in one transaction; a taken name is a ConfigError."""
        async with self._transaction(f"adding user {username!r}") as c:
            if await auth_repo.user_by_name(c, username) is not None:
                raise ConfigError(f"user {username!r} already exists: choose another name")
            user_id = await auth_repo.add_user(c, username, password_hash, role, now)
            if audit is not None:
                await audit_repo.record(c, audit)
            created = await auth_repo.user_by_id(c, user_id)
        assert created is not None
        return created

    async def update_user(
        self,
        user_id: int,
        *,
        role: str | None = None,
        password_hash: str | None = None,
        disabled: bool | None = None,
        audit: AuditEvent | None = None,
    ) -> UserRecord:
        """Change a user; a new password or disabling ends the user's sessions."""
        values = {
            k: v
            for k, v in (("role", role), ("password_hash", password_hash), ("disabled", disabled))
            if v is not None
        }
        async with self._transaction(f"changing user {user_id}") as c:
            if await auth_repo.user_by_id(c, user_id) is None:
                raise NotFoundError(f"user {user_id} does not exist: list the users to see their ids")
            if values:
                await auth_repo.update_user(c, user_id, values)
            if password_hash is not None or disabled:
                await auth_repo.delete_sessions_of(c, user_id)
            if audit is not None:
                await audit_repo.record(c, audit)
            changed = await auth_repo.user_by_id(c, user_id)
        assert changed is not None
        return changed

    async def add_api_token(
        self,
        user_id: int,
        name: str,
        digest: str,
        *,
        now: datetime,
        expires_at: datetime | None = None,
        audit: AuditEvent | None = None,
    ) -> TokenRecord:
        async with self._transaction(f"adding API token {name!r}") as c:
            token_id = await auth_repo.add_token(c, user_id, name, digest, now, expires_at)
            if audit is not None:
                await audit_repo.record(c, audit)
            created = await auth_repo.token_by_id(c, token_id)
        assert created is not None
        return created

    async def api_tokens(self, *, user_id: int | None = None) -> list[TokenRecord]:
        async with self._transaction("listing API tokens", write=False) as c:
            return await auth_repo.tokens(c, user_id)

    async def api_token(self, token_id: int) -> TokenRecord:
        async with self._transaction(f"reading API token {token_id}", write=False) as c:
            found = await auth_repo.token_by_id(c, token_id)
        if found is None:
            raise NotFoundError(f"API token {token_id} does not exist: list the tokens to see their ids")
        return found

    async def remove_api_token(self, token_id: int, *, audit: AuditEvent | None = None) -> None:
        async with self._transaction(f"removing API token {token_id}") as c:
            if await auth_repo.token_by_id(c, token_id) is None:
                raise NotFoundError(f"API token {token_id} does not exist: list the tokens to see their ids")
            await auth_repo.delete_token(c, token_id)
            if audit is not None:
                await audit_repo.record(c, audit)

    async def token_user(self, digest: str, *, now: datetime) -> UserRecord | None:
        """The user of the unexpired token with this digest (its last use is recorded), else None."""
        async with self._transaction("checking an API token") as c:
            return await auth_repo.token_user(c, digest, now)

    async def add_session(
        self, digest: str, user_id: int, csrf: str, *, now: datetime, expires_at: datetime
    ) -> None:
        async with self._transaction("starting a session") as c:
            await auth_repo.add_session(c, digest, user_id, csrf, now, expires_at)

    async def session(self, digest: str, *, now: datetime) -> tuple[SessionRecord, UserRecord] | None:
        """The unexpired session with this digest and its user, else None."""
        async with self._transaction("checking a session") as c:
            return await auth_repo.session(c, digest, now)

    async def remove_session(self, digest: str) -> None:
        async with self._transaction("ending a session") as c:
            await auth_repo.delete_session(c, digest)

    # --- settings and sign-in (revision 0007): statements in signin_repo ---------------------------

    async def price_overrides(self) -> list[PriceOverride]:
        async with self._transaction("reading price overrides", write=False) as c:
            return await signin_repo.price_overrides(c)

    async def save_price(self, price: PriceOverride, *, audit: AuditEvent | None = None) -> None:
        async with self._transaction(f"saving the price of {price.scope} {price.name!r}") as c:
            await signin_repo.save_price(c, price)
            if audit is not None:
                await audit_repo.record(c, audit)

    async def delete_price(self, scope: str, name: str, *, audit: AuditEvent | None = None) -> bool:
        async with self._transaction(f"removing the price of {scope} {name!r}") as c:
            removed = await signin_repo.delete_price(c, scope, name)
            if removed and audit is not None:
                await audit_repo.record(c, audit)
            return removed

    async def login_failures(self, key: str, *, since: datetime) -> list[datetime]:
        async with self._transaction("reading failed logins", write=False) as c:
            return await signin_repo.recent_failures(c, key, since)

    async def add_login_failure(self, key: str, *, at: datetime) -> None:
        async with self._transaction("recording a failed login") as c:
            await signin_repo.add_failure(c, key, at)

    async def clear_login_failures(self, key: str) -> None:
        async with self._transaction("clearing failed logins") as c:
            await signin_repo.clear_failures(c, key)

    async def add_oidc_login(self, state: str, nonce: str, verifier: str, *, expires_at: datetime) -> None:
        async with self._transaction("starting an OIDC login") as c:
            await signin_repo.add_oidc_login(c, state, nonce, verifier, expires_at)

    async def take_oidc_login(self, state: str, *, now: datetime) -> PendingOidcLogin | None:
        async with self._transaction("finishing an OIDC login") as c:
            return await signin_repo.take_oidc_login(c, state, now)

    async def oidc_sign_in(
        self,
        issuer: str,
        subject: str,
        username: str,
        role: str,
        *,
        password_hash: str,
        now: datetime,
        audits: Sequence[AuditEvent] = (),
    ) -> tuple[UserRecord, str | None]:
        """The user of an OIDC identity, created on first login or given the mapped role; returns the
        user and its role before (None when created), in one transaction with the audit events."""
        async with self._transaction(f"signing in OIDC user {username!r}") as c:
            user_id = await signin_repo.oidc_user(c, issuer, subject)
            before: str | None = None
            if user_id is None:
                if await auth_repo.user_by_name(c, username) is not None:
                    raise ConfigError(
                        f"user name {username!r} from the identity provider belongs to a local user:"
                        " rename the local user or map another claim to the user name"
                    )
                user_id = await auth_repo.add_user(c, username, password_hash, role, now)
                await signin_repo.link_oidc(c, issuer, subject, user_id)
            else:
                existing = await auth_repo.user_by_id(c, user_id)
                assert existing is not None
                before = existing.role
                if existing.role != role:
                    await auth_repo.update_user(c, user_id, {"role": role})
            for event in audits:
                await audit_repo.record(c, event)
            user = await auth_repo.user_by_id(c, user_id)
        assert user is not None
        return user, before

    # --- predictive replicas (revision 0008): policies and the controller's state --------------
    # These implement kubecap.predict.ports.PolicyStore; the statements are in predict_repo.

    async def predict_policies(self, *, cluster: str | None = None) -> list[PredictRecord]:
        async with self._transaction("reading the predictive-replicas policies", write=False) as c:
            return await predict_repo.read(c, cluster)

    async def save_predict_policy(
        self, ref: WorkloadRef, policy: dict[str, Any], *, now: datetime, actor: str, audit: AuditEvent
    ) -> None:
        async with self._transaction(f"saving the predictive-replicas policy of {ref}") as c:
            await predict_repo.save(c, ref, policy, now, actor)
            await audit_repo.record(c, audit)

    async def remove_predict_policy(self, ref: WorkloadRef, *, audit: AuditEvent) -> bool:
        async with self._transaction(f"removing the predictive-replicas policy of {ref}") as c:
            removed = await predict_repo.remove(c, ref)
            if removed:
                await audit_repo.record(c, audit)
            return removed

    async def save_predict_state(
        self, ref: WorkloadRef, state: dict[str, Any], *, audit: Sequence[AuditEvent] = ()
    ) -> None:
        """The controller's state after a round and its audit events, in one transaction."""
        async with self._transaction(f"saving the predictive-replicas state of {ref}") as c:
            await predict_repo.save_state(c, ref, state)
            for event in audit:
                await audit_repo.record(c, event)


async def _require_head(engine: AsyncEngine, url: str) -> None:
    head = await asyncio.to_thread(head_revision)
    try:
        async with engine.connect() as connection:
            current = await connection.run_sync(current_revision)
    except (DBAPIError, OSError) as exc:
        raise unreachable(url, exc) from exc
    if current == head:
        return
    if current is not None and not await asyncio.to_thread(known_revision, current):
        raise newer_than_code(url, current)
    raise _not_at_head(url, current, head)


async def _refuse_missing_sqlite_file(url: str, async_url: str) -> None:
    """Without an upgrade a new SQLite file would be empty: say so instead of creating it."""
    path = sqlite_file(async_url)
    if path is not None and not await asyncio.to_thread(path.exists):
        raise _not_at_head(url, None, await asyncio.to_thread(head_revision))


def _sqlite_file_on_disk(async_url: str) -> Path | None:
    """The file of a SQLite URL, None for PostgreSQL and in-memory databases (the engine's path for those)."""
    path = sqlite_file(async_url)
    if path is None or str(path) == ":memory:" or str(path).startswith("file:"):
        return None
    # Absolute now: the working directory may change while the store is open.
    return path.absolute()


def _not_at_head(url: str, current: str | None, head: str) -> StoreError:
    return StoreError(
        f"database at {masked(url)} is at revision {current or 'none (empty)'}, kubecap needs {head}: "
        "run `kubecap db upgrade`"
    )


def _check_profiles(cluster: str, window: DailyWindow, profiles: Sequence[UsageProfile]) -> None:
    """Refuse rows that do not belong to the window being saved: that is a bug in the source."""
    seen: set[object] = set()
    for profile in profiles:
        if profile.workload.cluster != cluster or profile.day != window.day or profile.window != window.name:
            raise ValueError(
                f"profile {profile.workload}/{profile.container} of {profile.day} {profile.window} "
                f"does not belong to window {window.name} of {window.day} of cluster {cluster!r}"
            )
        key = profile.key()
        if key in seen:
            raise ValueError(f"profile {profile.workload}/{profile.container} appears twice in one window")
        seen.add(key)


def _task_missing(task_id: int) -> NotFoundError:
    return NotFoundError(f"task {task_id} does not exist: see `kubecap tasks list` for the task ids")


def _missed_event(item: ClaimedRun, runner: str, now: datetime) -> AuditEvent:
    spec = item.task.spec
    return AuditEvent(
        at=now,
        actor=f"runner {runner}",
        action=spec.operation.value,
        cluster=spec.target.cluster,
        target=str(spec.target),
        result=AuditResult.MISSED,
        request_id=f"task-{item.task.id}-run-{item.run.id}",
        message=item.run.message,
    )


def _check_nodes(cluster: str, window: DailyWindow, nodes: Sequence[NodeUsage]) -> None:
    """Refuse node rows that do not belong to the whole-day window being saved: a bug in the source."""
    seen: set[str] = set()
    for node in nodes:
        if window.name != DAY or node.cluster != cluster or node.day != window.day:
            raise ValueError(
                f"node {node.node!r} of {node.day} in cluster {node.cluster!r} does not belong to window"
                f" {window.name} of {window.day} of cluster {cluster!r}: node rows go with whole-day windows"
            )
        if node.node in seen:
            raise ValueError(f"node {node.node!r} appears twice in one window")
        seen.add(node.node)
