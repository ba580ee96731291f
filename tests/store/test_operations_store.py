"""The operations tables: schema equal to revision 0003, audit queries and notification channels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from kubecap.domain.audit import AuditEvent, AuditFilter, AuditResult
from kubecap.domain.notifications import Channel, EventKind
from kubecap.store import Store, normalise_url
from kubecap.store.schema import Base

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OPS_TABLES = {"tasks", "task_runs", "audit_events", "notification_channels"}


def test_revision_0003_creates_the_operations_tables_as_declared(database_url: str) -> None:
    engine = create_engine(normalise_url(database_url)[0])
    try:
        assert set(inspect(engine).get_table_names()) >= OPS_TABLES
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def event(minutes: int, **changes: object) -> AuditEvent:
    base: dict[str, object] = {
        "at": T0 + timedelta(minutes=minutes),
        "actor": "alice",
        "action": "scale",
        "target": "c/shop/Deployment/web",
        "result": AuditResult.OK,
        "cluster": "c",
        "before": {"replicas": 5},
        "after": {"replicas": 2},
    }
    base.update(changes)
    return AuditEvent(**base)  # type: ignore[arg-type]


async def test_audit_events_are_filtered_and_the_newest_kept(store: Store) -> None:
    await store.record_audit(event(0))
    await store.record_audit(
        event(1, actor="bob", action="restart", target="c/shop/Deployment/api", before=None)
    )
    await store.record_audit(event(2, result=AuditResult.FAILED, message="refused 100%_of it"))
    everything = await store.audit_events(AuditFilter())
    assert [e.at for e in everything] == [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    assert everything[0].before == {"replicas": 5} and everything[1].before is None
    assert [e.actor for e in await store.audit_events(AuditFilter(actor="bob"))] == ["bob"]
    assert len(await store.audit_events(AuditFilter(target="/web"))) == 2
    assert len(await store.audit_events(AuditFilter(target="%"))) == 0  # LIKE wildcards are escaped
    assert len(await store.audit_events(AuditFilter(result=AuditResult.FAILED))) == 1
    assert len(await store.audit_events(AuditFilter(since=T0 + timedelta(minutes=1)))) == 2
    assert len(await store.audit_events(AuditFilter(until=T0 + timedelta(minutes=1)))) == 1
    newest = await store.audit_events(AuditFilter(limit=2))
    assert [e.at.minute for e in newest] == [1, 2]


async def test_notification_channels_are_saved_replaced_and_deleted(store: Store) -> None:
    channel = Channel("team", ("json://127.0.0.1:1/x",), frozenset({"c"}), frozenset({EventKind.TASK_RESULT}))
    await store.save_notification_channel(channel, T0)
    await store.save_notification_channel(Channel("team", ("json://127.0.0.1:2/y",)), T0)
    assert await store.notification_channels() == [Channel("team", ("json://127.0.0.1:2/y",))]
    assert await store.delete_notification_channel("team") is True
    assert await store.delete_notification_channel("team") is False
    assert await store.notification_channels() == []
