"""The webhook's audit batches (``Store.record_audits``) bypass the ORM's bind processing (and on
SQLite files, SQLAlchemy altogether): rows written that way must be the rows the ORM would have
written, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, text

from kubecap.domain.audit import AuditEvent, AuditFilter, AuditResult
from kubecap.store import Store, control_repo, normalise_url
from kubecap.store.engine import async_engine
from kubecap.store.schema import AuditEventRow

T0 = datetime(2026, 11, 20, 12, 0, 0, 0, tzinfo=UTC)  # no microseconds: the text must still carry them
COLUMNS = 'at, actor, action, cluster, target, result, "before", "after", request_id, message'


def batch() -> list[AuditEvent]:
    return [
        AuditEvent(
            at=T0,
            actor="kubecap-webhook",
            action="webhook.mutate",
            cluster="prod",
            target="prod/shop/Deployment/web",
            result=AuditResult.OK,
            before={"replicas": 6, "app.limits.cpu": "1"},
            after={"replicas": 4, "app.limits.cpu": None},
            request_id="0b8c6a1e-5c0e-4f1c-9d55-8f2f3c7f1a00",
            message="UPDATE by alice: kubecap set replicas 6 -> 4",
        ),
        AuditEvent(
            # Another offset, microseconds: stored as UTC.
            at=datetime(2026, 11, 20, 13, 30, 1, 250, tzinfo=timezone(timedelta(hours=2))),
            actor="kubecap-webhook",
            action="webhook.reject",
            cluster="prod",
            target="prod/shop/StatefulSet/db",
            result=AuditResult.REJECTED,
            before=None,
            after=None,
            message="CREATE by zoë (dry run): namespace « shop » is locked",
        ),
        AuditEvent(
            at=T0 + timedelta(microseconds=999_999),
            actor="kubecap-webhook",
            action="webhook.error",
            target="prod/shop/Deployment/api",
            result=AuditResult.FAILED,
            before={"nested": {"list": [1, 2.5, "x"], "flag": True}},
            after={},
        ),
    ]


def raw_rows(sync_url: str) -> list[dict[str, Any]]:
    """The rows as the driver returns them, JSON parsed when it comes back as text (SQLite)."""
    engine = create_engine(sync_url)
    try:
        with engine.connect() as connection:
            found = connection.execute(text(f"SELECT {COLUMNS} FROM audit_events ORDER BY id"))
            rows = [dict(row._mapping) for row in found]
            nulls = connection.execute(
                text('SELECT "before" IS NULL, "after" IS NULL FROM audit_events ORDER BY id')
            ).all()
    finally:
        engine.dispose()
    for row, (before_null, after_null) in zip(rows, nulls, strict=True):
        row["sql_null"] = (bool(before_null), bool(after_null))
        for key in ("before", "after"):
            if isinstance(row[key], str):
                row[key] = json.loads(row[key])
    return rows


def orm_write(sync_url: str, events: list[AuditEvent]) -> None:
    """What record_audits did before its fast path: the ORM's executemany insert."""
    engine = create_engine(sync_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                insert(AuditEventRow),
                [
                    {
                        "at": e.at,
                        "actor": e.actor,
                        "action": e.action,
                        "cluster": e.cluster,
                        "target": e.target,
                        "result": e.result.value,
                        "before": e.before,
                        "after": e.after,
                        "request_id": e.request_id,
                        "message": e.message,
                    }
                    for e in events
                ],
            )
    finally:
        engine.dispose()


def clear(sync_url: str) -> None:
    engine = create_engine(sync_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM audit_events"))
    finally:
        engine.dispose()


async def test_a_batch_reads_back_as_the_orm_would_have_written_it(database_url: str) -> None:
    sync_url = normalise_url(database_url)[0]
    events = batch()
    orm_write(sync_url, events)
    expected = raw_rows(sync_url)
    async with await Store.open(database_url) as store:
        clear(sync_url)
        assert await store.record_audits(events) == 3
        assert raw_rows(sync_url) == expected
        if database_url.startswith("sqlite"):
            # SQLite files: written by the plain sqlite3 appender (store/sqlite_audit.py) on this thread.
            assert store._audits is not None and store._audits.fast_batches == 1
        read = await store.audit_events(AuditFilter(since=T0 - timedelta(days=1)))
    # The reader sees the events as given, timestamps in UTC.
    assert sorted((e.at, e.action) for e in read) == sorted((e.at.astimezone(UTC), e.action) for e in events)
    by_action = {e.action: e for e in read}
    for given in events:
        got = by_action[given.action]
        assert got.at.tzinfo is not None
        assert (got.before, got.after, got.message, got.request_id, got.cluster, got.result) == (
            given.before,
            given.after,
            given.message,
            given.request_id,
            given.cluster,
            given.result,
        )


async def test_the_engine_path_writes_what_the_orm_would_have_written(database_url: str) -> None:
    """The engine's own path (PostgreSQL, and SQLite "file:" URIs that the appender leaves alone)."""
    sync_url, async_url = normalise_url(database_url)
    events = batch()
    orm_write(sync_url, events)
    expected = raw_rows(sync_url)
    clear(sync_url)
    engine = async_engine(async_url)
    try:
        async with engine.begin() as connection:
            await control_repo.record_audits(connection, events)
    finally:
        await engine.dispose()
    assert raw_rows(sync_url) == expected


async def test_a_naive_timestamp_is_refused_as_the_orm_refuses_it(database_url: str) -> None:
    naive = AuditEvent(
        at=datetime(2026, 11, 20, 12, 0), actor="a", action="b", target="c", result=AuditResult.OK
    )
    async with await Store.open(database_url) as store:
        with pytest.raises(Exception, match="naive datetime"):
            await store.record_audits([naive])
        assert await store.audit_events(AuditFilter()) == []


@pytest.mark.parametrize("count", [1100, 128])  # SQLite: statements of 500, 100, 20, 5 and 1 rows
async def test_a_batch_longer_than_one_statement_is_written_whole_and_in_order(
    database_url: str, count: int
) -> None:
    events = [
        AuditEvent(
            at=T0 + timedelta(seconds=i),
            actor="kubecap-webhook",
            action="webhook.mutate",
            target=f"prod/shop/Deployment/web-{i}",
            result=AuditResult.OK,
            after={"replicas": i},
            request_id=f"uid-{i}",
        )
        for i in range(count)
    ]
    async with await Store.open(database_url) as store:
        assert await store.record_audits(events) == count
        read = await store.audit_events(AuditFilter(limit=2000))
    ids = [e.id or 0 for e in read]
    assert ids == sorted(ids) and 0 not in ids  # written in order
    assert [(e.request_id, e.after, e.at) for e in read] == [(e.request_id, e.after, e.at) for e in events]
